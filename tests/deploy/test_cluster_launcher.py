"""The Ray cluster-launcher files in clusters/ pass Ray's own checks (the JSON schema shipped
in the installed ray wheel, then the defaults-filling and validation `ray up` runs), and keep
the platform's promises: the project's image, results on shared storage, the dashboard on
127.0.0.1, token authentication on every node."""

from __future__ import annotations

import copy
import json
from importlib.util import find_spec
from pathlib import Path

import jsonschema
import pytest
import yaml

LAUNCHER_FILES = ["aws-gpu.yaml", "onprem-gpu.yaml"]


@pytest.fixture(scope="module")
def ray_schema() -> dict:
    ray_package = Path(find_spec("ray").submodule_search_locations[0])
    return json.loads((ray_package / "autoscaler" / "ray-schema.json").read_text())


@pytest.fixture(params=LAUNCHER_FILES)
def launcher_file(request, repo_root: Path) -> Path:
    return repo_root / "clusters" / request.param


@pytest.fixture
def config(launcher_file: Path) -> dict:
    return yaml.safe_load(launcher_file.read_text())


def _start_commands(config: dict) -> str:
    return "\n".join(config["head_start_ray_commands"] + config["worker_start_ray_commands"])


def test_matches_rays_schema(config: dict, ray_schema: dict) -> None:
    jsonschema.validate(config, ray_schema)


def test_passes_the_validation_ray_up_runs(config: dict) -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(prepare_config(copy.deepcopy(config)))


def test_every_node_runs_the_project_image(config: dict, image: str) -> None:
    docker = config["docker"]
    assert docker["image"] == image
    assert "head_image" not in docker and "worker_image" not in docker
    # The launcher runs `docker run ... IMAGE bash`: the image's `bench` entry point must go.
    assert "--entrypoint=''" in docker["run_options"]


def test_results_go_to_shared_storage(config: dict, launcher_file: Path, shared_results) -> None:
    assert "--volume /mnt/shared:/mnt/shared" in config["docker"]["run_options"]
    header = launcher_file.read_text().split("\ncluster_name:")[0]
    assert f"--results-dir {shared_results}" in header
    assert "docker build" in header and "docker push" in header


def test_dashboard_is_bound_to_loopback(config: dict) -> None:
    head_start = "\n".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head_start
    assert "0.0.0.0" not in json.dumps(config)


def test_token_authentication_is_on_everywhere(config: dict) -> None:
    assert "--env RAY_AUTH_MODE=token" in config["docker"]["run_options"]
    assert config["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"
    assert "RAY_AUTH_MODE=disabled" not in _start_commands(config)


def test_aws_cluster_autoscales_gpu_workers(repo_root: Path) -> None:
    config = yaml.safe_load((repo_root / "clusters" / "aws-gpu.yaml").read_text())
    assert config["provider"]["type"] == "aws"
    workers = {
        name: node_type
        for name, node_type in config["available_node_types"].items()
        if name != config["head_node_type"]
    }
    assert workers
    for node_type in workers.values():
        assert node_type["node_config"]["InstanceType"].split(".")[0] in {"g5", "g6", "g6e"}
        assert node_type["min_workers"] < node_type["max_workers"] <= config["max_workers"]
    assert "--gpus all" in config["docker"]["worker_run_options"]


def test_onprem_cluster_lists_its_machines(repo_root: Path) -> None:
    provider = yaml.safe_load((repo_root / "clusters" / "onprem-gpu.yaml").read_text())["provider"]
    assert provider["type"] == "local"
    assert provider["head_ip"] and provider["worker_ips"]
    assert provider["head_ip"] not in provider["worker_ips"]
