"""Start the real server (`python -m service serve`) as a subprocess on a free loopback port."""

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

ROOT = Path(__file__).resolve().parent.parent
DEMO_REGISTRY = ROOT / "models"


def scrape(port: int, metric: str) -> float:
    """Sum of a metric's samples on the server's Prometheus endpoint (0 if absent)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(metric + "{") or line.startswith(metric + " "):
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

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def health(self, service: str = "", timeout: float = 2.0) -> int | None:
        """The health status, or None if the server does not answer."""
        with grpc.insecure_channel(self.target) as channel:
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
    tmp_dir: Path, *extra: str, models: Path = DEMO_REGISTRY, env: dict[str, str] | None = None
) -> ServerProcess:
    port = free_port()
    log_path = tmp_dir / f"server-{port}.log"
    args = [
        sys.executable, "-m", "service", "serve",
        "--models", str(models), "--port", str(port), "--metrics-port", "0",
        "--log-level", "debug", *extra,
    ]  # fmt: skip
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("S2S_")}
    full_env.update(env or {})
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            args, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT, env=full_env
        )
    return ServerProcess(proc, port, log_path, args)


@contextmanager
def running_server(
    tmp_dir: Path, *extra: str, models: Path = DEMO_REGISTRY
) -> Iterator[ServerProcess]:
    server = start_server(tmp_dir, *extra, models=models)
    try:
        server.wait_serving()
        yield server
    finally:
        server.terminate()
