"""deploy/k8s rendered with `kubectl kustomize` and validated: schemas of a pinned Kubernetes
version (kubernetes-validate --strict), the properties operators rely on, and checkov."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.server import LIVENESS_SERVICE, SERVICE_NAME
from tests.deploytools import (
    DASHBOARD,
    DEPLOY,
    K8S,
    PENDING_SETTINGS,
    ROOT,
    RULES_FILE,
    adapter_rules,
    known_settings,
    run,
    tool,
)

KUBERNETES_VERSION = "1.32.0"
# Custom resources shipped on purpose (prometheus-operator, KEDA): kubernetes-validate has no
# schema for them, so its WARN lines for these kinds are expected; any other WARN fails.
SHIPPED_CRDS = {"ServiceMonitor", "PrometheusRule", "ScaledObject"}
CHECKOV_SKIPS = DEPLOY / "checkov-skips.yaml"
# What to render: the two overlays, and every optional component through temporary overlays
# (models-pvc and models-object-store both provide the `models` volume, so they go apart).
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "cpu": ("overlays/cpu", []),
    "gpu": ("overlays/gpu", []),
    "keda+external-redis+object-store": (
        "base",
        ["components/keda", "components/external-redis", "components/models-object-store"],
    ),
    "models-pvc": ("base", ["components/redis", "components/models-pvc"]),
}
Docs = list[dict[str, Any]]


def _render(directory: Path) -> str:
    kubectl = tool("kubectl", "https://kubernetes.io/docs/tasks/tools/")
    result = run(kubectl, "kustomize", str(directory))
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Variant name -> file holding its rendered manifests."""
    out = tmp_path_factory.mktemp("rendered")
    files = {}
    for name, (resource, components) in VARIANTS.items():
        if components:
            overlay = out / f"overlay-{len(files)}"
            overlay.mkdir()
            rel = os.path.relpath(K8S, overlay)
            (overlay / "kustomization.yaml").write_text(
                yaml.safe_dump(
                    {
                        "apiVersion": "kustomize.config.k8s.io/v1beta1",
                        "kind": "Kustomization",
                        "namespace": "seq2seq",
                        "resources": [f"{rel}/{resource}"],
                        "components": [f"{rel}/{c}" for c in components],
                    }
                )
            )
            text = _render(overlay)
        else:
            text = _render(K8S / resource)
        files[name] = out / f"{name}.yaml"
        files[name].write_text(text)
    return files


def docs(path: Path) -> Docs:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def one(documents: Docs, kind: str, name: str) -> dict[str, Any]:
    """The resource of that kind and name (generated ConfigMaps carry a hash suffix)."""

    def named(doc: dict[str, Any]) -> bool:
        actual = str(doc["metadata"]["name"])
        hashed = kind == "ConfigMap" and actual.rsplit("-", 1)[0] == name
        return actual == name or hashed

    found = [d for d in documents if d["kind"] == kind and named(d)]
    assert len(found) == 1, (kind, name, len(found))
    return found[0]


def container(documents: Docs, name: str = "s2s") -> dict[str, Any]:
    spec = one(documents, "Deployment", name)["spec"]["template"]["spec"]
    return dict(spec["containers"][0])


def settings(documents: Docs) -> dict[str, str]:
    return dict(one(documents, "ConfigMap", "s2s-settings")["data"])


@pytest.mark.parametrize("variant", VARIANTS)
def test_manifests_validate_against_kubernetes_schemas(
    rendered: dict[str, Path], variant: str
) -> None:
    validator = tool("kubernetes-validate", "pip install kubernetes-validate (dev extra)")
    result = run(validator, "--strict", "--quiet", "-k", KUBERNETES_VERSION, str(rendered[variant]))
    lines = (result.stdout + result.stderr).splitlines()
    errors = [line for line in lines if not line.startswith("WARN")]
    warnings = [line for line in lines if line.startswith("WARN")]
    unexpected = [w for w in warnings if not any(f"kind {k} " in w for k in SHIPPED_CRDS)]
    assert result.returncode == 0 and not errors and not unexpected, "\n".join(lines)


def test_every_deployment_is_locked_down(rendered: dict[str, Path]) -> None:
    for variant, path in rendered.items():
        for deployment in (d for d in docs(path) if d["kind"] == "Deployment"):
            pod = deployment["spec"]["template"]["spec"]
            where = f"{variant}/{deployment['metadata']['name']}"
            assert pod["automountServiceAccountToken"] is False, where
            assert pod["securityContext"]["runAsNonRoot"] is True, where
            assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", where
            for c in pod["containers"] + pod.get("initContainers", []):
                sc = c["securityContext"]
                assert sc["readOnlyRootFilesystem"] is True, where
                assert sc["allowPrivilegeEscalation"] is False, where
                assert sc["capabilities"]["drop"] == ["ALL"], where
                assert {"cpu", "memory"} <= set(c["resources"]["requests"]), where
                assert "memory" in c["resources"]["limits"], where


