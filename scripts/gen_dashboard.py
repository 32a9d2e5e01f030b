"""Generate deploy/grafana/dashboards/seq2seq-serving.json (run by `make deploy-files`).

Panels are data here (title, queries, unit), so the JSON stays consistent: every query filters by
the `model` / `instance` variables and every rate uses `$__rate_interval`. tests/deploy checks
that the committed JSON is what this script writes, and evaluates every query against a real
Prometheus scraping a real server.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "deploy" / "grafana" / "dashboards" / "seq2seq-serving.json"
UID = "seq2seq-serving"
DS = {"type": "prometheus", "uid": "${datasource}"}
RATE = "[$__rate_interval]"
I = 'instance=~"$instance"'  # noqa: E741 - reads like the label it filters
M = f'model=~"$model",{I}'
PRODUCT = 'method=~"Translate|Summarize"'
# The codes that are the service's fault (same list as the SLO rules).
CACHE_ERRORS = f'{M},outcome=~"error|corrupt"'
SERVER_ERRORS = 'code=~"UNKNOWN|INTERNAL|UNAVAILABLE|DATA_LOSS|UNIMPLEMENTED|DEADLINE_EXCEEDED"'


@dataclass
class Panel:
    title: str
    targets: list[tuple[str, str]]  # (expr, legend)
    unit: str = "short"
    kind: str = "timeseries"
    description: str = ""
    width: int = 8
    options: dict[str, Any] = field(default_factory=dict)


def rate(metric: str, selector: str) -> str:
    return f"rate({metric}{{{selector}}}{RATE})"


def quantiles(metric: str, by: str, selector: str, qs: tuple[float, ...]) -> list[tuple[str, str]]:
    inner = f"sum by (le, {by}) ({rate(metric + '_bucket', selector)})"
    legend = " ".join("{{" + b.strip() + "}}" for b in by.split(","))
    return [(f"histogram_quantile({q}, {inner})", f"p{round(q * 100)} {legend}") for q in qs]


def ratio(metric: str, part: str, selector: str, by: str) -> str:
    """part/all by `by`, defined as 0 (not absent) when the part has no samples."""
    whole = rate(metric, selector)
    return (
        f"sum by ({by}) ({rate(metric, f'{selector},{part}')} or 0 * {whole})"
        f" / sum by ({by}) ({whole})"
    )


def lookups_hit_ratio(kind: str) -> str:
    return ratio("s2s_cache_lookups_total", 'outcome="hit"', f'kind="{kind}",{M}', "tier")


ROWS: list[tuple[str, list[Panel]]] = [
    ("Traffic and errors", [
        Panel("Requests per second by method and code",
              [(f"sum by (method, code) ({rate('s2s_requests_total', I)})",
                "{{method}} {{code}}")], "reqps"),
        Panel("Error ratio (Translate + Summarize)",
              [(ratio("s2s_requests_total", SERVER_ERRORS, f"{PRODUCT},{I}", "job"),
                "server-side errors (SLO 99.9 %)"),
               (ratio("s2s_requests_total", 'code!="OK"', f"{PRODUCT},{I}", "job"),
                "all non-OK")], "percentunit",
              description="Server-side codes burn the availability SLO; caller mistakes "
              "(INVALID_ARGUMENT, NOT_FOUND) and load shedding show only in 'all non-OK'."),
        Panel("Requests in flight by method",
              [(f"sum by (method) (s2s_requests_in_flight{{{I}}})", "{{method}}")]),
    ]),
    ("Latency", [
        Panel("Request latency by method (p50 / p95 / p99)",
              quantiles("s2s_request_duration_seconds", "method", I, (0.5, 0.95, 0.99)),
              "s", width=24),
    ]),
    ("Queue", [
        Panel("Queue depth by model",
              [(f"sum by (model) (s2s_queue_requests{{{M}}})", "{{model}} requests"),
               (f"sum by (model) (s2s_queue_texts{{{M}}})", "{{model}} texts"),
               (f"sum by (model) (s2s_queue_tokens{{{M}}})", "{{model}} tokens")]),
        Panel("Queue wait by model (p50 / p95)",
              quantiles("s2s_queue_wait_seconds", "model", M, (0.5, 0.95)), "s"),
        Panel("Rejections and drops by reason",
              [(f"sum by (model, reason) ({rate('s2s_dropped_total', M)})",
                "{{model}} {{reason}}")], "reqps",
              description="overloaded/unmeetable: refused at admission (RESOURCE_EXHAUSTED); "
              "deadline/cancelled: the caller was gone before the engine ran."),
    ]),
    ("Batching and engine", [
        Panel("Batch size (texts per engine call)",
              [*quantiles("s2s_batch_size", "model", M, (0.5, 0.95)),
               (f"sum by (model) ({rate('s2s_batch_size_sum', M)})"
                f" / sum by (model) ({rate('s2s_batch_size_count', M)})", "mean {{model}}")]),
        Panel("Padding efficiency (real / padded tokens)",
              [(f"sum by (model) ({rate('s2s_batch_tokens_total', M)})"
                f" / sum by (model) ({rate('s2s_batch_padded_tokens_total', M)})",
                "{{model}}")], "percentunit",
              description="1.0 = no padding; low values mean mixed lengths share batches."),
        Panel("Engine busy ratio",
              [(f"sum by (model, instance) ({rate('s2s_engine_busy_seconds_total', M)})"
                f" / sum by (model, instance) (s2s_engine_slots{{{M}}})",
                "{{model}} {{instance}}")], "percentunit",
              description="Seconds of engine calls per second over the slots that can run "
              "at once; near 1.0 the replica is saturated."),
        Panel("Batch duration (p50 / p95)",
              quantiles("s2s_batch_duration_seconds", "model", M, (0.5, 0.95)), "s"),
        Panel("Engine calls in flight",
              [(f"sum by (model) (s2s_batches_in_flight{{{M}}})", "{{model}}")]),
        Panel("Engine errors",
              [(f"sum by (model) ({rate('s2s_engine_errors_total', M)})", "{{model}}")], "ops"),
    ]),
    ("Throughput", [
        Panel("Texts per second by model and task",
              [(f"sum by (model, task) ({rate('s2s_texts_total', M)})",
                "{{model}} {{task}}")], "ops", width=12),
        Panel("Tokens per second (in / out)",
              [(f"sum by (model) ({rate('s2s_input_tokens_total', M)})", "in {{model}}"),
               (f"sum by (model) ({rate('s2s_output_tokens_total', M)})", "out {{model}}")],
              "ops", width=12),
    ]),
    ("Result cache", [
        Panel("Result cache hit ratio by tier", [(lookups_hit_ratio("result"), "{{tier}}")],
              "percentunit"),
        Panel("Cache lookups by kind, tier and outcome",
              [(f"sum by (kind, tier, outcome) ({rate('s2s_cache_lookups_total', M)})",
                "{{kind}} {{tier}} {{outcome}}")], "ops"),
        Panel("Redis up", [(f"min by (instance) (s2s_cache_redis_up{{{I}}})", "{{instance}}")],
              kind="stat", options={"mappings": [{"type": "value", "options": {
                  "0": {"text": "DOWN", "color": "red"}, "1": {"text": "UP", "color": "green"}}}]}),
        Panel("Cache errors and corrupt values",
              [(f"sum by (tier, outcome) ({rate('s2s_cache_lookups_total', CACHE_ERRORS)})",
                "lookups {{tier}} {{outcome}}"),
               (f"sum by (op) ({rate('s2s_cache_redis_errors_total', I)})", "redis {{op}}")],
              "ops", description="Failed or timed-out Redis operations are answered from the "
              "memory tier and the engine; every call still succeeds."),
        Panel("Redis operation latency (p50 / p99)",
              quantiles("s2s_cache_redis_seconds", "op", I, (0.5, 0.99)), "s"),
        Panel("Memory tier size",
              [(f"sum by (instance) (s2s_cache_bytes{{{I}}})", "bytes {{instance}}")], "bytes"),
        Panel("Memory tier entries",
              [(f"sum by (instance) (s2s_cache_entries{{{I}}})", "{{instance}}")]),
        Panel("Cache stores and single-flight joins",
              [(f"sum by (kind, tier) ({rate('s2s_cache_stores_total', M)})",
                "stores {{kind}} {{tier}}"),
               (f"sum by (model) ({rate('s2s_cache_singleflight_joins_total', M)})",
                "joins {{model}}")], "ops", width=16),
    ]),
    ("Encoder-output cache", [
        Panel("Encoder cache hit ratio by tier", [(lookups_hit_ratio("encoder"), "{{tier}}")],
              "percentunit"),
        Panel("Encoder seconds saved per second",
              [(f"sum by (model) ({rate('s2s_encoder_seconds_saved_total', M)})",
                "{{model}}")], "s"),
        Panel("Engine phase time (p95)",
              quantiles("s2s_engine_phase_seconds", "model, phase", M, (0.95,)), "s"),
    ]),
    ("Inputs and access", [
        Panel("Segments per text (p50 / p95)",
              quantiles("s2s_segments_per_text", "model", M, (0.5, 0.95))),
        Panel("Language detection and truncation",
              [(f"sum by (outcome) ({rate('s2s_language_detections_total', I)})",
                "detection {{outcome}}"),
               (f"sum by (model) ({rate('s2s_truncated_texts_total', M)})",
                "truncated {{model}}")], "ops"),
        Panel("Auth failures and rate limiting",
              [(f"sum by (reason) ({rate('s2s_auth_failures_total', I)})", "auth {{reason}}"),
               (f"sum({rate('s2s_rate_limited_total', I)})", "rate limited")], "ops"),
    ]),
    ("Replicas", [
        Panel("Share of requests per pod (gRPC balance)",
              [(f"sum by (instance) ({rate('s2s_requests_total', f'{PRODUCT},{I}')})"
                f" / on () group_left sum({rate('s2s_requests_total', f'{PRODUCT},{I}')})",
                "{{instance}}")], "percentunit",
              description="Equal lines = balanced. One pod near 100 % means clients pin one "
              "HTTP/2 connection: use the headless Service with round_robin (docs/operations.md)."),
        Panel("Models ready", [(f"sum by (model) (s2s_model_ready{{{M}}})", "{{model}}")],
              kind="stat", description="Replicas whose model answered its warm-up request."),
        Panel("Model and build info",
              [(f"max by (model, revision, family, engine, device, compute_type) "
                f"(s2s_model_info{{{M}}})", "{{model}} {{revision}} {{engine}} {{device}} "
                "{{compute_type}}"),
               (f"count by (version, revision) (s2s_build_info{{{I}}})",
                "build {{version}} {{revision}}")], kind="table"),
    ]),
    ("Process", [
        Panel("CPU (cores)",
              [(f"{rate('process_cpu_seconds_total', I)}", "{{instance}}")], "short"),
        Panel("Resident memory",
              [(f"process_resident_memory_bytes{{{I}}}", "{{instance}}")], "bytes"),
        Panel("Open file descriptors",
              [(f"process_open_fds{{{I}}}", "{{instance}}"),
               (f"process_max_fds{{{I}}}", "limit {{instance}}")]),
    ]),
]  # fmt: skip


def _panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    targets = [
        {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": chr(ord("A") + i)}
        for i, (expr, legend) in enumerate(panel.targets)
    ]
    out: dict[str, Any] = {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DS,
        "gridPos": {"h": 8, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": panel.unit, **panel.options}, "overrides": []},
        "targets": targets,
    }
    if panel.kind == "table":
        out["targets"] = [{**t, "instant": True, "format": "table"} for t in targets]
    return out


def _variable(name: str, label: str, query: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "query": {"query": query, "refId": name},
        "definition": query,
        "refresh": 2,  # on time-range change
        "includeAll": True,
        "multi": True,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
    }


def build() -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    next_id = 1
    y = 0
    for row_title, row_panels in ROWS:
        panels.append(
            {"id": next_id, "type": "row", "title": row_title, "collapsed": False,
             "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []}
        )  # fmt: skip
        next_id += 1
        y += 1
        x = 0
        for panel in row_panels:
            if x + panel.width > 24:
                x, y = 0, y + 8
            panels.append(_panel_json(panel, next_id, x, y))
            next_id += 1
            x += panel.width
        y += 8
    return {
        "uid": UID,
        "title": "seq2seq serving",
        "description": "Translate/Summarize service: traffic, latency, queue, batching, cache, "
        "replicas, process. Generated by scripts/gen_dashboard.py.",
        "tags": ["seq2seq", "grpc"],
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "time": {"from": "now-1h", "to": "now"},
        "timezone": "",
        "annotations": {"list": []},
        "links": [],
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                    "refresh": 1,
                },
                _variable("model", "Model", "label_values(s2s_model_ready, model)"),
                _variable(
                    "instance",
                    "Instance",
                    'label_values(s2s_model_ready{model=~"$model"}, instance)',
                ),
            ],
        },
        "panels": panels,
    }


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the committed JSON differs")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not OUT.is_file() or OUT.read_text() != text:
            print(f"{OUT} is stale: run `make deploy-files`", file=sys.stderr)
            return 1
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
