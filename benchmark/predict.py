"""Top-k predictions of a trained trial on new image files (study S2's last step).

Every checkpoint a trial writes carries a model card next to its weights (architecture,
hyperparameters, input shape, class names, normalisation; see ``benchmark.train.loop``), so
predicting needs no dataset files. A checkpoint is named by path or as
``SWEEP_ID:TRIAL_ID`` (``find_checkpoint``); either way the weights used are those of the
trial's best validation epoch (``load_trained_model``). Each image is converted the way the
file-backed test splits convert theirs: ``decode_image`` turns any colour mode into the
trained channel count and resizes bilinearly to the trained size, ``to_model_input``
normalises with the training statistics, and the model scores it in eval mode.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from benchmark.data.decode import decode_image
from benchmark.data.transforms import to_model_input
from benchmark.errors import CheckpointError, DatasetError, ImageInputError
from benchmark.models import WeightsChoice, create_model
from benchmark.models.weights import structure_only
from benchmark.sweep.store import SweepDirectory
from benchmark.train.checkpoints import CHECKPOINT_PREFIX, STATE_FILE

#: What a folder of images is searched for (torchvision's ``IMG_EXTENSIONS``, as the
#: class-folder datasets list them; copied because importing torchvision costs seconds).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
#: Keys of the model card every checkpoint needs for prediction.
MODEL_CARD_KEYS = ("architecture", "model_hparams", "input_shape", "class_names", "mean", "std")
#: Ray Train names a run's checkpoint folders ``checkpoint_<timestamp>``.
CHECKPOINT_GLOB = f"{CHECKPOINT_PREFIX}*/{STATE_FILE}"


@dataclass(frozen=True)
class TrainedModel:
    """A trial's model rebuilt in eval mode, with what its inputs must look like."""

    model: nn.Module
    architecture: str
    dataset: str | None
    class_names: list[str]
    #: (C, H, W) the model was trained on; every image is converted to it.
    input_shape: tuple[int, int, int]
    #: Per-channel normalisation on the 0..1 scale, the training data's.
    mean: tuple[float, ...]
    std: tuple[float, ...]
    #: The epoch whose weights these are (the best validation epoch), when recorded.
    epoch: int | None
    checkpoint: Path
    device: torch.device


@dataclass(frozen=True)
class ClassProbability:
    rank: int
    class_index: int
    class_name: str
    probability: float


@dataclass(frozen=True)
class ImagePrediction:
    """The ``top_k`` most probable classes of one image, most probable first."""

    image: Path
    top: tuple[ClassProbability, ...]


def find_checkpoint(reference: str, results_dir: str | Path = "results") -> Path:
    """The state file of the checkpoint ``reference`` names.

    ``reference`` is an existing path (a checkpoint folder, its ``state.pt``, or a trial's
    Ray Train run folder holding ``checkpoint_*`` folders) or ``SWEEP_ID:TRIAL_ID`` of a
    sweep under ``results_dir``. Of several checkpoints of one trial, the final one is
    taken (it holds the best weights), else the newest. Raises ``SweepNotFoundError`` or
    ``CheckpointError`` naming what is missing and how to name it instead.
    """
    path = Path(reference).expanduser()
    if path.exists():
        return _state_file_under(path)
    sweep_id, colon, trial_id = reference.partition(":")
    if colon and sweep_id and trial_id and "/" not in reference:
        return trial_checkpoint(Path(results_dir), sweep_id, trial_id)
    raise CheckpointError(
        f"no checkpoint at {reference}: pass a checkpoint folder (one holding {STATE_FILE}) "
        f"or SWEEP_ID:TRIAL_ID of a sweep under {results_dir}/"
    )


def trial_checkpoint(results_dir: Path, sweep_id: str, trial_id: str) -> Path:
    """The state file of trial ``trial_id``'s final (else newest) checkpoint in a sweep."""
    directory = SweepDirectory.find(results_dir, sweep_id)
    folder = directory.checkpoint_dir(trial_id)
    files = sorted(folder.glob(CHECKPOINT_GLOB))
    if not files:  # sweeps of earlier releases kept lane and inline trials' ones in Tune's
        files = sorted(directory.tune_dir.glob(f"*{trial_id}*/{CHECKPOINT_GLOB}"))
    record = directory.read_record(trial_id)
    if not files and record is not None:
        # Results moved from elsewhere keep Tune's path of the last checkpoint.
        recorded = (record.get("metrics") or {}).get("checkpoint_path")
        if recorded and (Path(recorded) / STATE_FILE).is_file():
            files = [Path(recorded) / STATE_FILE]
    if files:
        return _trial_state_file(files)
    if record is None and not folder.exists():
        known = sorted(p.stem for p in directory.trials_dir.glob("*.json"))
        listed = ", ".join(known[:8]) + (" …" if len(known) > 8 else "") if known else "none"
        raise CheckpointError(
            f"sweep {sweep_id} has no trial '{trial_id}' (its trials: {listed}); "
            f"`bench report {sweep_id} --all` lists them"
        )
    raise CheckpointError(
        f"trial {trial_id} of sweep {sweep_id} left no checkpoint under "
        f"{folder}/ (it failed or was stopped early before its first checkpoint: see "
        "checkpoint_every and checkpoint_interval_s); pick another trial"
    )


def _state_file_under(path: Path) -> Path:
    if path.is_file():
        return path
    if (path / STATE_FILE).is_file():
        return path / STATE_FILE
    files = sorted(path.glob(CHECKPOINT_GLOB))
    if files:
        return _trial_state_file(files)
    raise CheckpointError(
        f"{path}/ holds no checkpoint ({STATE_FILE} or {CHECKPOINT_GLOB}); pass a trial's "
        "checkpoint folder, or SWEEP_ID:TRIAL_ID"
    )


