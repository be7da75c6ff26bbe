"""The KubeRay manifests in clusters/kuberay/ are well-formed ray.io/v1 resources that run the
project's image on the shared results volume, with token authentication, and never publish
the dashboard outside the Kubernetes cluster."""

from __future__ import annotations

import shlex
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

KUBERAY = Path(__file__).resolve().parents[2] / "clusters" / "kuberay"
PUBLIC_SERVICE_TYPES = {"LoadBalancer", "NodePort"}


def load(name: str) -> list[dict]:
    return [document for document in yaml.safe_load_all((KUBERAY / name).read_text()) if document]


def ray_cluster_specs() -> list[tuple[str, dict]]:
    """(file, RayCluster spec) for the RayCluster and for the cluster the RayJob creates."""
    specs = []
    for name in ("raycluster.yaml", "rayjob.yaml"):
        for document in load(name):
            if document["kind"] == "RayCluster":
                specs.append((name, document["spec"]))
            elif document["kind"] == "RayJob":
                specs.append((name, document["spec"]["rayClusterSpec"]))
    return specs


def pod_specs(cluster: dict) -> list[dict]:
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    return [group["template"]["spec"] for group in groups]


@pytest.fixture(params=ray_cluster_specs(), ids=lambda item: item[0])
def cluster(request) -> dict:
    return request.param[1]


def test_every_manifest_parses_with_a_known_kind() -> None:
    kinds = {}
    for path in sorted(KUBERAY.glob("*.yaml")):
        for document in load(path.name):
            assert {"apiVersion", "kind", "metadata", "spec"} <= document.keys(), path.name
            kinds[document["kind"]] = document["apiVersion"]
    assert kinds == {
        "RayCluster": "ray.io/v1",
        "RayJob": "ray.io/v1",
        "PersistentVolumeClaim": "v1",
        "NetworkPolicy": "networking.k8s.io/v1",
    }


def test_runs_the_installed_ray_with_token_auth(cluster: dict) -> None:
    assert cluster["rayVersion"] == version("ray")
    assert cluster["authOptions"] == {"mode": "token"}


def test_every_pod_runs_the_project_image_as_its_user(cluster: dict, image: str) -> None:
    for pod in pod_specs(cluster):
        assert [container["image"] for container in pod["containers"]] == [image]
        # The Dockerfile's `USER 1000:1000`.
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 1000


def test_every_pod_mounts_the_shared_results_volume(cluster: dict, shared_results: str) -> None:
    (claim,) = load("shared-storage.yaml")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    for pod in pod_specs(cluster):
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        mounts = {
            mount["mountPath"]: mount["name"] for mount in pod["containers"][0]["volumeMounts"]
        }
        shared = volumes[mounts["/mnt/shared"]]
        assert shared["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
        assert shared_results.startswith("/mnt/shared/")


def test_the_dashboard_is_never_published(cluster: dict) -> None:
    head = cluster["headGroupSpec"]
    assert head.get("serviceType", "ClusterIP") not in PUBLIC_SERVICE_TYPES
    assert head.get("headService", {}).get("spec", {}).get("type") not in PUBLIC_SERVICE_TYPES
    assert not head.get("enableIngress", False)
    for pod in pod_specs(cluster):
        for container in pod["containers"]:
            assert all("hostPort" not in port for port in container.get("ports", []))
    for path in KUBERAY.glob("*.yaml"):
        for document in load(path.name):
            assert document["kind"] not in {"Service", "Ingress"}, path.name


def test_long_running_cluster_binds_its_dashboard_to_loopback() -> None:
    (raycluster,) = load("raycluster.yaml")
    assert raycluster["spec"]["headGroupSpec"]["rayStartParams"]["dashboard-host"] == "127.0.0.1"


def test_rayjob_runs_a_sweep_from_the_image_into_shared_storage(
    repo_root: Path, shared_results: str
) -> None:
    rayjob = next(document for document in load("rayjob.yaml") if document["kind"] == "RayJob")
    spec = rayjob["spec"]
    arguments = shlex.split(spec["entrypoint"])
    assert arguments[:2] == ["bench", "submit"]
    sweep = Path(arguments[2])
    assert sweep.parent == Path("/home/bench/app/sweeps")  # the Dockerfile's WORKDIR
    assert (repo_root / "sweeps" / sweep.name).is_file()
    assert arguments[arguments.index("--results-dir") + 1] == shared_results
    assert arguments[arguments.index("--address") + 1] == "auto"
    assert spec["submissionMode"] == "SidecarMode"
    assert spec["shutdownAfterJobFinishes"] is True


def test_rayjob_head_admits_only_its_cluster_and_the_operator() -> None:
    documents = load("rayjob.yaml")
    rayjob = next(document for document in documents if document["kind"] == "RayJob")
    policy = next(document for document in documents if document["kind"] == "NetworkPolicy")
    head_labels = rayjob["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["metadata"]
    selected = policy["spec"]["podSelector"]["matchLabels"]
    assert selected.items() - {"ray.io/node-type": "head"}.items() <= head_labels["labels"].items()
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    from_operator = [rule for rule in policy["spec"]["ingress"] if "ports" in rule]
    assert [rule["ports"] for rule in from_operator] == [[{"protocol": "TCP", "port": 8265}]]
