"""The per-worker training loop of one trial: data → model → optimiser → epochs → evaluation.

``train_loop_per_worker`` is what Ray Train runs on every worker; ``run_trial`` is the same
loop with the runtime passed in, so it also runs in a plain process. Read it top to bottom:
every figure a study asks for is measured here, and training time covers the training
steps only (GPU-synchronised), never evaluation, checkpointing or worker start-up.
"""

from __future__ import annotations

import logging
import math
import os
import time
from typing import Any

import torch

from benchmark.data import get_dataset, make_loader
from benchmark.models import count_parameters, create_model, macs_per_image, measure_inference
from benchmark.train.collectives import gather_arrays, max_across_ranks, ranks_hold_same_weights
from benchmark.train.config import TrialConfig
from benchmark.train.hardware import (
    device_name,
    memory_limit,
    peak_memory_mb,
    reset_peak_memory,
    synchronize,
)
from benchmark.train.metrics import classification_report, time_to_targets
from benchmark.train.optim import LearningRateSchedule, build_optimizer
from benchmark.train.reproducibility import capture_rng, restore_rng, seed_everything
from benchmark.train.runtime import LocalRuntime, RayTrainRuntime, WorkerRuntime
from benchmark.train.speed import SpeedOptions
from benchmark.train.steps import (
    evaluate,
    evaluate_with_predictions,
    reduce_totals,
    train_one_epoch,
)
from benchmark.train.stopping import DivergenceMonitor, EarlyStopping

log = logging.getLogger(__name__)

STATUS_COMPLETED = "completed"
STATUS_DIVERGED = "diverged"


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """The function a trial's Ray Train job runs on each worker."""
    run_trial(config, RayTrainRuntime())


def run_locally(config: dict[str, Any], device: str = "cpu") -> LocalRuntime:
    """Run one trial in this process (no Ray); the returned runtime holds every report."""
    runtime = LocalRuntime(device=torch.device(device))
    run_trial(config, runtime)
    return runtime


def run_trial(config_values: dict[str, Any], runtime: WorkerRuntime) -> dict[str, Any]:
    """Train and evaluate one model; returns the final metrics it reported."""
    wall_start = time.perf_counter()
    config = TrialConfig.from_dict(config_values)
    with memory_limit(config.memory_limit_mb):
        return _train_and_evaluate(config, runtime, wall_start)


