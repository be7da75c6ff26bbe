"""Submitting a whole sweep to a running Ray cluster through the Ray Jobs API.

The job's working directory is a staging folder holding this ``benchmark`` package (so the
cluster runs the submitter's code) and the resolved sweep file (overrides applied). Its
entry point runs the same sweep driver as a local ``bench submit``, joined to the cluster
(``--address auto``). The job's submission id is ``bench-<sweep id>``, so ``bench status``
and ``bench logs`` find it by sweep id. Relative ``results_dir`` and ``data_dir`` are made
absolute on the submitting machine: on a cluster they must name shared storage.
"""

from __future__ import annotations

import shlex
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmark.errors import BenchError
from benchmark.spec import load_sweep
from benchmark.sweep.store import new_sweep_id
from benchmark.yaml_values import dump_yaml

JOB_PREFIX = "bench-"
#: How long a submission waits for a just-started head's job agent.
AGENT_WAIT_S = 60.0
_PACKAGE_EXCLUDES = ["__pycache__", "*.pyc"]


class RemoteError(BenchError):
    """The cluster's Jobs API cannot be reached, or has no such sweep."""


@dataclass(frozen=True)
class RemoteSubmission:
    sweep_id: str
    job_id: str
    dashboard_url: str


def submit_remote(
    sweep_file: str | Path,
    overrides: tuple[str, ...],
    address: str,
    results_dir: str | Path,
    resume_id: str | None = None,
    mlflow_uri: str | None = None,
) -> RemoteSubmission:
    """Submit the sweep as a Ray job; returns at once with the job's id."""
    spec = load_sweep(sweep_file, overrides)
    data_dir = Path(spec.data_dir).expanduser()
    spec = spec.model_copy(update={"data_dir": str(data_dir.resolve())})
    sweep_id = resume_id or new_sweep_id()
    results = Path(results_dir).expanduser().resolve()
    client = _client(address)
    with tempfile.TemporaryDirectory(prefix="bench-job-") as staging:
        staging_dir = Path(staging)
        package = Path(__file__).resolve().parents[1]
        shutil.copytree(
            package, staging_dir / package.name, ignore=shutil.ignore_patterns(*_PACKAGE_EXCLUDES)
        )
        resolved = spec.model_dump(mode="json", exclude_none=True)
        (staging_dir / "sweep.yaml").write_text(dump_yaml(resolved))
        command = ["python", "-m", "benchmark.cli", "submit", "sweep.yaml", "--address", "auto"]
        command += ["--results-dir", str(results), "--quiet"]
        command += ["--resume", sweep_id] if resume_id else ["--sweep-id", sweep_id]
        command += ["--mlflow-uri", mlflow_uri] if mlflow_uri else []
        job_id = _submit_job(
            client,
            entrypoint=shlex.join(command),
            submission_id=f"{JOB_PREFIX}{sweep_id}-{_attempt(client, sweep_id)}",
            runtime_env={"working_dir": str(staging_dir)},
            metadata={"sweep_id": sweep_id, "sweep_name": spec.name, "tool": "bench"},
        )
    return RemoteSubmission(sweep_id, job_id, _dashboard(address))


def _submit_job(client, **job) -> str:
    """``client.submit_job``, retried while a just-started head has no agent to take it.

    Right after ``ray start`` the Jobs API answers before the head's job agent is up and
    refuses submissions with "No available agent ... please try again later"; that is
    waited out for up to ``AGENT_WAIT_S``. Any other refusal is raised at once.
    """
    deadline = time.monotonic() + AGENT_WAIT_S
    while True:
        try:
            return client.submit_job(**job)
        except RuntimeError as error:
            if "No available agent" not in str(error) or time.monotonic() > deadline:
                raise
        time.sleep(1.0)


def follow_job(address: str, job_id: str, echo: Callable[[str], None]) -> str:
    """Stream the job's logs until it ends; returns its final status (``SUCCEEDED`` ...)."""
    import asyncio

    client = _client(address)

    async def tail() -> None:
        async for lines in client.tail_job_logs(job_id):
            echo(lines.rstrip("\n"))

    asyncio.run(tail())
    return str(client.get_job_status(job_id).value)


def job_status(address: str, sweep_id: str | None) -> str:
    """One line per sweep job on the cluster (or only ``sweep_id``'s)."""
    client = _client(address)
    jobs = [job for job in client.list_jobs() if (job.metadata or {}).get("tool") == "bench"]
    if sweep_id is not None:
        jobs = [job for job in jobs if job.metadata.get("sweep_id") == sweep_id]
        if not jobs:
            raise RemoteError(f"no job of sweep '{sweep_id}' on {address}")
    lines = [
        f"{job.metadata.get('sweep_name')} {job.metadata.get('sweep_id')}: "
        f"{job.status.value} (job {job.submission_id}){_message(job.message)}"
        for job in sorted(jobs, key=lambda job: job.start_time or 0)
    ]
    return "\n".join(lines) or f"no sweeps on {address}"


def job_logs(address: str, sweep_id: str) -> str:
    """The logs of the newest job of ``sweep_id``."""
    client = _client(address)
    jobs = [
        job
        for job in client.list_jobs()
        if (job.metadata or {}).get("tool") == "bench" and job.metadata.get("sweep_id") == sweep_id
    ]
    if not jobs:
        raise RemoteError(f"no job of sweep '{sweep_id}' on {address}")
    newest = max(jobs, key=lambda job: job.start_time or 0)
    return client.get_job_logs(newest.submission_id)


def _attempt(client, sweep_id: str) -> int:
    """Resubmitting (resuming) a sweep starts a new job: ``bench-<id>-1``, ``-2`` ..."""
    jobs = client.list_jobs()
    return 1 + sum(1 for job in jobs if (job.metadata or {}).get("sweep_id") == sweep_id)


def _client(address: str):
    """A Jobs API client that, like the ``ray`` command, sends the cluster's token when one
    is on this machine (``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``)
    and ``RAY_AUTH_MODE`` does not say otherwise."""
    from ray._private.authentication.authentication_token_setup import (
        maybe_enable_token_auth_if_token_available,
    )
    from ray.job_submission import JobSubmissionClient

    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
    try:
        return JobSubmissionClient(address)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise RemoteError(
            f"cannot reach the Ray Jobs API at {address} ({_first_line(error)}); "
            "pass the cluster's dashboard URL, e.g. --address http://127.0.0.1:8265"
        ) from None


def _dashboard(address: str) -> str:
    return address.rstrip("/")


def _message(message: str | None) -> str:
    return f" — {_first_line(message)}" if message else ""


def _first_line(value: object) -> str:
    text = str(value).strip()
    return text.splitlines()[0] if text else ""
