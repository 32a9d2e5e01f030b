"""Structured JSON access logs; request texts stay out of them unless the operator opts in."""

from __future__ import annotations

import json
from pathlib import Path

from service.client import Seq2SeqClient
from tests.serverproc import REGISTRY, ServerProcess, running_server

SECRET = "The doctor sees the old woman."


def rpc_lines(server: ServerProcess) -> list[dict[str, object]]:
    lines = []
    for line in server.log().splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("event") == "rpc":
                lines.append(record)
    return lines


def test_access_log_has_counts_but_no_text(
    client: Seq2SeqClient, demo_server: ServerProcess
) -> None:
    client.translate([SECRET], "en", "de")
    record = [r for r in rpc_lines(demo_server) if r["method"] == "Translate"][-1]
    assert record["code"] == "OK"
    assert record["texts"] == 1
    assert isinstance(record["input_tokens"], int) and record["input_tokens"] > 0
    assert SECRET not in demo_server.log()


def test_log_text_opt_in(tmp_path: Path) -> None:
    with running_server(tmp_path, "--log-text", models=REGISTRY) as server:
        with Seq2SeqClient(server.target) as client:
            output = client.translate([SECRET], "en", "de").results[0].text
        record = [r for r in rpc_lines(server) if r["method"] == "Translate"][-1]
        assert record["input"] == [SECRET]
        assert record["output"] == [output]
