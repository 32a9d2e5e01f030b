"""deploy/grafana/dashboards/seq2seq-serving.json, statically: generated, consistent, complete.

test_live_stack evaluates every query against a real Prometheus; this checks what needs none.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from tests.deploytools import DASHBOARD, ROOT, dashboard_targets, run


def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def test_committed_dashboard_is_what_the_generator_writes() -> None:
    result = run(sys.executable, str(ROOT / "scripts" / "gen_dashboard.py"), "--check")
    assert result.returncode == 0, result.stderr


def test_variables_datasource_model_instance() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("model", "instance"):
        assert variables[name]["type"] == "query"
        assert variables[name]["multi"] and variables[name]["includeAll"]
    for panel in dashboard()["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]


def test_every_rate_uses_the_rate_interval() -> None:
    for title, expr in dashboard_targets():
        assert not re.search(r"\b(irate|increase|delta|idelta)\(", expr), (title, expr)
        for window in re.findall(r"\[([^\]]*)\]", expr):
            assert window == "$__rate_interval", (title, expr)


def test_queries_follow_the_model_and_instance_variables() -> None:
    for title, expr in dashboard_targets():
        for selector in re.findall(r"\b(s2s_\w+|process_\w+)\{([^}]*)\}", expr):
            assert 'instance=~"$instance"' in selector[1], (title, selector)


def test_the_rows_operators_asked_for() -> None:
    rows = [p["title"] for p in dashboard()["panels"] if p["type"] == "row"]
    for wanted in (
        "Traffic and errors", "Latency", "Queue", "Batching and engine", "Throughput",
        "Result cache", "Encoder-output cache", "Replicas", "Process",
    ):  # fmt: skip
        assert wanted in rows
    titles = " | ".join(p["title"] for p in dashboard()["panels"])
    for panel in (
        "Error ratio", "p50 / p95 / p99", "Queue depth", "Queue wait", "Rejections",
        "Batch size", "Padding efficiency", "Engine busy", "Texts per second",
        "Tokens per second", "hit ratio", "Redis up", "Cache errors", "Share of requests per pod",
        "CPU", "Resident memory", "Open file descriptors", "Models ready",
        "Encoder cache hit ratio",
    ):  # fmt: skip
        assert panel in titles, panel


def test_panels_do_not_overlap_and_ids_are_unique() -> None:
    panels = dashboard()["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        mine = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not cells & mine, f"{panel['title']} overlaps another panel"
        cells |= mine
