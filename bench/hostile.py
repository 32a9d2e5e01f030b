"""`python -m bench.hostile`: issue #11's hostile-client probes, as numbers.

Each case starts the server from ``--root`` (a checkout: this one, or an older commit's worktree
to measure "before") on free loopback ports, attacks it the way the issue describes and prints
what a caller and an operator would see. Every load is bounded in time. Used for the before →
after table of the hardening work; the regression tests live in tests/reliability/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc

from service.api import seq2seq_pb2 as pb
from service.api import seq2seq_pb2_grpc as pb_grpc

ROOT = Path(__file__).resolve().parent.parent
TRANSLATE = "/seq2seq.v1.Seq2SeqService/Translate"
SENTENCES = [
    "The old man sees the small dog.",
    "The woman buys three red apples.",
    "Today the children play in the garden.",
    "My brother reads a new book.",
]
Row = dict[str, Any]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, root: Path, log: Path, *flags: str, port: int = 0, metrics_port: int = 0):
        self.port = port or _free_port()
        self.metrics_port = metrics_port or _free_port()
        self.log_path = log
        env = {k: v for k, v in os.environ.items() if not k.startswith("S2S_")}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        args = [
            sys.executable, "-m", "service", "serve", "--models", str(root / "models"),
            *_flags_if(root, "cache_memory_mb", "--cache", "off"),
            "--port", str(self.port), "--metrics-port", str(self.metrics_port), *flags,
        ]  # fmt: skip
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                args, cwd=root, stdout=out, stderr=subprocess.STDOUT, env=env
            )

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def rss_mb(self) -> float:
        return float(psutil.Process(self.proc.pid).memory_info().rss) / 2**20

    def metric(self, name: str, **labels: str) -> float:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as reply:
            text = reply.read().decode()
        total = 0.0
        for line in text.splitlines():
            if line.startswith((name + "{", name + " ")) and all(
                f'{k}="{v}"' in line for k, v in labels.items()
            ):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def wait_serving(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.log())
            if health(self.target) == health_pb2.HealthCheckResponse.SERVING:
                return
            time.sleep(0.05)
        raise TimeoutError(self.log())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def health(target: str, timeout: float = 2.0) -> int | None:
    with grpc.insecure_channel(target) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=timeout
            )
        except grpc.RpcError:
            return None
        return int(reply.status)


@contextmanager
def serving(root: Path, logs: Path, name: str, *flags: str) -> Iterator[Server]:
    server = Server(root, logs / f"{name}.log", *flags)
    try:
        server.wait_serving()
        yield server
    finally:
        server.stop()


def call(stub: Any, texts: list[str], timeout: float = 60, **kw: Any) -> tuple[str, str, float]:
    """(code, message, seconds) of one Translate call."""
    opts = kw.pop("options", None)
    req = pb.TranslateRequest(
        texts=texts,
        source_language=kw.pop("source", "en"),
        target_language=kw.pop("target", "de"),
        model=kw.pop("model", ""),
        options=pb.DecodingOptions(**(opts or {})),
    )
    started = time.perf_counter()
    try:
        stub.Translate(req, timeout=timeout)
        return "OK", "", time.perf_counter() - started
    except grpc.RpcError as exc:
        return exc.code().name, exc.details() or "", time.perf_counter() - started


def log_stats(text: str) -> Row:
    lines = text.splitlines()
    return {
        "log_lines": len(lines),
        "non_json_lines": sum(1 for line in lines if line and not line.startswith("{")),
        "tracebacks": text.count("Traceback"),
        "error_lines": sum(1 for line in lines if '"level": "error"' in line or "ERROR" in line),
        "longest_line": max((len(line) for line in lines), default=0),
    }


# ---------------------------------------------------------------------------------- cases


def case_metadata(root: Path, logs: Path) -> Row:
    with serving(root, logs, "metadata") as server, grpc.insecure_channel(server.target) as ch:
        stub = pb_grpc.Seq2SeqServiceStub(ch)
        model = call(stub, ["hi"], model="m" * 5000)
        lang = call(stub, ["hi"], source="x" * 5000)
        texts = call(stub, ["xq " * 300] * 48)
        return {
            "long model name": model[0],
            "long language": lang[0],
            "48 over-long texts": texts[0],
            "message chars (48 texts)": len(texts[1]),
            **log_stats(server.log()),
        }


def case_memory(root: Path, logs: Path) -> Row:
    """1.3 M one-character texts (3.9 MB), and 600 k (1.8 MB: under a 2 MiB size limit)."""
    return {f"{n} texts": _memory(root, logs, n) for n in (1_300_000, 600_000)}


def _memory(root: Path, logs: Path, texts: int) -> Row:
    request = pb.TranslateRequest(
        texts=["a"] * texts, source_language="en", target_language="de"
    ).SerializeToString()
    with serving(root, logs, "memory") as server, grpc.insecure_channel(server.target) as ch:
        raw = ch.unary_unary(TRANSLATE)
        before = server.rss_mb()

        def one() -> str:
            try:
                raw(request, timeout=60)
                return "OK"
            except grpc.RpcError as exc:
                return f"{exc.code().name}: {(exc.details() or '')[:80]}"

        first = one()
        after_one = server.rss_mb()
        peak = [after_one]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak.append(server.rss_mb())
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        threads = [threading.Thread(target=one) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stop.set()
        sampler.join()
        time.sleep(2)
        return {
            "request MB": round(len(request) / 2**20, 2),
            "reply": first,
            "RSS before MB": round(before),
            "RSS after one MB": round(after_one),
            "RSS peak with 8 concurrent MB": round(max(peak)),
            "RSS 2 s later MB": round(server.rss_mb()),
        }


def case_tokenize_loop(root: Path, logs: Path) -> Row:
    long_text = ("xq " * 2730)[:8190]
    with serving(root, logs, "tokenize") as server:
        stop = threading.Event()
        codes: Counter[str] = Counter()

        def attacker() -> None:
            with grpc.insecure_channel(server.target) as ch:
                stub = pb_grpc.Seq2SeqServiceStub(ch)
                while not stop.is_set():
                    codes[call(stub, [long_text] * 64, timeout=30)[0]] += 1

        attackers = [threading.Thread(target=attacker) for _ in range(8)]
        for t in attackers:
            t.start()
        time.sleep(1.0)
        health_ms, call_ms = [], []
        with grpc.insecure_channel(server.target) as ch:
            stub = pb_grpc.Seq2SeqServiceStub(ch)
            hstub = health_pb2_grpc.HealthStub(ch)
            end = time.monotonic() + 6
            while time.monotonic() < end:
                t0 = time.perf_counter()
                hstub.Check(health_pb2.HealthCheckRequest(), timeout=10)
                health_ms.append((time.perf_counter() - t0) * 1000)
                code, _, seconds = call(stub, [SENTENCES[0]], timeout=30)
                if code == "OK":
                    call_ms.append(seconds * 1000)
        stop.set()
        for t in attackers:
            t.join()
        return {
            "attack replies": dict(codes),
            "health p50 ms": round(statistics.median(health_ms), 1),
            "normal call p50 ms": round(statistics.median(call_ms), 1) if call_ms else None,
        }


def case_cost(root: Path, logs: Path) -> Row:
    row: Row = {}
    with serving(root, logs, "cost") as server, grpc.insecure_channel(server.target) as ch:
        stub = pb_grpc.Seq2SeqServiceStub(ch)
        heavy: dict[str, Any] = {
            "beam_size": 8,
            "num_hypotheses": 8,
            "min_length": 512,
            "max_length": 512,
        }
        code, msg, seconds = call(stub, [SENTENCES[0]] * 8, timeout=120, options=heavy)
        row["8 texts beam 8 n-best 8 512 tokens"] = f"{code} in {seconds:.1f} s {msg[:60]}"
        # 200 callers who leave after 100 ms, then one normal call.
        long_greedy: dict[str, Any] = {"min_length": 256, "max_length": 256}

        async def leavers() -> None:
            async with grpc.aio.insecure_channel(server.target) as ach:
                astub = pb_grpc.Seq2SeqServiceStub(ach)
                req = pb.TranslateRequest(
                    texts=[SENTENCES[1]] * 4, source_language="en", target_language="de",
                    options=pb.DecodingOptions(**long_greedy),
                )  # fmt: skip
                calls = [astub.Translate(req, timeout=60) for _ in range(200)]
                await asyncio.sleep(0.1)
                for c in calls:
                    c.cancel()
                await asyncio.gather(*calls, return_exceptions=True)

        asyncio.run(leavers())
        code, _, seconds = call(stub, [SENTENCES[2]])
        row["normal call after 200 cancelled"] = f"{code} in {seconds:.2f} s"
        time.sleep(3)
        beam = {"beam_size": 8, "min_length": 512, "max_length": 512}
        results: list[tuple[str, str, float]] = []

        def beam_call() -> None:
            results.append(call(stub, [SENTENCES[3]], timeout=1.0, options=beam))

        threads = [threading.Thread(target=beam_call) for _ in range(2)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        code, _, _ = call(stub, [SENTENCES[0]])
        row["two 1 s beam-8/512 calls"] = [f"{c} at {s:.2f} s" for c, _, s in results]
        row["next call answered at"] = f"{code} at {time.perf_counter() - t0:.2f} s"
    return row


def case_goodput(root: Path, logs: Path, seconds: float = 15.0) -> Row:
    row: Row = {}
    texts = [SENTENCES[i % len(SENTENCES)] for i in range(64)]
    with serving(root, logs, "goodput") as server:
        for callers in (4, 300):
            row[f"{callers} callers"] = asyncio.run(
                _goodput(server.target, texts, callers, seconds)
            )
    return row


async def _goodput(target: str, texts: list[str], callers: int, seconds: float) -> Row:
    req = pb.TranslateRequest(texts=texts, source_language="en", target_language="de")
    outcomes: Counter[str] = Counter()
    reject_ms: list[float] = []
    async with grpc.aio.insecure_channel(target) as ch:
        stub = pb_grpc.Seq2SeqServiceStub(ch)
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds

        async def caller() -> None:
            while loop.time() < end:
                t0 = loop.time()
                try:
                    await stub.Translate(req, timeout=2.0)
                    outcomes["OK"] += 1
                except grpc.aio.AioRpcError as exc:
                    outcomes[exc.code().name] += 1
                    if exc.code() is grpc.StatusCode.RESOURCE_EXHAUSTED:
                        reject_ms.append((loop.time() - t0) * 1000)
                        pushback = dict(exc.trailing_metadata() or ()).get("grpc-retry-pushback-ms")
                        await asyncio.sleep(int(pushback or 200) / 1000)

        await asyncio.gather(*(caller() for _ in range(callers)))
    ok = outcomes["OK"]
    return {
        "outcomes": dict(outcomes),
        "successes/s": round(ok / seconds, 2),
        "rejection p50 ms": round(statistics.median(reject_ms), 1) if reject_ms else None,
        "rejection p99 ms": round(sorted(reject_ms)[int(len(reject_ms) * 0.99)], 1)
        if reject_ms
        else None,
    }


def case_shutdown(root: Path, logs: Path) -> Row:
    unbudgeted = _flags_if(root, "max_request_cost", "--max-request-cost", "100000000")
    server = Server(root, logs / "shutdown.log", "--grace-seconds", "2", *unbudgeted)
    try:
        server.wait_serving()
        beam = {"beam_size": 8, "min_length": 500, "max_length": 512}

        def long_call() -> None:
            with grpc.insecure_channel(server.target) as ch:
                call(pb_grpc.Seq2SeqServiceStub(ch), [SENTENCES[0]] * 16, timeout=300, options=beam)

        threads = [threading.Thread(target=long_call, daemon=True) for _ in range(4)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while server.metric("s2s_batches_in_flight") < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        t0 = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        in_flight = server.metric("s2s_batches_in_flight")
        code = server.proc.wait(120)
        return {
            "batches in flight at SIGTERM": in_flight,
            "exit code": code,
            "exit after SIGTERM s": round(time.monotonic() - t0, 1),
        }
    finally:
        server.stop()


def case_malformed(root: Path, logs: Path) -> Row:
    with (
        serving(root, logs, "malformed", "--log-level", "info") as server,
        grpc.insecure_channel(server.target) as ch,
    ):
        raw = ch.unary_unary(TRANSLATE)
        before_lines = len(server.log().splitlines())
        before = server.metric("s2s_requests_total")
        row: Row = {}
        for name, payload in (
            ("malformed", b"\x0a\x02\xff\xfe"),
            ("5 MB", b"\x0a" + _varint(5 * 2**20) + b"a" * (5 * 2**20)),
        ):
            try:
                raw(payload, timeout=10)
                row[name] = "OK"
            except grpc.RpcError as exc:
                row[name] = f"{exc.code().name}: {(exc.details() or '')[:70]}"
        time.sleep(0.3)
        new = server.log().splitlines()[before_lines:]
        row["log lines"] = len(new)
        row["non-JSON log lines"] = sum(1 for line in new if not line.startswith("{"))
        row["counted in s2s_requests_total"] = server.metric("s2s_requests_total") - before
        return row


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _flags_if(root: Path, setting: str, *flags: str) -> list[str]:
    """``flags`` if the checkout at ``root`` has ``setting`` (older ones lack newer flags)."""
    sources = "".join(p.read_text() for p in (root / "service").rglob("config.py"))
    return list(flags) if setting in sources else []


def case_races(root: Path, logs: Path) -> Row:
    """Deadline races: 300 short-deadline calls (50-300 ms) queued behind a busy engine, with
    deadline admission off where it exists, so they expire in the queue and race the client's
    own deadline; which code the client saw, the metrics and the logs say, and ERROR lines."""
    flags = _flags_if(root, "deadline_admission", "--no-deadline-admission")
    with serving(
        root, logs, "races", "--inter-threads", "1", "--max-batch-size", "4", *flags
    ) as server:
        with grpc.insecure_channel(server.target) as ch:
            stub = pb_grpc.Seq2SeqServiceStub(ch)
            slow = {"beam_size": 4, "min_length": 100, "max_length": 100}
            blocker = threading.Thread(
                target=lambda: call(stub, [SENTENCES[0]] * 8, timeout=120, options=slow)
            )
            blocker.start()
            time.sleep(0.3)
            client_codes = asyncio.run(_short_deadlines(server.target, 300))
            blocker.join()
            time.sleep(0.5)
        server_codes = {
            code: server.metric("s2s_requests_total", method="Translate", code=code)
            for code in ("DEADLINE_EXCEEDED", "CANCELLED", "OK")
        }
        logged: Counter[str] = Counter()
        for line in server.log().splitlines():
            if line.startswith("{") and '"event": "rpc"' in line:
                logged[json.loads(line).get("code")] += 1
        return {
            "client saw": dict(client_codes),
            "metrics say": server_codes,
            "logs say": dict(logged),
            **log_stats(server.log()),
        }


async def _short_deadlines(target: str, n: int) -> Counter[str]:
    codes: Counter[str] = Counter()
    req = pb.TranslateRequest(texts=[SENTENCES[1]], source_language="en", target_language="de")
    async with grpc.aio.insecure_channel(target) as ch:
        stub = pb_grpc.Seq2SeqServiceStub(ch)

        async def one(i: int) -> None:
            await asyncio.sleep(0.002 * (i % 50))
            try:
                await stub.Translate(req, timeout=0.05 + 0.25 * ((i * 7) % 100) / 100)
                codes["OK"] += 1
            except grpc.aio.AioRpcError as exc:
                codes[exc.code().name] += 1

        await asyncio.gather(*(one(i) for i in range(n)))
    return codes


def case_startup(root: Path, logs: Path) -> Row:
    row: Row = {}
    with serving(root, logs, "startup-first") as first:
        for name, kwargs in (
            ("gRPC port taken", {"port": first.port}),
            ("metrics port taken", {"metrics_port": first.metrics_port}),
        ):
            second = Server(root, logs / f"startup-{name[:4]}.log", **kwargs)
            code = second.proc.wait(120)
            text = second.log()
            row[name] = {
                "exit": code,
                "lines": len(text.splitlines()),
                "traceback": "Traceback" in text,
                "last line": text.strip().splitlines()[-1][:120] if text.strip() else "",
            }
    bad = Server(root, logs / "startup-flag.log", "--max-batch-size", "0")
    row["bad flag"] = {"exit": bad.proc.wait(60), "output": bad.log().strip()[:120]}
    return row


def case_contract(root: Path, logs: Path) -> Row:
    row: Row = {}
    with serving(root, logs, "contract") as server, grpc.insecure_channel(server.target) as ch:
        stub = pb_grpc.Seq2SeqServiceStub(ch)
        probes: dict[str, Callable[[], tuple[str, str, float]]] = {
            "repetition_penalty 0.5": lambda: call(
                stub, [SENTENCES[0]], options={"repetition_penalty": 0.5}
            ),
            "'en\\n' as language": lambda: call(stub, [SENTENCES[0]], source="en\n"),
            "only zero-width spaces": lambda: call(stub, ["\u200b\u200b\u200b"]),
            "only NULs": lambda: call(stub, ["\x00\x00"]),
            "only a BOM": lambda: call(stub, ["\ufeff"]),
            "empty text + beam 0": lambda: call(stub, [""], options={"beam_size": 0}),
            "top_k -1 with beam 4": lambda: call(
                stub, [SENTENCES[0]], options={"beam_size": 4, "sampling_top_k": -1}
            ),
        }
        for name, probe in probes.items():
            code, message, _ = probe()
            row[name] = f"{code}: {message[:110]}"
    return row


CASES: dict[str, Callable[[Path, Path], Row]] = {
    "1-metadata": case_metadata,
    "2-memory": case_memory,
    "3-tokenize": case_tokenize_loop,
    "4-cost": case_cost,
    "5-goodput": case_goodput,
    "6-shutdown": case_shutdown,
    "7-malformed": case_malformed,
    "8/9-races": case_races,
    "10-startup": case_startup,
    "11-contract": case_contract,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hostile", description=__doc__)
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose server to probe")
    parser.add_argument("--logs", type=Path, default=Path("/tmp/s2s-hostile"))
    parser.add_argument("cases", nargs="*", help=f"subset of {list(CASES)}")
    args = parser.parse_args(argv)
    args.logs.mkdir(parents=True, exist_ok=True)
    for name, case in CASES.items():
        if args.cases and not any(name.startswith(c) for c in args.cases):
            continue
        started = time.monotonic()
        try:
            row = case(args.root.resolve(), args.logs)
        except Exception as exc:  # a probe that breaks is a result too
            row = {"probe failed": repr(exc)[:300]}
        row["probe seconds"] = round(time.monotonic() - started, 1)
        print(json.dumps({name: row}, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
