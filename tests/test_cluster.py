"""Joining Ray: a process joined to one cluster refuses to be pointed at another."""

from __future__ import annotations

import socket

import pytest

from benchmark.cluster import ClusterError, connect_ray


def test_the_cluster_joined_already_is_joined_again(local_ray):
    gcs_address = local_ray.get_runtime_context().gcs_address
    port = gcs_address.rpartition(":")[2]

    assert connect_ray(address=gcs_address).address == gcs_address
    assert connect_ray(address=f"127.0.0.1:{port}").address == gcs_address  # same node


def test_another_cluster_address_in_a_joined_process_is_an_error_naming_both(local_ray):
    gcs_address = local_ray.get_runtime_context().gcs_address
    with socket.socket() as other:  # something answers there, so only the mismatch is left
        other.bind(("0.0.0.0", 0))
        other.listen()
        address = f"127.0.0.1:{other.getsockname()[1]}"

        with pytest.raises(ClusterError) as raised:
            connect_ray(address=address)

    assert str(raised.value) == (
        f"this process is already connected to the Ray cluster at {gcs_address}, not "
        f"{address}; run bench in a new process (in a notebook: restart its kernel, or call "
        "ray.shutdown() first) to use that cluster"
    )
    assert local_ray.is_initialized()  # the joined cluster is left as it was
