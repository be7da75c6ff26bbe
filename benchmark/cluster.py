"""Connecting to Ray: an embedded local instance by default, an existing cluster on request.

The embedded instance is sized to the machine, binds its dashboard to 127.0.0.1 (it is on
by default: besides showing the cluster, it serves the state API through which Ray Train
releases the resources of a trial that was stopped early or killed), and keeps
workers' log lines off the terminal unless asked (the platform prints its own progress).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from benchmark.errors import BenchError


class ClusterError(BenchError):
    """Ray could not be started or reached."""


#: Seconds a cluster's address has to accept a connection. Ray itself retries an address
#: where nothing listens for about 14 minutes (20 attempts of about 40 s) before it fails.
CONNECT_TIMEOUT_S = 5.0

# The dashboard of each Ray instance this process started or joined, by its GCS address:
# Ray tells it only on ``ray.init``, and ``connect_ray`` is called again once connected.
_dashboards: dict[str, str | None] = {}


@dataclass(frozen=True)
class RayConnection:
    address: str
    dashboard_url: str | None
    resources: dict[str, float]


def prepare_ray_environment() -> None:
    """Set Ray's process-wide switches before Ray is first imported.

    Every node runs the same installed environment (the lock file, or the Docker image), so
    Ray's ``uv run`` hook, which would re-create the driver's environment for each worker
    from a packaged copy of the working directory and needs ``uv`` on every node's PATH,
    is turned off; so is usage reporting. Values already set by the user win.
    """
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def prepare_ray(address: str | None = None) -> None:
    """What comes before Ray's start or join: its switches set, Ray imported, and
    ``address``, if given, found to answer (a one-line error in seconds if not).

    ``connect_ray`` begins with it; a caller that starts other work beside Ray's start
    calls it first, so that such work begins only once Ray is imported and reachable.
    """
    prepare_ray_environment()
    import ray  # noqa: F401 - imported once, here, whatever thread later imports alongside

    if address is not None:
        _check_reachable(address)


def connect_ray(
    address: str | None = None,
    num_cpus: int | None = None,
    num_gpus: int | None = None,
    dashboard: bool = True,
    worker_logs: bool = False,
) -> RayConnection:
    """Start (or join, with ``address``) Ray in this process; idempotent."""
    prepare_ray(address)
    import ray

    if ray.is_initialized():
        # Joined already: by an earlier call here (its dashboard is known), or by a
        # notebook or a Ray job's driver. Ray joins one cluster per process, so another
        # address asked for here would be silently ignored: that is an error.
        gcs_address = ray.get_runtime_context().gcs_address
        if address is not None and not _same_cluster(address, gcs_address):
            raise ClusterError(
                f"this process is already connected to the Ray cluster at {gcs_address}, "
                f"not {address}; run bench in a new process (in a notebook: restart its "
                "kernel, or call ray.shutdown() first) to use that cluster"
            )
        return _describe(dashboard_url=_dashboards.get(gcs_address))
    options: dict = {"log_to_driver": worker_logs, "logging_level": "WARNING"}
    if address is None:
        # Ray Train watches each job's nodes for a coming preemption (spot instances) from
        # an actor of its own per job: a process, about 115 MB (PSS) and 2.4 CPU-seconds at
        # a job's start on a 2-core machine. The only node of a local instance is this
        # machine, so nothing can warn of its loss. Set before Ray's start, every process
        # of it inherits the switch; on a cluster the watcher stays.
        os.environ.setdefault("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER", "0")
        options.update(
            # "local" always starts a new instance; without it Ray would join whatever
            # cluster `ray start` last recorded on this machine, even a dead one.
            address="local",
            num_cpus=num_cpus,
            num_gpus=num_gpus,
            include_dashboard=dashboard,
            dashboard_host="127.0.0.1",
        )
    else:
        options["address"] = address
    try:
        context = ray.init(**options)
    except (ConnectionError, RuntimeError, ValueError) as error:
        target = address or "a local Ray instance"
        raise ClusterError(f"cannot start or reach {target}: {error}") from None
    _dashboards[ray.get_runtime_context().gcs_address] = context.dashboard_url or None
    return _describe(dashboard_url=context.dashboard_url or None)


def _same_cluster(address: str, gcs_address: str) -> bool:
    """Whether ``address`` names the cluster whose GCS is at ``gcs_address``.

    ``auto`` and Ray Client addresses (``ray://``) name whatever this process joined, as
    ``ray.init`` would have resolved them: they are taken to match.
    """
    from ray._private.services import canonicalize_bootstrap_address

    if address == "auto" or address.startswith("ray://"):
        return True
    return canonicalize_bootstrap_address(address) == gcs_address


def _check_reachable(address: str) -> None:
    """Fail in seconds, naming ``address`` and the fix, when no cluster listens there.

    ``auto`` and ``RAY_ADDRESS`` are resolved the way ``ray.init`` resolves them, so the port
    tried is the one Ray would try (a Ray Client address, ``ray://host:port``, as given).
    """
    from ray._private.services import canonicalize_bootstrap_address

    try:
        if address.startswith("ray://"):
            target = address.removeprefix("ray://")
        else:
            target = canonicalize_bootstrap_address(address)
        if target is None:
            return  # "local": a new instance is started, nothing to reach
        host, _, port = target.rpartition(":")
        with socket.create_connection((host.strip("[]"), int(port)), CONNECT_TIMEOUT_S):
            pass
    except (OSError, ValueError) as error:  # refused, timed out, unresolvable, no port ...
        reason = getattr(error, "strerror", None) or str(error).splitlines()[0] or "no answer"
        raise ClusterError(
            f"no Ray cluster answers at {address} ({reason}); pass the address that "
            f"`ray start --head` printed (host:6379), a dashboard URL (http://host:8265) to "
            f"submit as a job, or no --address to run on this machine"
        ) from None


def _describe(dashboard_url: str | None) -> RayConnection:
    import ray

    return RayConnection(
        address=ray.get_runtime_context().gcs_address,
        dashboard_url=f"http://{dashboard_url}" if dashboard_url else None,
        resources=dict(ray.cluster_resources()),
    )
