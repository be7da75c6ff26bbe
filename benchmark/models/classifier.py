"""The shape every zoo model shares, input adapter → features → head, and freezing.

Giving every architecture the same three parts lets freezing, weight loading and summaries
treat a hand-written CNN and a torchvision ResNet alike:

- ``adapter``: what makes the input fit a pretrained network (a learned 1×1 convolution from
  the dataset's channels to 3, an in-model resize); ``nn.Identity`` when nothing is needed.
- ``features``: the part a pretrained network brings (for torchvision models, everything
  but the replaced last layer), or for a hand-written CNN its convolution stages.
- ``head``: the part trained from scratch for this dataset: the replaced last layer, or the
  flatten-and-dense layers of a hand-written network.

``last_stage`` names the modules ``freeze='all_but_last_stage'`` leaves trainable (ResNet's
``layer4``, a CNN's last convolution stage).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from benchmark.errors import ModelConfigError
from benchmark.models import hparams
from benchmark.models.registry import FREEZE_MODES


class ImageClassifier(nn.Module):
    """``head(features(adapter(images)))``: images (N, C, H, W) in, logits (N, classes) out."""

    def __init__(
        self,
        features: nn.Module,
        head: nn.Module,
        *,
        adapter: nn.Module | None = None,
        last_stage: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self.adapter = adapter if adapter is not None else nn.Identity()
        self.features = features
        self.head = head
        # Names, not modules: a module stored twice would appear twice in the state dict.
        self.last_stage = tuple(last_stage)
        for module_name in self.last_stage:
            self.get_submodule(module_name)  # fails now, not when someone freezes

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(self.adapter(images)))

    def train(self, mode: bool = True) -> ImageClassifier:
        """As ``nn.Module.train``, except that frozen batch-norm layers stay in eval mode.

        Frozen means frozen: a batch norm whose scale and shift are frozen keeps its running
        statistics too (Keras does the same for ``trainable=False``); otherwise the first
        epoch would shift the pretrained features under a head that cannot follow.
        """
        super().train(mode)
        if mode:
            for module in self.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm) and _is_frozen(module):
                    module.eval()
        return self


def _is_frozen(module: nn.Module) -> bool:
    own = list(module.parameters(recurse=False))
    return bool(own) and not any(parameter.requires_grad for parameter in own)


def freeze_parameters(model: nn.Module, freeze: str) -> None:
    """Stop gradients to the pretrained part of ``model`` according to ``freeze``.

    ``none`` trains everything; ``backbone`` trains only the adapter and the head;
    ``all_but_last_stage`` also trains the modules named by ``model.last_stage``. The adapter
    and the head are always trainable: they are new for this dataset. A mode that would
    freeze nothing (an MLP has no features to freeze) is a ``ModelConfigError``, since the
    user asked for something the architecture cannot do.
    """
    freeze = hparams.choice("freeze", freeze, FREEZE_MODES)
    if freeze == "none":
        return
    if not isinstance(model, ImageClassifier):
        raise ModelConfigError(f"freeze={freeze!r} needs an ImageClassifier")
    if freeze == "all_but_last_stage" and not model.last_stage:
        raise ModelConfigError(
            "hyperparameter 'freeze' cannot be all_but_last_stage: this architecture has no "
            "stages; use none or backbone"
        )
    model.requires_grad_(True)
    model.features.requires_grad_(False)
    if freeze == "all_but_last_stage":
        for module_name in model.last_stage:
            model.get_submodule(module_name).requires_grad_(True)
    if all(parameter.requires_grad for parameter in model.parameters()):
        raise ModelConfigError(
            f"hyperparameter 'freeze'={freeze!r} would freeze nothing: this architecture has "
            f"no feature extractor; use none"
        )
    model.train(model.training)  # put frozen batch norms in eval mode now
