"""No Docker engine runs here, so the deployment files are checked statically."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import yaml

from service.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"


def compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_brings_up_service_redis_prometheus_grafana() -> None:
    services = compose()["services"]
    assert set(services) >= {"s2s", "redis", "prometheus", "grafana"}
    s2s = services["s2s"]
    assert (ROOT / s2s["build"]["context"] / s2s["build"]["dockerfile"]).is_file()
    assert "50051:50051" in s2s["ports"]
    # Graceful shutdown needs more time than the server's own grace period.
    grace = float(s2s["environment"]["S2S_GRACE_SECONDS"])
    assert float(s2s["stop_grace_period"].rstrip("s")) > grace


def test_compose_mounts_files_that_exist() -> None:
    for service in compose()["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), volume


def test_dockerfile_copies_existing_paths_and_uses_known_settings() -> None:
    text = DOCKERFILE.read_text()
    for line in text.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), line
    known = {"S2S_" + f.name.upper() for f in fields(Settings)}
    used = set(re.findall(r"\b(S2S_[A-Z_]+)=", text))
    assert used and used <= known, used - known
    assert "STOPSIGNAL SIGTERM" in text
    assert 'CMD ["s2s", "health"' in text


def test_compose_environment_uses_known_settings() -> None:
    known = {"S2S_" + f.name.upper() for f in fields(Settings)}
    env = compose()["services"]["s2s"].get("environment", {})
    assert set(env) <= known


def test_prometheus_scrapes_the_metrics_port() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = [t for job in config["scrape_configs"] for s in job["static_configs"]
               for t in s["targets"]]  # fmt: skip
    port = re.search(r"S2S_METRICS_PORT=(\d+)", DOCKERFILE.read_text())
    assert port is not None
    assert f"s2s:{port.group(1)}" in targets
