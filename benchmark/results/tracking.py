"""MLflow logging of a sweep: one parent run per sweep, one nested run per trial.

The Parquet tables are the platform's record; MLflow is the browsable view of the same
facts (params, per-epoch curves, confusion matrices, checkpoints). Both name a trial's
hyperparameters the same way: the MLflow params are the ``hp_`` columns of
``trials.parquet`` without their prefix. Runs are found again by their ``sweep_id`` and
``trial_id`` tags, so a resumed sweep logs into its old parent and a trial recorded twice
keeps one run.

With no tracking URI the store is a SQLite file under the results directory
(``<results>/mlflow.db``, artifacts in ``<results>/mlartifacts/``), which ``bench ui``
serves. A tracking server is checked before the first trial starts: a typo in
``--mlflow-uri`` should cost a second, not a sweep. Everything goes through an
``MlflowClient`` bound to that URI; nothing sets MLflow's global state, so a notebook can
hold trackers for two stores at once.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import fcntl
import json
import os
import ssl
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH, MAX_TAG_VAL_LENGTH

from benchmark.errors import BenchError
from benchmark.report.plots import ConfusionMatrixPainter
from benchmark.results.local_store import create_store, quiet_migrations
from benchmark.results.parquet import table_dir
from benchmark.results.schema import HP_PREFIX, hyperparameter_columns
from benchmark.yaml_values import dump_yaml

STORE_FILE = "mlflow.db"
ARTIFACTS_DIR = "mlartifacts"
PROBE_TIMEOUT_S = 3.0

# Tags that tell the two kinds of runs apart and find them again.
KIND_TAG = "bench_run"
SWEEP_KIND, TRIAL_KIND = "sweep", "trial"
PARENT_TAG = "mlflow.parentRunId"

# A trial's final run status in MLflow: only a trial that failed is a failed run.
_RUN_STATUS = {"completed": "FINISHED", "diverged": "FINISHED", "early_stopped": "FINISHED"}
_SWEEP_STATUS = {"finished": "FINISHED", "interrupted": "KILLED", "failed": "FAILED"}

# Keys of a final report that Tune adds for its own bookkeeping: not facts about the model.
_TUNE_KEYS = {
    "epoch", "timestamp", "training_iteration", "time_this_iter_s", "time_total_s", "pid",
    "time_since_restore", "iterations_since_restore", "done",
}  # fmt: skip


class TrackingError(BenchError):
    """The MLflow tracking store cannot be reached or used."""


def local_store(results_dir: Path | str) -> tuple[str, Path]:
    """The default store under ``results_dir``: its SQLite URI and its artifact folder."""
    results_dir = Path(results_dir).resolve()
    return f"sqlite:///{results_dir / STORE_FILE}", results_dir / ARTIFACTS_DIR


def ui_environment() -> dict[str, str]:
    """The environment ``ui_command`` runs in: this one, MLflow's GenAI jobs off by default.

    ``mlflow server`` also starts a job runner and a job queue's consumer (two processes
    that each import MLflow) for its GenAI jobs; a benchmark's runs start none, and without
    them the UI answered in 11 s instead of 15 to 20 s on a 2-core machine. A user's own
    ``MLFLOW_SERVER_ENABLE_JOB_EXECUTION`` wins.
    """
    return {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **os.environ}


def ui_command(results_dir: Path | str, host: str = "127.0.0.1", port: int = 5000) -> list[str]:
    """The ``mlflow server`` command line that serves the local store of ``results_dir``."""
    store_uri, artifacts = local_store(results_dir)
    return [
        sys.executable, "-m", "mlflow", "server", "--backend-store-uri", store_uri,
        "--default-artifact-root", artifacts.as_uri(), "--artifacts-destination", str(artifacts),
        "--host", host, "--port", str(port), "--workers", "1",
    ]  # fmt: skip


class MlflowTracker:
    """Logs one sweep and its trials to one MLflow tracking store.

    ``artifact_root`` is only needed for a local store (the runs' artifacts go under it);
    a tracking server decides where its artifacts go.
    """

    def __init__(
        self,
        tracking_uri: str,
        results_dir: Path | str = "results",
        artifact_root: Path | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.results_dir = Path(results_dir).resolve()
        self.artifact_root = artifact_root
        self.client = MlflowClient(tracking_uri=tracking_uri)
        self.experiment_id: str | None = None
        self.parent_run_id: str | None = None
        self.sweep_id: str | None = None
        self.sweep_dir: Path | None = None
        self._confusion_matrices = ConfusionMatrixPainter()

    @classmethod
    def connect(cls, tracking_uri: str | None, results_dir: Path | str) -> MlflowTracker:
        """The tracker for ``tracking_uri``, else ``MLFLOW_TRACKING_URI``, else the local store
        (also when ``tracking_uri`` names it: its artifacts then go beside it as well).

        Raises ``TrackingError`` at once when a server does not answer, instead of after
        MLflow's own retries (minutes) once the first trial has finished.
        """
        store_uri, store_artifacts = local_store(results_dir)
        uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or store_uri
        artifact_root = None
        if uri == store_uri:
            artifact_root = store_artifacts
            artifact_root.mkdir(parents=True, exist_ok=True)
        elif uri.startswith(("http://", "https://")):
            _probe_server(uri)
        if uri.startswith(("http://", "https://")):
            return cls(uri, results_dir, artifact_root)
        quiet_migrations()  # a database MLflow creates itself (not a copy) migrates
        try:  # opens (and creates, the first time) the store, so a bad path fails now
            with _store_lock(uri) as database:
                if database is not None:
                    create_store(database)  # a copy of an empty one: no migrations
                tracker = cls(uri, results_dir, artifact_root)
                tracker.client.search_experiments(max_results=1)
        except Exception as error:
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise TrackingError(
                f"cannot open the MLflow store {uri}: {message}; pass another with "
                "--mlflow-uri or MLFLOW_TRACKING_URI"
            ) from error
        return tracker

    def start_sweep(
        self,
        sweep_id: str,
        sweep_name: str,
        description: str | None,
        resolved_spec: dict[str, Any],
        env: dict[str, Any] | None,
        sweep_dir: Path | str | None = None,
    ) -> str:
        """Open the sweep's parent run (the existing one on resume) and return its id.

        The experiment is named after the sweep, so repeated sweeps of one study sit side by
        side. ``sweep_dir`` (default ``<results>/<name>/<id>``) is where the trials' Parquet
        rows are written; each trial run points at its row.
        """
        self.sweep_id = sweep_id
        self.sweep_dir = Path(sweep_dir or self.results_dir / sweep_name / sweep_id).resolve()
        self.experiment_id = self._experiment(sweep_name)
        existing = self._find_run(f"tags.{KIND_TAG} = '{SWEEP_KIND}'")
        if existing is not None:
            self.parent_run_id = existing.info.run_id
            self.client.update_run(self.parent_run_id, status="RUNNING")
        else:
            tags = {KIND_TAG: SWEEP_KIND, "sweep_id": sweep_id, "sweep_name": sweep_name}
            if description:
                tags["mlflow.note.content"] = description
            run = self.client.create_run(self.experiment_id, tags=tags, run_name=sweep_id)
            self.parent_run_id = run.info.run_id
            params = [Param(k, _param_value(v)) for k, v in _sweep_params(resolved_spec).items()]
            self.client.log_batch(self.parent_run_id, params=params)
        self.client.set_tag(self.parent_run_id, "sweep_dir", str(self.sweep_dir))
        with tempfile.TemporaryDirectory() as folder:
            Path(folder, "sweep.yaml").write_text(dump_yaml(resolved_spec))
            if env is not None:
                Path(folder, "env.json").write_text(json.dumps(env, indent=2))
            self.client.log_artifacts(self.parent_run_id, folder)
        return self.parent_run_id

    def log_trial(
        self, record: dict[str, Any], config: dict[str, Any], checkpoint_path: str | None = None
    ) -> str:
        """Log one finished trial as a nested run and return its run id.

        ``record`` is a trial record (``benchmark.sweep.records.build_record``) and
        ``config`` the trial's full config. A trial logged before (a resumed sweep) is
        logged into its existing run: params, metric points and tags it already has are
        not written twice, artifacts are replaced.
        """
        if self.parent_run_id is None or self.sweep_dir is None:
            raise RuntimeError("MlflowTracker.start_sweep must be called before log_trial")
        trial_id = record["trial_id"]
        run = self._find_run(f"tags.{KIND_TAG} = '{TRIAL_KIND}' and tags.trial_id = '{trial_id}'")
        tags = self._trial_tags(record, config, checkpoint_path)
        if run is None:
            run = self.client.create_run(
                self.experiment_id,
                start_time=_milliseconds(record.get("started_at")),
                tags={**tags, PARENT_TAG: self.parent_run_id},
                run_name=_trial_run_name(record),
            )
        else:
            self.client.update_run(run.info.run_id, status="RUNNING")
            if "error" in run.data.tags and "error" not in tags:
                self.client.delete_tag(run.info.run_id, "error")
        run_id = run.info.run_id
        self.client.log_batch(
            run_id,
            metrics=_new_metrics(self.client, run, _trial_metrics(record)),
            params=[
                Param(name, value)
                for name, value in _trial_params(config).items()
                if name not in run.data.params
            ],
            tags=[RunTag(name, value) for name, value in tags.items()],
        )
        with tempfile.TemporaryDirectory() as folder:
            _write_trial_artifacts(Path(folder), record, self._confusion_matrices)
            self.client.log_artifacts(run_id, folder)
        if checkpoint_path and Path(checkpoint_path).is_dir():
            self.client.log_artifacts(run_id, checkpoint_path, artifact_path="checkpoint")
        self.client.set_terminated(
            run_id,
            status=_RUN_STATUS.get(record["status"], "FAILED"),
            end_time=_milliseconds(record.get("finished_at")),
        )
        return run_id

    def delete_trial_runs(self, keep: set[str]) -> int:
        """Delete this sweep's trial runs whose trial is not in ``keep``; how many.

        A resumed sweep keeps only its recorded trials: a run logged just before the driver
        was killed, for a trial that never got its record, would otherwise stay beside the
        trial that replaces it.
        """
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.sweep_id = '{self.sweep_id}' and tags.{KIND_TAG} = '{TRIAL_KIND}'",
            max_results=50_000,
        )
        orphans = [run for run in runs if run.data.tags.get("trial_id") not in keep]
        for run in orphans:
            self.client.delete_run(run.info.run_id)
        return len(orphans)

    def end_sweep(self, state: str) -> None:
        """Close the parent run: ``finished``, ``interrupted`` (resumable) or ``failed``."""
        if self.parent_run_id is None:
            return
        self.client.set_tag(self.parent_run_id, "sweep_state", state)
        self.client.set_terminated(self.parent_run_id, status=_SWEEP_STATUS.get(state, "FAILED"))

    def _experiment(self, name: str) -> str:
        experiment = self.client.get_experiment_by_name(name)
        if experiment is None:
            location = (self.artifact_root / name).as_uri() if self.artifact_root else None
            try:
                return self.client.create_experiment(name, artifact_location=location)
            except MlflowException:  # another sweep of that name created it meanwhile
                experiment = self.client.get_experiment_by_name(name)
                if experiment is None:
                    raise
        if experiment.lifecycle_stage == "deleted":
            self.client.restore_experiment(experiment.experiment_id)
        return experiment.experiment_id

    def _find_run(self, condition: str):
        """The run of this sweep matching ``condition`` (oldest first), or ``None``."""
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.sweep_id = '{self.sweep_id}' and {condition}",
            order_by=["attributes.start_time ASC"],
            max_results=1,
        )
        return runs[0] if runs else None

    def _trial_tags(
        self, record: dict[str, Any], config: dict[str, Any], checkpoint_path: str | None
    ) -> dict[str, str]:
        values = {
            KIND_TAG: TRIAL_KIND,
            "sweep_id": record.get("sweep_id"),
            "sweep_name": record.get("sweep_name"),
            "trial_id": record["trial_id"],
            "cell": record.get("cell"),
            "architecture": config.get("architecture"),
            "dataset": config.get("dataset"),
            "status": record.get("status"),
            "phase": record.get("phase"),
            "trial_number": record.get("trial_number"),
            "seed": record.get("seed"),
            "device": (record.get("metrics") or {}).get("device"),
            "error": record.get("error"),
            "checkpoint_path": checkpoint_path,
            "parquet_path": str(table_dir(self.sweep_dir, "trials")),
        }
        return {name: _truncate(str(v), MAX_TAG_VAL_LENGTH) for name, v in values.items() if v}


@contextlib.contextmanager
def _store_lock(uri: str) -> Iterator[Path | None]:
    """Hold a SQLite store's lock while it is opened; yields its file (None: not SQLite).

    The first open creates the store; two sweeps starting at once on one results directory
    would both create it, and one would fail. The lock (an advisory ``flock`` on a file
    beside the database) makes the second wait for the first.
    """
    database = uri.removeprefix("sqlite:///")
    if database == uri or not Path(database).parent.is_dir():
        yield None  # not a SQLite file (or a path MLflow will refuse): nothing to serialise
        return
    with open(f"{database}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield Path(database)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _probe_server(uri: str) -> None:
    """Raise ``TrackingError`` unless something answers HTTP at ``uri`` within seconds.

    Any HTTP answer counts (a 401 or 404 is MLflow's to explain later); only a refused,
    unresolvable or silent address is the user's to fix before the sweep starts.
    """
    context = None
    if uri.startswith("https://"):
        # The same certificate settings MLflow's own requests will use.
        cafile = os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH") or None
        context = ssl.create_default_context(cafile=cafile)
        if os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() == "true":
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(
            f"{uri.rstrip('/')}/health", timeout=PROBE_TIMEOUT_S, context=context
        ):
            return
    except urllib.error.HTTPError:
        return
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        reason = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
        raise TrackingError(
            f"MLflow tracking server {uri} is not reachable ({reason}); start it, or pass "
            "another with --mlflow-uri or MLFLOW_TRACKING_URI (unset both to log to a "
            "local SQLite store under the results directory)"
        ) from error


def _sweep_params(spec: dict[str, Any]) -> dict[str, Any]:
    """The few settings that tell sweeps apart at a glance in the runs table."""
    spec = {"architectures": [], "datasets": [], **spec}
    search = spec.get("search") or {}
    resources = spec.get("resources") or {}
    fixed = spec.get("fixed") or {}
    entries = {
        "architectures": [a.get("label") or a["architecture"] for a in spec["architectures"]],
        "datasets": [d.get("label") or d["dataset"] for d in spec["datasets"]],
        "search.algorithm": search.get("algorithm"),
        "search.objectives": [o.get("metric") for o in search.get("objectives") or []] or None,
        "search.trials_per_cell": search.get("trials_per_cell"),
        "search.seed": search.get("seed"),
        "scheduler.type": (spec.get("scheduler") or {}).get("type"),
        "repeats": spec.get("repeats"),
        "epochs": fixed.get("epochs"),
        "resources.workers": resources.get("workers"),
        "resources.gpus_per_worker": resources.get("gpus_per_worker"),
        "space": sorted(spec.get("space") or {}) or None,
    }
    return {name: value for name, value in entries.items() if value is not None}


def _trial_params(config: dict[str, Any]) -> dict[str, str]:
    """The trial's hyperparameters, named like the ``hp_`` columns of ``trials.parquet``."""
    return {
        name.removeprefix(HP_PREFIX): _param_value(value)
        for name, value in hyperparameter_columns(config).items()
    }


def _param_value(value: Any) -> str:
    """MLflow params are strings: scalars as ``str``, lists and dicts as JSON (as in Parquet)."""
    text = json.dumps(value) if isinstance(value, (list, tuple, dict)) else str(value)
    return _truncate(text, MAX_PARAM_VAL_LENGTH)


def _trial_metrics(record: dict[str, Any]) -> list[Metric]:
    """Epoch metrics at ``step=epoch``, then the final ones (step 0), as one batch."""
    timestamp = _milliseconds(record.get("finished_at")) or int(time.time() * 1000)
    metrics = [
        Metric(key, float(value), timestamp, int(epoch["epoch"]))
        for epoch in record.get("history") or []
        for key, value in epoch.items()
        if key != "epoch" and _is_number(value)
    ]
    finals = {
        key: value
        for key, value in (record.get("metrics") or {}).items()
        if key not in _TUNE_KEYS and _is_number(value)
    }
    for target, seconds in (record.get("time_to_target_s") or {}).items():
        if _is_number(seconds):
            finals[f"time_to_target_s/{target}"] = seconds
    metrics += [Metric(key, float(value), timestamp, 0) for key, value in finals.items()]
    return metrics


def _new_metrics(client: MlflowClient, run, metrics: list[Metric]) -> list[Metric]:
    """``metrics`` less the points the run already holds (a trial logged again on resume)."""
    if not run.data.metrics:
        return metrics
    logged: set[tuple[str, int]] = set()
    for key in {metric.key for metric in metrics} & set(run.data.metrics):
        logged.update(
            (key, point.step) for point in client.get_metric_history(run.info.run_id, key)
        )
    return [metric for metric in metrics if (metric.key, metric.step) not in logged]


def _write_trial_artifacts(
    folder: Path, record: dict[str, Any], confusion_matrices: ConfusionMatrixPainter
) -> None:
    """The trial's record, class report and confusion matrix as files, ready to upload in
    one call.

    Its learning curves are not drawn here: its epoch metrics are logged by step, which
    MLflow charts itself (one trial, or several side by side), and drawing them again as a
    PNG took a sweep's driver a third of a CPU-second per trial, on the cores training the
    next one. ``bench report`` draws each cell's best trial's curves.
    """
    (folder / "trial_record.json").write_text(json.dumps(record, indent=2, default=str))
    report = record.get("class_report")
    if not report:
        return
    names = [str(name) for name in report["class_names"]]
    matrix = report.get("confusion_matrix")
    if matrix:
        title = f"{record.get('cell')} · trial {record['trial_id']}"
        confusion_matrices.save(matrix, names, title, folder / "confusion_matrix.png")
        with open(folder / "confusion_matrix.csv", "w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["true \\ predicted", *names])
            writer.writerows([name, *row] for name, row in zip(names, matrix, strict=True))
    with open(folder / "class_report.csv", "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["class_index", "class_name", "precision", "recall", "f1", "support"])
        for index, name in enumerate(names):
            scores = [report[key][index] for key in ("precision", "recall", "f1", "support")]
            writer.writerow([index, name, *scores])
        total = sum(report["support"])
        for average in ("macro", "weighted"):
            scores = [report.get(f"{key}_{average}") for key in ("precision", "recall", "f1")]
            writer.writerow(["", f"{average} avg", *scores, total])


def _trial_run_name(record: dict[str, Any]) -> str:
    if record.get("cell") is None or record.get("trial_number") is None:
        return record["trial_id"]
    return f"{record['cell']} {record.get('phase') or 'trial'} #{record['trial_number']}"


def _is_number(value: Any) -> bool:
    # NaN and infinity are kept: a diverged trial's loss is a fact too. Flags (overfitting)
    # are bools, hence ints: they log as 0 or 1.
    return isinstance(value, (int, float))


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _milliseconds(timestamp: str | None) -> int | None:
    if not timestamp:
        return None
    return int(dt.datetime.fromisoformat(timestamp).timestamp() * 1000)