def test_probes_use_the_servers_health_names(rendered: dict[str, Path]) -> None:
    c = container(docs(rendered["cpu"]))
    assert c["startupProbe"]["grpc"]["service"] == SERVICE_NAME
    assert c["readinessProbe"]["grpc"]["service"] == SERVICE_NAME
    # Liveness asks the separate name that never depends on the model being ready.
    assert c["livenessProbe"]["grpc"]["service"] == LIVENESS_SERVICE
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["grpc"]["port"] == ports["grpc"]
    # The startup probe covers model load: minutes, not seconds.
    startup = c["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300
    # The pod's /tmp is the writable place under a read-only root filesystem.
    assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]


def test_termination_outlasts_prestop_plus_the_servers_grace(rendered: dict[str, Path]) -> None:
    for variant in ("cpu", "gpu"):
        documents = docs(rendered[variant])
        pod = one(documents, "Deployment", "s2s")["spec"]["template"]["spec"]
        pre_stop = pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
        assert pre_stop[0] == "sleep"
        grace = float(settings(documents)["S2S_GRACE_SECONDS"])
        assert pod["terminationGracePeriodSeconds"] > grace + float(pre_stop[1])


def test_settings_are_ones_the_service_reads(rendered: dict[str, Path]) -> None:
    known = known_settings() | set(PENDING_SETTINGS)
    for variant, path in rendered.items():
        data = settings(docs(path))
        assert set(data) <= known, (variant, set(data) - known)
        # Engine threads are set to the CPUs the pod gets (os.cpu_count() sees the node's).
        assert "S2S_INTER_THREADS" in data and "S2S_INTRA_THREADS" in data


def test_services_for_meshes_and_for_client_round_robin(rendered: dict[str, Path]) -> None:
    documents = docs(rendered["cpu"])
    c = container(documents)
    ports = {p["name"] for p in c["ports"]}
    selector = one(documents, "Deployment", "s2s")["spec"]["selector"]["matchLabels"]
    cluster_ip = one(documents, "Service", "s2s")
    headless = one(documents, "Service", "s2s-headless")
    assert headless["spec"]["clusterIP"] == "None"
    assert cluster_ip["spec"].get("clusterIP") != "None"
    for service in (cluster_ip, headless):
        assert service["spec"]["selector"] == selector
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports
        grpc_port = next(p for p in service["spec"]["ports"] if p["name"] == "grpc")
        assert grpc_port["appProtocol"] == "grpc"
    # Connections are recycled so clients spread over new pods (#11's setting).
    assert int(settings(documents)["S2S_MAX_CONNECTION_AGE_SECONDS"]) > 0


