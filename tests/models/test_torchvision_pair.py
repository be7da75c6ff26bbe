"""The installed torchvision is the build matched to the installed torch.

A mismatched pair imports without complaint and fails at the first compiled operator
("operator torchvision::nms does not exist"), which the zoo's backbones would then hit in
the middle of a sweep. ``torchvision.ops.nms`` is that operator.
"""

from __future__ import annotations

import torch
import torchvision


def test_torchvision_compiled_operators_run_with_this_torch():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [20.0, 20.0, 30.0, 30.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    # Boxes 0 and 1 overlap with IoU 81/119 ≈ 0.68 > 0.5: the lower-scored one is suppressed.
    assert torchvision.ops.nms(boxes, scores, iou_threshold=0.5).tolist() == [0, 2]
