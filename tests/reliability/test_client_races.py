"""Calls that end on the client's side while the server works on them: deadlines that run out
as the batcher drops the request, callers that cancel. The server records the code the client
saw, and such races never produce ERROR lines or tracebacks."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from pathlib import Path

import grpc

from service.api import seq2seq_pb2 as pb
from service.api import seq2seq_pb2_grpc as pb_grpc
from service.client import Seq2SeqClient
from service.types import DecodingOptions
from tests.serverproc import NO_CACHE, ONE_SLOT, REGISTRY, ServerProcess, running_server

TEXT = "The woman buys three red apples."
SLOW = DecodingOptions(beam_size=4, min_length=200, max_length=200)


async def _short_deadlines(target: str, calls: int) -> Counter[str]:
    """``calls`` calls with deadlines from 50 to 300 ms, started over 100 ms."""
    request = pb.TranslateRequest(texts=[TEXT], source_language="en", target_language="de")
    codes: Counter[str] = Counter()
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.Seq2SeqServiceStub(channel)

        async def one(i: int) -> None:
            await asyncio.sleep(0.002 * (i % 50))
            try:
                await stub.Translate(request, timeout=0.05 + 0.25 * ((i * 7) % 100) / 100)
                codes["OK"] += 1
            except grpc.aio.AioRpcError as exc:
                codes[exc.code().name] += 1

        await asyncio.gather(*(one(i) for i in range(calls)))
    return codes


async def _cancelled(server: ServerProcess, calls: int) -> None:
    """``calls`` calls that wait in the queue, then leave."""
    request = pb.TranslateRequest(texts=[TEXT], source_language="en", target_language="de")
    async with grpc.aio.insecure_channel(server.target) as channel:
        stub = pb_grpc.Seq2SeqServiceStub(channel)
        pending = [stub.Translate(request, timeout=60) for _ in range(calls)]
        deadline = time.monotonic() + 30
        while server.metric("s2s_queue_requests") < calls:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        for call in pending:
            call.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


def _codes(server: ServerProcess) -> dict[str, float]:
    return {
        code: server.metric("s2s_requests_total", method="Translate", code=code)
        for code in ("DEADLINE_EXCEEDED", "CANCELLED")
    }


def test_deadline_and_cancel_races_are_recorded_as_the_client_saw_them(tmp_path: Path) -> None:
    with running_server(
        tmp_path, *ONE_SLOT, *NO_CACHE, "--no-deadline-admission", "--max-request-cost", "10000000",
        models=REGISTRY, metrics=True, log_level="info",
    ) as server:  # fmt: skip
        with Seq2SeqClient(server.target, timeout=120) as client:
            blocker = threading.Thread(
                target=client.translate, args=([TEXT] * 8, "en", "de"), kwargs={"options": SLOW}
            )
            blocker.start()
            deadline = time.monotonic() + 60
            while server.metric("s2s_batches_in_flight") < 1:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            before = _codes(server)
            asyncio.run(_cancelled(server, 20))
            seen = asyncio.run(_short_deadlines(server.target, 200))
            blocker.join(timeout=120)
        time.sleep(0.5)
        after = _codes(server)
        log = server.log()
    assert seen == {"DEADLINE_EXCEEDED": 200}
    assert after["DEADLINE_EXCEEDED"] - before["DEADLINE_EXCEEDED"] == 200
    assert after["CANCELLED"] - before["CANCELLED"] == 20
    records = [json.loads(line) for line in log.splitlines()]  # every line is JSON
    assert not [r for r in records if r.get("level") in ("error", "critical")]
    assert "Traceback" not in log