def test_disruption_budget_and_autoscaler(rendered: dict[str, Path]) -> None:
    documents = docs(rendered["cpu"])
    selector = one(documents, "Deployment", "s2s")["spec"]["selector"]["matchLabels"]
    pdb = one(documents, "PodDisruptionBudget", "s2s")
    assert pdb["spec"]["selector"]["matchLabels"] == selector
    assert pdb["spec"]["maxUnavailable"] == 1
    hpa = one(documents, "HorizontalPodAutoscaler", "s2s")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == "s2s"
    metrics = {m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"}
    # Every metric the HPA reads is served by the prometheus-adapter rules shipped beside it.
    assert metrics and metrics <= set(adapter_rules())


def test_keda_replaces_the_hpa(rendered: dict[str, Path]) -> None:
    documents = docs(rendered["keda+external-redis+object-store"])
    assert not [d for d in documents if d["kind"] == "HorizontalPodAutoscaler"]
    scaled = one(documents, "ScaledObject", "s2s")
    assert scaled["spec"]["scaleTargetRef"]["name"] == "s2s"
    assert {t["type"] for t in scaled["spec"]["triggers"]} == {"prometheus"}


def test_network_policy_lets_in_grpc_and_metrics_and_out_redis_and_dns(
    rendered: dict[str, Path],
) -> None:
    documents = docs(rendered["cpu"])
    policy = one(documents, "NetworkPolicy", "s2s")
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    ingress_ports = {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
    assert ingress_ports == {"grpc", "metrics"}
    egress_ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert egress_ports == {6379, 53}
    redis_policy = one(documents, "NetworkPolicy", "s2s-redis")
    assert redis_policy["spec"]["egress"] == []


def test_in_cluster_redis_evicts_lru_and_is_wired(rendered: dict[str, Path]) -> None:
    documents = docs(rendered["cpu"])
    args = container(documents, "s2s-redis")["args"]
    assert args[args.index("--maxmemory-policy") + 1] == "allkeys-lru"
    url = settings(documents)["S2S_REDIS_URL"]
    service = one(documents, "Service", "s2s-redis")
    assert url == f"redis://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}/0"


def test_external_redis_url_comes_from_a_secret(rendered: dict[str, Path]) -> None:
    documents = docs(rendered["keda+external-redis+object-store"])
    env = {e["name"]: e for e in container(documents).get("env", [])}
    assert env["S2S_REDIS_URL"]["valueFrom"]["secretKeyRef"] == {"name": "s2s-redis", "key": "url"}
    assert "S2S_REDIS_URL" not in settings(documents)
    assert not [d for d in documents if d["kind"] == "Secret"]  # the operator makes it


def test_model_registry_variants_mount_it_where_the_service_reads(
    rendered: dict[str, Path],
) -> None:
    for variant in ("models-pvc", "keda+external-redis+object-store"):
        documents = docs(rendered[variant])
        models_dir = settings(documents)["S2S_MODELS_DIR"]
        mounts = {m["mountPath"]: m for m in container(documents)["volumeMounts"]}
        assert mounts[models_dir]["readOnly"] is True, variant
    pod = one(docs(rendered["keda+external-redis+object-store"]), "Deployment", "s2s")
    init = pod["spec"]["template"]["spec"]["initContainers"][0]
    assert models_dir in {m["mountPath"] for m in init["volumeMounts"]}


def test_gpu_overlay(rendered: dict[str, Path]) -> None:
    documents = docs(rendered["gpu"])
    deployment = one(documents, "Deployment", "s2s")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    assert settings(documents)["S2S_DEVICE"] == "cuda"
    assert (
        deployment["spec"]["replicas"]
        < one(docs(rendered["cpu"]), "Deployment", "s2s")["spec"]["replicas"]
    )
    assert one(documents, "HorizontalPodAutoscaler", "s2s")["spec"]["minReplicas"] == 1
    assert "gpu" in pod["containers"][0]["image"]


def test_monitoring_resources_come_from_the_same_sources(rendered: dict[str, Path]) -> None:
    result = run(sys.executable, str(ROOT / "scripts" / "gen_k8s_monitoring.py"), "--check")
    assert result.returncode == 0, result.stderr
    documents = docs(rendered["cpu"])
    rule = one(documents, "PrometheusRule", "s2s")
    assert rule["spec"]["groups"] == yaml.safe_load(RULES_FILE.read_text())["groups"]
    dashboard = one(documents, "ConfigMap", "s2s-grafana-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"][DASHBOARD.name]) == json.loads(DASHBOARD.read_text())
    monitor = one(documents, "ServiceMonitor", "s2s")
    # It scrapes the ClusterIP Service named s2s (job="s2s", as the alerts expect) on the port
    # that exists there; the headless Service has no metrics port, so it is not scraped twice.
    selected = [
        d
        for d in documents
        if d["kind"] == "Service"
        and monitor["spec"]["selector"]["matchLabels"].items() <= d["metadata"]["labels"].items()
    ]
    assert [s["metadata"]["name"] for s in selected] == ["s2s"]
    port = monitor["spec"]["endpoints"][0]["port"]
    assert port in {p["name"] for p in selected[0]["spec"]["ports"]}


def test_checkov_findings_are_fixed_or_skipped_with_a_reason(
    rendered: dict[str, Path], tmp_path: Path
) -> None:
    """checkov on the rendered manifests and both Dockerfiles: every failed check is in
    deploy/checkov-skips.yaml with its reason, and every skip there still matches a finding."""
    checkov = tool("checkov", "pip install checkov (dev extra)")
    for name, path in rendered.items():
        (tmp_path / f"{name}.yaml").write_text(path.read_text())
    for dockerfile in ("Dockerfile", "Dockerfile.gpu"):
        (tmp_path / dockerfile).write_text((DEPLOY / dockerfile).read_text())
    result = run(
        checkov, "-d", str(tmp_path), "--framework", "kubernetes", "dockerfile",
        "--skip-download", "--quiet", "--compact", "-o", "json",
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = {
        (check["check_id"], check["resource"])
        for report in reports
        for check in report["results"]["failed_checks"]
    }
    skips = yaml.safe_load(CHECKOV_SKIPS.read_text())
    for check_id, reason in skips.items():
        assert isinstance(reason, str) and len(reason.split()) >= 8, f"{check_id}: give a reason"
    unexplained = sorted(f for f in failed if f[0] not in skips)
    assert not unexplained, f"fix these or skip them with a reason: {unexplained}"
    stale = sorted(set(skips) - {check_id for check_id, _ in failed})
    assert not stale, f"no longer found, remove from {CHECKOV_SKIPS.name}: {stale}"
    passed = sum(report["summary"]["passed"] for report in reports)
    counts = {c: sum(1 for f, _ in failed if f == c) for c in sorted(skips)}
    print(f"checkov: {passed} passed, {len(failed)} failed, each skipped with a reason: {counts}")
