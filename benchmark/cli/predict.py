"""`bench predict`: a trained trial's top-k classes for new images (study S2's last step)."""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import asdict

import click

from benchmark.cli.options import results_dir_option

CSV_COLUMNS = ("image", "rank", "class_index", "class_name", "probability")


@click.command()
@click.argument("checkpoint", metavar="CHECKPOINT")
@click.argument("images", nargs=-1, required=True, metavar="IMAGE|DIR...")
@click.option(
    "--top-k",
    default=3,
    show_default=True,
    type=click.IntRange(min=1),
    help="Classes listed per image, most probable first (at most all of them).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="table: the terminal; json or csv: stdout, for other programs.",
)
@results_dir_option("SWEEP_ID:TRIAL_ID is looked up under RESULTS_DIR/<sweep-name>/<sweep-id>/.")
@click.option("--device", default="cpu", show_default=True, help="Torch device, e.g. cuda:0.")
def predict(checkpoint, images, top_k, output_format, results_dir, device) -> None:
    """Print a trained trial's TOP_K classes, with probabilities, for each image.

    CHECKPOINT is SWEEP_ID:TRIAL_ID, a trial of a sweep under --results-dir (e.g.
    20261123-101500-3f2a:87384335; `bench report SWEEP_ID --all` lists trial ids), or a
    path: a checkpoint folder (holding state.pt), its state.pt, or a trial's run folder
    (RESULTS_DIR/<sweep>/<id>/train/<trial>/ or a `bench train` run: its final checkpoint).
    The weights of the trial's best validation epoch are used.

    Each IMAGE is an image file; each DIR is searched recursively for .png, .jpg and the
    other formats torchvision's ImageFolder reads. Images of any size and colour mode are
    converted as the trial's test images were: to its channel count, resized to its input
    size, normalised with its training statistics. No dataset files are needed.
    """
    from benchmark.predict import find_checkpoint, image_files, load_trained_model, predict_images

    files = image_files(images)
    trained = load_trained_model(find_checkpoint(checkpoint, results_dir), device=device)
    predictions = predict_images(trained, files, top_k=top_k)
    if output_format == "json":
        click.echo(json.dumps(_as_json(trained, predictions), indent=2))
    elif output_format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for prediction in predictions:
            for ranked in prediction.top:
                writer.writerow([prediction.image, ranked.rank, ranked.class_index,
                                 ranked.class_name, f"{ranked.probability:.6f}"])  # fmt: skip
    else:
        _print_table(trained, predictions)


def _as_json(trained, predictions) -> dict:
    return {
        "checkpoint": str(trained.checkpoint),
        "architecture": trained.architecture,
        "dataset": trained.dataset,
        "epoch": trained.epoch,
        "predictions": [
            {
                "image": str(prediction.image),
                "top": [asdict(ranked) for ranked in prediction.top],
            }
            for prediction in predictions
        ],
    }


def _print_table(trained, predictions) -> None:
    from rich.console import Console
    from rich.table import Table

    epoch = f", weights of epoch {trained.epoch}" if trained.epoch is not None else ""
    table = Table(title=f"{trained.architecture} on {trained.dataset}{epoch}")
    table.add_column("image")
    table.add_column("rank", justify="right")
    table.add_column("class")
    table.add_column("probability", justify="right")
    for prediction in predictions:
        for ranked in prediction.top:
            image = str(prediction.image) if ranked.rank == 1 else ""
            table.add_row(image, str(ranked.rank), ranked.class_name, f"{ranked.probability:.3f}")
        table.add_section()
    # Piped or captured output has no width of its own: keep rows on one line.
    console = Console(width=None if sys.stdout.isatty() else 200)
    console.print(table)
    console.print(f"checkpoint: {trained.checkpoint}", soft_wrap=True, highlight=False)
