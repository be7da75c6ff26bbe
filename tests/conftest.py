"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os

import pytest

from benchmark.cluster import prepare_ray_environment

# Tests never reach beyond this machine: datasets and weights must already be on disk.
os.environ["BENCH_OFFLINE"] = "1"
prepare_ray_environment()


@pytest.fixture(scope="session")
def local_ray():
    """One embedded Ray instance (2 CPUs) shared by every test that needs it, started the way
    ``bench`` starts it.

    Starting Ray costs tens of seconds on a 2-core machine, so it is started once, on first
    use, and shut down when the session ends. It has its dashboard: Ray Train releases the
    resources of a stopped trial through the state API the dashboard serves.
    """
    import ray

    from benchmark.cluster import connect_ray

    connect_ray(num_cpus=2)
    yield ray
    ray.shutdown()
