"""The Kubernetes manifests (deploy/k8s): valid against the Kubernetes schemas, rendered as
kustomize would, and consistent with the image and the app they deploy."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from app.main import create_app

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.33.0"  # a version clusters run today; the schemas ship with the tool
# Custom resources have no schema in Kubernetes' own: checked by hand below.
CUSTOM_KINDS = {"ServiceMonitor"}


def _render() -> list[dict]:
    """The resources `kubectl apply -k deploy/k8s` creates: namespace, labels and image applied."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    namespace = kustomization["namespace"]
    labels = {k: v for entry in kustomization["labels"] for k, v in entry["pairs"].items()}
    (image,) = kustomization["images"]
    rendered = []
    for name in kustomization["resources"]:
        for resource in yaml.safe_load_all((K8S / name).read_text()):
            metadata = resource["metadata"]
            if resource["kind"] != "Namespace":
                metadata["namespace"] = namespace
            metadata.setdefault("labels", {}).update(labels)
            for container in _containers(resource):
                if container["image"] == image["name"]:
                    container["image"] = f"{image['newName']}:{image['newTag']}"
            rendered.append(resource)
    return rendered


def _containers(resource: dict) -> list[dict]:
    return resource.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])


def _kind(resources: list[dict], kind: str) -> dict:
    (found,) = [resource for resource in resources if resource["kind"] == kind]
    return found


RESOURCES = _render()


@pytest.mark.parametrize(
    "resource",
    [r for r in RESOURCES if r["kind"] not in CUSTOM_KINDS]
    + [yaml.safe_load((K8S / "secret.example.yaml").read_text())],
    ids=lambda resource: resource["kind"],
)
def test_each_manifest_is_valid_against_the_kubernetes_schemas(resource):
    kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_the_kustomization_deploys_what_a_gpu_cluster_needs():
    kinds = {resource["kind"] for resource in RESOURCES}
    assert kinds >= {
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "ServiceMonitor",
    }
    deployment = _kind(RESOURCES, "Deployment")
    (container,) = _containers(deployment)
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    environment = {item["name"]: item for item in container["env"]}
    assert environment["D2L_DEVICE"]["value"] == "cuda", "no silent CPU fallback"
    key = environment["D2L_API_KEY"]["valueFrom"]["secretKeyRef"]
    secret = yaml.safe_load((K8S / "secret.example.yaml").read_text())
    assert key["name"] == secret["metadata"]["name"] and key["key"] in secret["stringData"]
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 30
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    selector = deployment["spec"]["selector"]["matchLabels"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    for kind in ("Service", "PodDisruptionBudget", "ServiceMonitor"):
        spec = _kind(RESOURCES, kind)["spec"]
        chosen = spec["selector"].get("matchLabels", spec["selector"])
        assert chosen.items() <= pod_labels.items(), f"the {kind} selects the pods"
    assert selector.items() <= pod_labels.items()


def test_probes_ports_and_metrics_name_what_the_image_and_the_app_have(committed_client):
    deployment = _kind(RESOURCES, "Deployment")
    (container,) = _containers(deployment)
    (port,) = container["ports"]
    assert f"EXPOSE {port['containerPort']}" in (ROOT / "Dockerfile").read_text()
    routes = set(create_app().openapi()["paths"])
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] in routes
        assert container[probe]["httpGet"]["port"] == port["name"]
    service = _kind(RESOURCES, "Service")
    (service_port,) = service["spec"]["ports"]
    assert service_port["targetPort"] == port["name"]
    monitor = _kind(RESOURCES, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == service_port["name"] and endpoint["path"] in routes
    hpa = _kind(RESOURCES, "HorizontalPodAutoscaler")
    (metric,) = hpa["spec"]["metrics"]
    scraped = committed_client.get("/metrics").text  # the series the autoscaler reads
    assert f"\n{metric['pods']['metric']['name']}{{" in scraped
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