def _train_and_evaluate(
    config: TrialConfig, runtime: WorkerRuntime, wall_start: float
) -> dict[str, Any]:
    device = runtime.device
    speed = SpeedOptions.resolve(config, device)
    seed_everything(config.seed)
    reset_peak_memory(device)

    # Data: decoded once, batched (and augmented) as tensors on the training device.
    bundle = get_dataset(
        config.dataset,
        config.data_dir,
        offline=config.offline,
        val_fraction=config.val_fraction,
        split_seed=config.split_seed,
        **config.dataset_options,
    )
    if config.sample_limit is not None:
        bundle = bundle.limited(config.sample_limit, seed=config.split_seed)
    loader_options = {"rank": runtime.rank, "world_size": runtime.world_size, "device": device}
    train_loader = make_loader(
        bundle, "train", batch_size=config.batch_size, augment=config.augment,
        shuffle=True, seed=config.seed, **loader_options,
    )  # fmt: skip
    val_loader = make_loader(
        bundle, "val", batch_size=config.inference_batch_size, augment=None, shuffle=False,
        **loader_options,
    )  # fmt: skip
    test_loader = make_loader(
        bundle, "test", batch_size=config.inference_batch_size, augment=None, shuffle=False,
        **loader_options,
    )  # fmt: skip

    # Model: built and profiled on the CPU, then moved (and wrapped for DDP) once.
    model = create_model(
        config.architecture,
        num_classes=bundle.num_classes,
        in_channels=bundle.input_shape[0],
        image_size=tuple(bundle.input_shape[1:]),
        **config.model,
    )
    params_total, params_trainable = count_parameters(model)
    macs = macs_per_image(model, bundle.input_shape)
    model = model.to(device, memory_format=speed.memory_format)

    # What prediction needs to rebuild the model and feed it new images the way the test
    # images were fed (``benchmark.predict``), without the dataset: in every checkpoint.
    model_card = {
        "architecture": config.architecture,
        "model_hparams": dict(config.model),
        "dataset": config.dataset,
        "input_shape": list(bundle.input_shape),
        "class_names": list(bundle.class_names),
        "mean": list(bundle.mean),
        "std": list(bundle.std),
    }

    optimizer = build_optimizer(model, config)
    schedule = LearningRateSchedule(optimizer, config, steps_per_epoch=len(train_loader))
    scaler = speed.grad_scaler()
    early_stopping = EarlyStopping(config.early_stopping)
    divergence = DivergenceMonitor(config.divergence, bundle.num_classes)
    history: list[dict[str, Any]] = []
    start_epoch = 1

    restored = runtime.restored_state()
    if restored is not None:
        model.load_state_dict(restored["model"])
        optimizer.load_state_dict(restored["optimizer"])
        schedule.load_state_dict(restored["schedule"])
        scaler.load_state_dict(restored["scaler"])
        early_stopping.load_state_dict(restored["early_stopping"])
        divergence.load_state_dict(restored["divergence"])
        history = list(restored["history"])
        restore_rng(restored["rng"])
        start_epoch = restored["epoch"] + 1
    trained_model = runtime.prepare_model(model)
    if speed.compile:
        trained_model = torch.compile(trained_model)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    status, stop_reason = STATUS_COMPLETED, None
    last_checkpoint = wall_start  # epoch checkpoints: see ``checkpoint_interval_s``
    for epoch in range(start_epoch, config.epochs + 1):
        if (
            restored is None
            and config.crash_at_epoch == epoch
            and runtime.rank == config.crash_rank
        ):
            # Test-only fault injection: the worker process dies mid-trial, after Ray Train
            # has registered the previous epoch's checkpoint (reports are collected
            # asynchronously, and one still in flight would die with the process).
            runtime.flush_reports()
            os._exit(1)
        train_loader.set_epoch(epoch)
        lr = schedule.current_lr

        synchronize(device)
        epoch_start = time.perf_counter()
        train = train_one_epoch(
            trained_model, train_loader, optimizer, schedule, scaler, loss_fn, speed, config
        )
        synchronize(device)
        epoch_time_s = max_across_ranks(time.perf_counter() - epoch_start, device)

        synchronize(device)
        val_start = time.perf_counter()
        val = evaluate(trained_model, val_loader, loss_fn, speed)
        synchronize(device)
        val_time_s = max_across_ranks(time.perf_counter() - val_start, device)
        train, val = (reduce_totals(totals, device) for totals in (train, val))
        cum_train_time_s = (history[-1]["cum_train_time_s"] if history else 0.0) + epoch_time_s
        record = {
            "epoch": epoch,
            "train_loss": train.loss,
            "train_accuracy": train.accuracy,
            "val_loss": val.loss,
            "val_accuracy": val.accuracy,
            "lr": lr,
            "epoch_time_s": epoch_time_s,
            "cum_train_time_s": cum_train_time_s,
            "samples_per_s": train.count / epoch_time_s if epoch_time_s > 0 else math.nan,
            "train_samples": train.count,
            "val_time_s": val_time_s,
        }
        history.append(record)

        monitored = record[
            config.early_stopping.metric if config.early_stopping else "val_accuracy"
        ]
        schedule.after_epoch(monitored, early_stopping.mode)
        improved_before = early_stopping.best_epoch
        should_stop = early_stopping.update(epoch, monitored, model)
        divergence_reason = divergence.check(train.loss, val.accuracy)
        is_best = early_stopping.best_epoch == epoch and improved_before != epoch
        last_epoch = epoch == config.epochs or should_stop or divergence_reason is not None
        wants_checkpoint = (
            config.checkpoint_every
            and (epoch % config.checkpoint_every == 0 or is_best or last_epoch)
            and time.perf_counter() - last_checkpoint >= config.checkpoint_interval_s
        )
        state = None
        if wants_checkpoint and runtime.rank == 0:
            state = {
                **model_card,
                "epoch": epoch,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(),
                "scaler": scaler.state_dict(),
                "early_stopping": early_stopping.state_dict(),
                "divergence": divergence.state_dict(),
                "history": history,
                "rng": capture_rng(),
            }
        runtime.report({**record, "is_final": False}, state)
        if wants_checkpoint:
            last_checkpoint = time.perf_counter()

        if divergence_reason is not None:
            status, stop_reason = STATUS_DIVERGED, divergence_reason
            break
        if should_stop:
            stop_reason = (
                f"early stopping at epoch {epoch}: {early_stopping.config.metric} did not "
                f"improve for {early_stopping.config.patience} epochs "
                f"(best epoch {early_stopping.best_epoch})"
            )
            break

    # Final evaluation on the best weights (when early stopping asks for them).
    if (
        config.early_stopping is not None
        and config.early_stopping.restore_best
        and early_stopping.best_state is not None
    ):
        model.load_state_dict(early_stopping.best_state)
    selected_epoch = (
        early_stopping.best_epoch
        if config.early_stopping is not None and config.early_stopping.restore_best
        else history[-1]["epoch"]
    )
    selected = next(r for r in history if r["epoch"] == selected_epoch)

    synchronize(device)
    eval_start = time.perf_counter()
    test, labels, predictions = evaluate_with_predictions(
        trained_model, test_loader, loss_fn, speed
    )
    test = reduce_totals(test, device)
    labels, predictions = gather_arrays(labels), gather_arrays(predictions)
    synchronize(device)
    test_eval_time_s = max_across_ranks(time.perf_counter() - eval_start, device)
    report = classification_report(labels, predictions, bundle.class_names)

    # Latency: one image at a time on this device. Throughput: the test pass above, all
    # ranks together (the data path included, as a user would see it).
    latency_ms = math.nan
    if config.measure_inference and runtime.rank == 0:
        latency_ms, _ = measure_inference(
            model, bundle.input_shape, device, batch_size_throughput=1, warmup=3, iters=10
        )
    throughput = test.count / test_eval_time_s if test_eval_time_s > 0 else math.nan
    eval_time_s = sum(r["val_time_s"] for r in history) + test_eval_time_s

    cum_train_time_s = history[-1]["cum_train_time_s"]
    train_val_gap = selected["train_accuracy"] - selected["val_accuracy"]
    final = {
        "is_final": True,
        "status": status,
        "stop_reason": stop_reason,
        "epoch": history[-1]["epoch"],
        "epochs_completed": len(history),
        "resumed_from_epoch": restored["epoch"] if restored is not None else None,
        "best_epoch": early_stopping.best_epoch,
        "best_val_accuracy": max(r["val_accuracy"] for r in history),
        "final_val_accuracy": history[-1]["val_accuracy"],
        "test_loss": test.loss,
        "test_accuracy": test.accuracy,
        "test_samples": test.count,
        "precision_macro": report.precision_macro,
        "recall_macro": report.recall_macro,
        "f1_macro": report.f1_macro,
        "precision_weighted": report.precision_weighted,
        "recall_weighted": report.recall_weighted,
        "f1_weighted": report.f1_weighted,
        "class_report": report.to_dict(),
        "train_val_gap": train_val_gap,
        "overfitting": train_val_gap > config.overfit_gap,
        "time_to_target_s": time_to_targets(
            [r["val_accuracy"] for r in history],
            [r["cum_train_time_s"] for r in history],
            config.targets,
        ),
        "train_time_s": cum_train_time_s,
        "eval_time_s": eval_time_s,
        "test_eval_time_s": test_eval_time_s,
        "wall_time_s": time.perf_counter() - wall_start,
        "params_total": params_total,
        "params_trainable": params_trainable,
        "macs_per_image": macs,
        "inference_latency_ms": latency_ms,
        "inference_throughput": throughput,
        "peak_memory_mb": peak_memory_mb(device),
        "device": device_name(device, runtime.gpu_share),
        "node_id": runtime.node_id,
        "num_workers": runtime.world_size,
        "ranks_in_sync": ranks_hold_same_weights(model, device),
        "class_names": list(bundle.class_names),
        "history": history,
    }
    final_state = None
    if runtime.rank == 0:
        final_state = {
            **model_card,
            "epoch": history[-1]["epoch"],
            # ``model`` holds the weights the test figures were measured on (those of
            # ``model_epoch``); when they are not the best validation epoch's, the best
            # ones travel too, so that the final checkpoint alone serves prediction.
            "model": model.state_dict(),
            "model_epoch": selected_epoch,
            "best_epoch": early_stopping.best_epoch,
            "history": history,
            "final": True,
        }
        if selected_epoch != early_stopping.best_epoch and early_stopping.best_state:
            final_state["best_model"] = early_stopping.best_state
    runtime.report(final, final_state)
    return final
