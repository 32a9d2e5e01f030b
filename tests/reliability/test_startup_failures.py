"""A server that cannot start says why in one line that names the flag and environment variable
to change, and exits 2: no traceback, whatever the cause."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.serverproc import REGISTRY, ROOT, ServerProcess, first_model_dir, free_port


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service", "serve", "--models", str(REGISTRY), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def one_clear_line(proc: subprocess.CompletedProcess[str], *names: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    errors = [line for line in proc.stderr.splitlines() if not line.startswith("{")]
    assert len(errors) == 1, proc.stderr
    for line in proc.stderr.splitlines()[:-1]:  # any other line is a JSON log record
        json.loads(line)
    for name in names:
        assert name in errors[0], errors[0]


@pytest.fixture(scope="module")
def taken(tmp_path_factory: pytest.TempPathFactory) -> ServerProcess:
    """A running server whose ports the tests try to take again."""
    from tests.serverproc import start_server

    server = start_server(tmp_path_factory.mktemp("first"), metrics=True)
    server.wait_serving()
    yield server  # type: ignore[misc]
    server.terminate()


def test_grpc_port_in_use(taken: ServerProcess) -> None:
    proc = serve("--port", str(taken.port), "--metrics-port", "0")
    one_clear_line(proc, f"127.0.0.1:{taken.port}", "--port", "S2S_PORT")


def test_metrics_port_in_use(taken: ServerProcess) -> None:
    proc = serve("--port", str(free_port()), "--metrics-port", str(taken.metrics_port))
    one_clear_line(proc, str(taken.metrics_port), "--metrics-port", "S2S_METRICS_PORT")


def test_unusable_tls_files(tmp_path: Path) -> None:
    cert = tmp_path / "server.crt"
    cert.write_text("not a certificate\n")
    proc = serve(
        "--port", "0", "--metrics-port", "0", "--tls-cert", str(cert), "--tls-key", str(cert)
    )
    one_clear_line(proc, str(cert), "--tls-cert", "S2S_TLS_CERT")


def test_unusable_tokens_file(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("billing not-a-hash\n")
    proc = serve("--port", "0", "--metrics-port", "0", "--auth-tokens-file", str(tokens))
    one_clear_line(proc, "line 1", "--auth-tokens-file", "S2S_AUTH_TOKENS_FILE")


def test_broken_model_registry(tmp_path: Path) -> None:
    broken = tmp_path / "registry" / "broken"
    broken.mkdir(parents=True)
    manifest = json.loads((first_model_dir() / "manifest.json").read_text())
    manifest["revision"] = "sha256:" + "0" * 64
    (broken / "manifest.json").write_text(json.dumps(manifest))
    proc = subprocess.run(
        [sys.executable, "-m", "service", "serve", "--models", str(broken.parent),
         "--port", "0", "--metrics-port", "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    one_clear_line(proc, "--models", "S2S_MODELS_DIR")


def test_bad_flag_value() -> None:
    proc = serve("--max-concurrent-rpcs", "0")
    one_clear_line(proc, "max_concurrent_rpcs")