def _trial_state_file(files: Sequence[Path]) -> Path:
    """Of one trial's checkpoints, the final one, else the one of the latest epoch."""
    # Memory-mapped: only the few plain values read here leave the disk.
    headers = [(file, read_state(file, mmap=True)) for file in files]
    finals = [file for file, state in headers if state.get("final")]
    if finals:
        return finals[-1]  # folder names sort by time: the newest
    return max(headers, key=lambda header: header[1].get("epoch", 0))[0]


def read_state(file: Path, mmap: bool = False) -> dict[str, Any]:
    """A checkpoint's state, tensors and plain data only (``weights_only``: never code)."""
    try:
        state = torch.load(file, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as error:  # torch raises many types for a file that is not its own
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise CheckpointError(
            f"cannot read checkpoint {file}: {type(error).__name__}: {reason[:200]}; "
            "pass a state.pt written by a trial"
        ) from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{file} is not a trial checkpoint (no state dictionary)")
    return state


def best_weights(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], int | None]:
    """The weights of the best validation epoch a checkpoint holds, and that epoch.

    A final checkpoint holds them as ``best_model`` when the evaluated weights (``model``)
    are another epoch's; an epoch checkpoint holds them in its early-stopping state.
    """
    if "best_model" in state:
        return state["best_model"], state.get("best_epoch")
    if state.get("final"):
        return state["model"], state.get("model_epoch", state.get("epoch"))
    tracker = state.get("early_stopping") or {}
    if tracker.get("best_state"):
        return tracker["best_state"], tracker.get("best_epoch")
    return state["model"], state.get("epoch")


def load_trained_model(state_file: Path, device: str | torch.device = "cpu") -> TrainedModel:
    """Rebuild the checkpoint's model with its best weights, in eval mode on ``device``."""
    state = read_state(state_file)
    missing = [key for key in (*MODEL_CARD_KEYS, "model") if key not in state]
    if missing:
        raise CheckpointError(
            f"{state_file} lacks {', '.join(missing)} (written before checkpoints carried a "
            "model card); train the trial again to predict with it"
        )
    channels, height, width = (int(v) for v in state["input_shape"])
    class_names = [str(name) for name in state["class_names"]]
    with structure_only():
        model = create_model(
            state["architecture"],
            num_classes=len(class_names),
            in_channels=channels,
            image_size=(height, width),
            **_rebuild_hparams(state["model_hparams"]),
        )
    weights, epoch = best_weights(state)
    try:
        model.load_state_dict(weights)
    except RuntimeError as error:
        raise CheckpointError(
            f"{state_file}: the weights do not fit {state['architecture']} as its model card "
            f"describes it ({str(error).strip().splitlines()[0]})"
        ) from None
    device = torch.device(device)
    return TrainedModel(
        model=model.to(device).eval(),
        architecture=state["architecture"],
        dataset=state.get("dataset"),
        class_names=class_names,
        input_shape=(channels, height, width),
        mean=tuple(float(v) for v in state["mean"]),
        std=tuple(float(v) for v in state["std"]),
        epoch=epoch,
        checkpoint=state_file,
        device=device,
    )


def _rebuild_hparams(hparams: dict[str, Any]) -> dict[str, Any]:
    """The trial's hyperparameters, minus a weights file: the checkpoint replaces its values.

    ImageNet weights are kept: they may shape the network (GoogLeNet's input transform);
    the model is built with ``structure_only`` so the ImageNet file is not read.
    """
    rebuilt = dict(hparams)
    if WeightsChoice.parse(rebuilt.get("weights")).kind == "file":
        rebuilt["weights"] = "none"
    return rebuilt


def image_files(paths: Iterable[str | Path]) -> list[Path]:
    """Every image named: files as given, folders searched recursively (sorted by path)."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
            )
            if not found:
                raise ImageInputError(
                    f"{path}/ holds no images ({', '.join(IMAGE_EXTENSIONS)}); pass a folder "
                    "of images or the image files themselves"
                )
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise ImageInputError(f"no image file or folder at {path}; check the path")
    return files


def load_images(files: Sequence[Path], input_shape: tuple[int, int, int]) -> torch.Tensor:
    """The images as one uint8 (N, C, H, W) batch, converted as the trial's test images."""
    images = []
    for file in files:
        try:
            images.append(decode_image(str(file), input_shape))
        except DatasetError as error:
            raise ImageInputError(
                f"{error}; pass image files PIL can open (PNG, JPEG, BMP, TIFF, WebP …)"
            ) from None
    return torch.stack(images)


@torch.no_grad()
def predict_images(
    trained: TrainedModel, files: Sequence[Path], top_k: int = 3, batch_size: int = 64
) -> list[ImagePrediction]:
    """The ``top_k`` classes (at most all of them) with softmax probabilities, per image.

    Every file is decoded before any is scored, so an unreadable one fails the whole call
    (``ImageInputError``) before anything is printed.
    """
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1; got {top_k}")
    images = load_images(files, trained.input_shape)
    k = min(top_k, len(trained.class_names))
    predictions: list[ImagePrediction] = []
    for start in range(0, len(files), batch_size):
        batch = to_model_input(images[start : start + batch_size].to(trained.device),
                               trained.mean, trained.std)  # fmt: skip
        probabilities = torch.softmax(trained.model(batch).float(), dim=1)
        top = torch.topk(probabilities, k, dim=1)
        for offset, (values, indices) in enumerate(zip(top.values, top.indices, strict=True)):
            ranked = tuple(
                ClassProbability(rank, int(index), trained.class_names[int(index)], float(value))
                for rank, (value, index) in enumerate(zip(values, indices, strict=True), start=1)
            )
            predictions.append(ImagePrediction(files[start + offset], ranked))
    return predictions
