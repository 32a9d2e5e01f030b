"""Start the real server (`python -m service serve`) as a subprocess on free loopback ports.

Used by the tests and by the benchmark (`bench/`), so both start the service exactly as
operators do.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from service.client import Connection

ROOT = Path(__file__).resolve().parent.parent
DEMO_REGISTRY = ROOT / "models"
# Tests may point the suite at another registry while the demo model is being rebuilt.
REGISTRY = Path(os.environ.get("S2S_TEST_MODELS", str(DEMO_REGISTRY)))


# One engine slot, batches of 4: a slow request keeps the engine busy for a known while.
ONE_SLOT = ("--inter-threads", "1", "--intra-threads", "1", "--max-batch-size", "4")
# Every text costs engine time (tests of queueing send the same text many times).
NO_CACHE = ("--cache", "off")


def first_model_dir() -> Path:
    """The first model directory of the test registry."""
    return sorted(p.parent for p in REGISTRY.glob("*/manifest.json"))[0]


def scrape(port: int, metric: str, **labels: str) -> float:
    """Sum of a metric's samples on the server's Prometheus endpoint (0 if absent), over the
    samples carrying every given label value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    total = 0.0
    for line in text.splitlines():
        if line.startswith((metric + "{", metric + " ")):
            names = line.split("}", 1)[0] if "{" in line else ""
            if all(w in names for w in wanted):
                total += float(line.rsplit(" ", 1)[1])
    return total


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    args: list[str] = field(default_factory=list)
    metrics_port: int = 0  # 0: the exporter is off
    connection: Connection = field(default_factory=Connection)  # how health checks connect

    def metric(self, name: str, **labels: str) -> float:
        """Sum over label sets (those with the given label values) of one Prometheus sample
        name (0 when absent)."""
        assert self.metrics_port, "started without a metrics port"
        return scrape(self.metrics_port, name, **labels)

    def rss_bytes(self) -> int:
        import psutil

        return int(psutil.Process(self.proc.pid).memory_info().rss)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def health(self, service: str = "", timeout: float = 2.0) -> int | None:
        """The health status, or None if the server does not answer."""
        with self.connection.channel(self.target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
            except grpc.RpcError:
                return None
            return int(reply.status)

    def wait_serving(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            if self.health(timeout=1.0) == health_pb2.HealthCheckResponse.SERVING:
                return
            time.sleep(0.05)
        raise TimeoutError(f"server did not become SERVING in {timeout}s:\n{self.log()}")

    def terminate(self, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise


def start_server(
    tmp_dir: Path,
    *extra: str,
    models: Path = REGISTRY,
    env: dict[str, str] | None = None,
    metrics: bool = False,
    log_level: str = "debug",
    connection: Connection | None = None,
) -> ServerProcess:
    """Start ``s2s serve`` on a free port (and a free metrics port when ``metrics``)."""
    port = free_port()
    metrics_port = free_port() if metrics else 0
    tmp_dir.mkdir(parents=True, exist_ok=True)
    log_path = tmp_dir / f"server-{port}.log"
    args = [
        sys.executable, "-m", "service", "serve",
        "--models", str(models), "--port", str(port), "--metrics-port", str(metrics_port),
        "--log-level", log_level, *extra,
    ]  # fmt: skip
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("S2S_")}
    full_env.update(env or {})
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            args, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT, env=full_env
        )
    return ServerProcess(proc, port, log_path, args, metrics_port, connection or Connection())


@contextmanager
def running_server(
    tmp_dir: Path,
    *extra: str,
    models: Path = REGISTRY,
    metrics: bool = False,
    log_level: str = "debug",
    timeout: float = 120.0,
    connection: Connection | None = None,
) -> Iterator[ServerProcess]:
    server = start_server(
        tmp_dir, *extra, models=models, metrics=metrics, log_level=log_level, connection=connection
    )
    try:
        server.wait_serving(timeout)
        yield server
    finally:
        server.terminate()
