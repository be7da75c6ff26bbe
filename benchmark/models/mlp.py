"""Dense baselines (S5): flatten the image, hidden dense layers with ReLU, dense classes.

``mlp`` takes its hidden layer sizes as a hyperparameter; the three baselines of S5 are
registered under their own names with the sizes pinned, so that a sweep over
``mlp_256_128``, ``mlp_128_64`` and ``mlp_512_256_128`` compares three architectures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from benchmark.models import hparams
from benchmark.models.registry import register_model

if TYPE_CHECKING:
    from benchmark.models.classifier import ImageClassifier


@register_model
def mlp(
    num_classes: int,
    in_channels: int,
    image_size: tuple[int, int],
    *,
    hidden_sizes: Sequence[int] = (256, 128),
    dropout: float = 0.0,
) -> ImageClassifier:
    """Dense baseline: flatten, dense layers of ``hidden_sizes`` (each ReLU), dense classes.

    The whole network is head: there is no feature extractor to freeze.
    """
    from torch import nn  # when built, not when registered (see ``registry``)

    from benchmark.models.classifier import ImageClassifier
    from benchmark.models.layers import dense_head

    height, width = image_size
    head = dense_head(
        in_channels * height * width,
        hparams.integers("hidden_sizes", hidden_sizes),
        num_classes,
        dropout=hparams.probability("dropout", dropout),
    )
    return ImageClassifier(nn.Identity(), head)


for _sizes in ((256, 128), (128, 64), (512, 256, 128)):
    _label = "-".join(map(str, _sizes))
    register_model(
        mlp,
        name="mlp_" + "_".join(map(str, _sizes)),
        fixed={"hidden_sizes": _sizes},
        description=f"S5 dense baseline: flatten, dense {_label} (each ReLU), dense classes",
    )
