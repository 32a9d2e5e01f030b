"""The dashboard, the alert rules and the autoscaling queries, checked against the real thing.

Starts two replicas of `python -m service serve` sharing a real redis-server, and the real
`prometheus` scraping both every second with deploy/prometheus/rules loaded. Sends real traffic
twice (good calls, repeats that hit the cache, bad requests, overload refusals, expired
deadlines, concurrent identical texts, round_robin calls over both replicas, a Redis outage),
then evaluates every dashboard query, every rule and every autoscaler query through Prometheus'
HTTP API. A query that returns no series (or only NaN), or names a metric the service does not
export, fails the test; so does a rule Prometheus cannot evaluate. `-s` prints each query with
the value it returned; S2S_DASHBOARD_PNG=path also draws the panels.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from service.api import seq2seq_pb2 as pb
from service.api import seq2seq_pb2_grpc as pb_grpc
from service.client import ClientError, Seq2SeqClient
from service.types import DecodingOptions
from tests.deploytools import (
    OPERATIONS_DOC,
    RULES_FILE,
    Prometheus,
    autoscaler_queries,
    dashboard_targets,
    exported_families,
    exported_samples,
    leaves,
    load_rules,
    metric_names,
    render_dashboard_png,
    running_prometheus,
)
from tests.redisproc import RedisProcess, redis_server
from tests.serverproc import ServerProcess, first_model_dir, scrape, start_server
from tests.torchmodel import TORCH_MODEL

# Metrics of the catalogue that other issues add and main does not export yet. They cannot have
# series, so the series check skips queries that read them; the test asserts each is still
# ABSENT from /metrics, so it fails the moment one lands: then take it off this list.
PENDING_METRICS: dict[str, str] = {}
# Label values of exported metrics that other issues add: queries that select them are excluded
# from the series check in the same way, and the test asserts no such series exists yet.
PENDING_SELECTORS: dict[str, str] = {}
# Series Prometheus makes itself for every target.
PROMETHEUS_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
# The service config docs/operations.md gives clients of the headless Service.
ROUND_ROBIN = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})
RATE_WINDOW = "1m"
UNIQUE = itertools.count()  # stands in for Grafana's $__rate_interval: covers all the traffic below
SENTENCES = [
    "The old man sees the small dog in the garden.",
    "The children read a book.",
    "My sister drinks the cold tea.",
    "The teacher finds the red ball.",
    "We buy a new house.",
    "The cat sleeps on the chair.",
]
REPORT = (
    "Six people were injured on Monday when a bus crashed into a wall near Geneva, police said. "
    "The driver lost control on a wet road, according to a police spokesman."
)


def unique(sentence: str) -> str:
    """A sentence never sent before: a number inside it (a number after its full stop would be
    a segment of its own, kept verbatim, and the sentence a cache hit)."""
    return f"{sentence.rstrip('.')} {next(UNIQUE)}."


def family(sample: str) -> str:
    """The catalogue name a sample or queried name belongs to (histogram suffixes dropped)."""
    return re.sub(r"_(bucket|sum|count)$", "", sample)


@dataclass
class Stack:
    """Two replicas (A with a tiny queue, to be overloaded; B) behind one Prometheus."""

    servers: list[ServerProcess]
    redis: RedisProcess
    metrics_ports: list[int]
    prometheus: Prometheus
    metrics_pages: list[str] = field(default_factory=list)  # each replica's /metrics, at the end
    balanced_calls: list[int] = field(default_factory=list)  # per replica, round_robin channel
    started: float = field(default_factory=time.time)


def _documents(client: Seq2SeqClient) -> None:
    """A document in an undeclared language (detected and split into sentences), one in no
    language (refused), and a report longer than the model reads (truncated)."""
    document = f"{SENTENCES[0]} {SENTENCES[1]}\n\n{SENTENCES[2]}\n"
    reply = client.translate([document], "", "de").results[0]
    assert reply.detected_language == "en" and reply.segments == 3
    with pytest.raises(ClientError):
        client.translate(["qwrtz plmk vbnx hjkl"], "auto", "de")
    assert client.summarize([REPORT * 20]).results[0].truncated_tokens > 0


def _bad_requests(client: Seq2SeqClient) -> list[grpc.StatusCode]:
    calls: list[Any] = [
        lambda: client.translate(["Hello."], "en", "xx"),  # no route
        lambda: client.translate(["Hello."], "en", "de", model="no-such-model"),
        lambda: client.translate([], "en", "de"),  # no texts
        lambda: client.translate(["Hi"], "en", "de", options=DecodingOptions(beam_size=999)),
        lambda: client.summarize([""]),
    ]
    codes = []
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        codes.append(exc.value.code)
    return codes


def _overload(target: str, metrics_port: int) -> int:
    """Many callers at once against one engine slot and a two-request queue: some are refused."""
    slow = DecodingOptions(beam_size=4, min_length=60, max_length=60)
    refused = 0

    def call(i: int) -> grpc.StatusCode:
        # Texts never seen before: a cached or in-flight identical text would cost no engine time.
        texts = [unique(SENTENCES[i % len(SENTENCES)]) for _ in range(8)]
        with Seq2SeqClient(target, timeout=120) as client:
            try:
                client.translate(texts, "en", "de", options=slow)
                return grpc.StatusCode.OK
            except ClientError as exc:
                return exc.code

    for _ in range(5):  # bounded: one round nearly always suffices
        with ThreadPoolExecutor(12) as pool:
            codes = list(pool.map(call, range(12)))
        refused += codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED)
        if refused:
            break
    assert refused, "no call was refused: the overload panels would have nothing to show"
    # Calls whose deadline ends while they queue behind a slow one.
    with ThreadPoolExecutor(4) as pool, Seq2SeqClient(target, timeout=0.05) as hasty:
        busy = pool.submit(call, 0)
        for sentence in SENTENCES[:3]:
            texts = [unique(sentence) for _ in range(4)]
            with contextlib.suppress(ClientError):  # DEADLINE_EXCEEDED, as intended
                hasty.translate(texts, "en", "de", options=slow)
        busy.result()
    return refused


def _send_traffic(stack: Stack) -> None:
    a = stack.servers[0]
    with Seq2SeqClient(a.target, timeout=120) as client:
        client.list_models()
        for sentence in SENTENCES:
            assert client.translate([sentence], "en", "de").results[0].text
        for _ in range(5):  # repeats: cache hits once the result cache exists
            assert client.translate(SENTENCES[:3], "en", "de").results[2].text
        assert client.summarize([REPORT]).results[0].text
        assert client.summarize([REPORT]).results[0].text
        _documents(client)
        _encoder_reuse(client)
        codes = _bad_requests(client)
    _single_flight(a.target, stack.metrics_ports[0])
    assert grpc.StatusCode.INVALID_ARGUMENT in codes and grpc.StatusCode.NOT_FOUND in codes
    _overload(a.target, stack.metrics_ports[0])
    _balanced_traffic(stack)
    _redis_outage(stack)


def _encoder_reuse(client: Seq2SeqClient) -> None:
    """The torch model summarises a new report at two lengths: the second call decodes from the
    first one's encoder output (the encoder-cache panels)."""
    report = f"{REPORT} {next(UNIQUE)}"
    for length in (8, 24):
        options = DecodingOptions(max_length=length)
        assert client.summarize([report], model=TORCH_MODEL, options=options).results[0].text


def _single_flight(target: str, metrics_port: int) -> None:
    """Three callers ask for the same new text at once: one decodes, the others join it."""
    slow = DecodingOptions(beam_size=4, min_length=40, max_length=40)
    joins = scrape(metrics_port, "s2s_cache_singleflight_joins_total")
    for _ in range(5):  # bounded: the callers overlap on the first try nearly always
        text = unique(SENTENCES[1])
        with ThreadPoolExecutor(3) as pool, Seq2SeqClient(target, timeout=60) as client:
            calls = [
                pool.submit(client.translate, [text], "en", "de", options=slow) for _ in range(3)
            ]
            assert len({c.result().results[0].text for c in calls}) == 1
        if scrape(metrics_port, "s2s_cache_singleflight_joins_total") > joins:
            return
    raise AssertionError("no caller joined an identical decode in flight")


def _redis_outage(stack: Stack) -> None:
    """Redis stops while calls come in: they still succeed, the cache counts errors."""
    stack.redis.stop()
    try:
        with Seq2SeqClient(stack.servers[1].target, timeout=60) as client:
            for sentence in SENTENCES[:4]:
                text = unique(sentence)
                assert client.translate([text], "en", "de").results[0].text
    finally:
        stack.redis.start()


def _translated(port: int) -> float:
    return scrape(port, 's2s_requests_total{code="OK",method="Translate"}')


def _balanced_traffic(stack: Stack, calls: int = 24) -> None:
    """The client set-up docs/operations.md shows for the headless Service: one channel over
    every replica's address with the round_robin policy (an `ipv4:` list stands in for DNS)."""
    before = [_translated(p) for p in stack.metrics_ports]
    target = "ipv4:" + ",".join(s.target for s in stack.servers)
    options = [("grpc.service_config", ROUND_ROBIN)]
    with grpc.insecure_channel(target, options=options) as channel:
        stub = pb_grpc.Seq2SeqServiceStub(channel)  # type: ignore[no-untyped-call]
        for i in range(calls):
            request = pb.TranslateRequest(
                texts=[SENTENCES[i % len(SENTENCES)]], source_language="en", target_language="de"
            )
            assert stub.Translate(request, timeout=60, wait_for_ready=True).results[0].text
    after = [_translated(p) for p in stack.metrics_ports]
    stack.balanced_calls = [int(b - a) for a, b in zip(before, after, strict=True)]


def _wait_first_scrape(prometheus: Prometheus) -> None:
    """Traffic must come after a scrape, or every rate would read it as the counters' start."""
    deadline = time.monotonic() + 30
    while len(prometheus.query('up{job="s2s"} == 1')) < 2:
        assert time.monotonic() < deadline, "prometheus never scraped the server"
        time.sleep(0.1)


def _wait_scraped(stack: Stack) -> None:
    """Until Prometheus holds the replicas' request counts and the rules have run on them."""
    expected = sum(scrape(port, "s2s_requests_total") for port in stack.metrics_ports)
    deadline = time.monotonic() + 60
    while True:
        got = stack.prometheus.query("sum(s2s_requests_total)")
        seen = float(got[0]["value"][1]) if got else 0.0
        recorded = stack.prometheus.query("s2s:slo_errors:ratio_rate1h")
        if seen == expected and recorded:
            break
        assert time.monotonic() < deadline, (seen, expected, recorded)
        time.sleep(0.25)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, torch_registry: Path) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("live")
    registry = tmp / "registry"  # the demo model on both engines
    registry.mkdir()
    for model_dir in (first_model_dir(), torch_registry / TORCH_MODEL):
        (registry / model_dir.name).symlink_to(model_dir, target_is_directory=True)
    with redis_server(tmp) as redis:
        servers = [
            start_server(
                tmp,
                "--inter-threads", "1", "--intra-threads", "1",
                "--max-queue-requests", queue, "--max-batch-size", "8",
                env={"S2S_REDIS_URL": redis.url},
                metrics=True,
                models=registry,
            )
            for queue in ("2", "64")
        ]  # fmt: skip
        try:
            for server in servers:
                server.wait_serving()
            ports = [server.metrics_port for server in servers]
            targets = [f"127.0.0.1:{port}" for port in ports]
            with running_prometheus(tmp, targets, [RULES_FILE]) as prometheus:
                stack = Stack(servers, redis, ports, prometheus)
                _wait_first_scrape(prometheus)
                # Round one creates every series (Prometheus reads a series' first sample as its
                # start); round two moves them, so rates and ratios have values to show.
                _send_traffic(stack)
                _wait_scraped(stack)
                _send_traffic(stack)
                _wait_scraped(stack)
                time.sleep(2.5)  # two more rule evaluations on the final samples
                for port in ports:
                    url = f"http://127.0.0.1:{port}/metrics"
                    with urllib.request.urlopen(url, timeout=10) as reply:
                        stack.metrics_pages.append(reply.read().decode())
                yield stack
        finally:
            for server in servers:
                try:
                    server.terminate()
                except subprocess.TimeoutExpired:
                    tail = "\n".join(server.log().splitlines()[-40:])
                    raise AssertionError(f"{server.target} outlived SIGTERM:\n{tail}") from None


def _label_values(prometheus: Prometheus, label: str) -> str:
    values = prometheus.api(f"label/{label}/values", **{"match[]": "s2s_model_ready"})
    assert values, f"no {label} values: the dashboard's ${label} variable would be empty"
    return "(" + "|".join(values) + ")"


def _resolved(names: set[str]) -> set[str]:
    """Names with recorded series replaced by the metrics their rules read."""
    recorded = {r["record"]: r["expr"] for r in load_rules() if "record" in r}
    out: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in recorded:
            todo.extend(metric_names(recorded[name]))
        else:
            out.add(name)
    return out


def _summary(series: list[dict[str, Any]]) -> str:
    parts = []
    for item in series[:4]:
        labels = {
            k: v for k, v in item["metric"].items() if k not in ("job", "instance", "__name__")
        }
        text = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        parts.append(f"{{{text}}} {float(item['value'][1]):.4g}")
    more = f" (+{len(series) - 4} more)" if len(series) > 4 else ""
    return "; ".join(parts) + more if parts else "NO SERIES"


def _check(stack: Stack, queries: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """Evaluate each (name, expr); (report lines, failures)."""
    exported = set().union(*map(exported_samples, stack.metrics_pages))
    lines, failures = [], []
    for name, expr in queries:
        names = metric_names(expr)
        unknown = {
            n for n in _resolved(names)
            if n not in exported and family(n) not in PENDING_METRICS
            and n not in PROMETHEUS_SERIES
        }  # fmt: skip
        pending = sorted({family(n) for n in _resolved(names)} & PENDING_METRICS.keys())
        pending += [s for s in PENDING_SELECTORS if s in expr]
        series = stack.prometheus.query(expr)
        if unknown:
            failures.append(f"{name}: reads {sorted(unknown)}, which the service does not export")
        elif not series and not pending:
            failures.append(f"{name}: no series for {expr}")
        elif series and all(math.isnan(float(s["value"][1])) for s in series):
            failures.append(f"{name}: only NaN (no traffic in the window?) for {expr}")
        shown = f"pending {', '.join(pending)}" if pending and not series else _summary(series)
        lines.append(f"| {name} | `{' '.join(expr.split())}` | {shown} |")
    return lines, failures


def test_pending_metrics_are_still_absent(stack: Stack) -> None:
    """Each pending metric has no samples yet; when one lands, take it off PENDING_METRICS."""
    exported = set().union(*map(exported_families, stack.metrics_pages))
    landed = sorted(set(PENDING_METRICS) & exported)
    assert not landed, f"now exported, remove from PENDING_METRICS: {landed}"
    for selector in PENDING_SELECTORS:
        found = stack.prometheus.query(f"{{{selector}}}")
        assert not found, f"{selector} now has series, remove it from PENDING_SELECTORS"


def test_every_dashboard_query_returns_series(stack: Stack) -> None:
    model = _label_values(stack.prometheus, "model")
    instance = _label_values(stack.prometheus, "instance")
    queries = []
    for title, expr in dashboard_targets():
        concrete = (
            expr.replace("$__rate_interval", RATE_WINDOW)
            .replace("$model", model)
            .replace("$instance", instance)
        )
        assert "$" not in concrete, f"{title}: unresolved variable in {expr}"
        queries.append((title, concrete))
    lines, failures = _check(stack, queries)
    print("\n| panel | query | value |\n|---|---|---|\n" + "\n".join(lines))
    if png := os.environ.get("S2S_DASHBOARD_PNG"):  # a picture for people, on request
        panels: dict[str, list[str]] = {}
        for title, expr in queries:
            panels.setdefault(title, []).append(expr)
        render_dashboard_png(stack.prometheus, list(panels.items()), stack.started, Path(png))
    assert not failures, "\n".join(failures)


def test_every_rule_is_healthy_and_every_alert_signal_has_series(stack: Stack) -> None:
    groups = stack.prometheus.api("rules")["groups"]
    loaded = {rule["name"]: rule for group in groups for rule in group["rules"]}
    rules = load_rules()
    assert set(loaded) == {r.get("alert") or r["record"] for r in rules}
    for name, rule in loaded.items():
        assert rule["health"] == "ok", f"{name}: {rule.get('lastError')}"
    queries = []
    for rule in rules:
        name = rule.get("alert") or rule["record"]
        queries.extend((f"{name} [{i}]", leaf) for i, leaf in enumerate(leaves(rule["expr"])))
    lines, failures = _check(stack, queries)
    print("\n| rule [leaf] | query | value |\n|---|---|---|\n" + "\n".join(lines))
    assert not failures, "\n".join(failures)


def test_autoscaler_queries_return_series(stack: Stack) -> None:
    """The prometheus-adapter rule and the KEDA trigger read metrics that move."""
    lines, failures = _check(stack, autoscaler_queries())
    print("\n| autoscaler query | query | value |\n|---|---|---|\n" + "\n".join(lines))
    assert not failures, "\n".join(failures)


def test_operations_doc_lists_every_exported_metric(stack: Stack) -> None:
    documented = OPERATIONS_DOC.read_text()
    exported = set().union(*map(exported_families, stack.metrics_pages))
    families = {f for f in exported if f.startswith("s2s_")} | set(PENDING_METRICS)
    missing = sorted(f for f in families if f"`{f}`" not in documented)
    assert not missing, f"docs/operations.md's metrics reference lacks {missing}"


def test_metrics_moved_under_the_traffic(stack: Stack) -> None:
    """The counters the panels plot moved: refusals, bad requests, real work and cache hits."""
    query = stack.prometheus.query
    codes = {s["metric"]["code"] for s in query("sum by (code) (s2s_requests_total)")}
    assert {"OK", "INVALID_ARGUMENT", "NOT_FOUND", "RESOURCE_EXHAUSTED"} <= codes, codes
    refused = query('sum(s2s_dropped_total{reason="overloaded"})')
    assert refused and float(refused[0]["value"][1]) > 0
    batches = query("sum(s2s_batch_size_count)")
    assert batches and float(batches[0]["value"][1]) > 0
    hits = {
        s["metric"]["tier"]: float(s["value"][1])
        for s in query('sum by (tier) (s2s_cache_lookups_total{outcome="hit"})')
    }
    # Repeats hit the memory tier; replica B hits in Redis what replica A wrote.
    assert hits.get("memory", 0) > 0 and hits.get("redis", 0) > 0, hits


def test_round_robin_spreads_calls_over_both_replicas(stack: Stack) -> None:
    """The documented client config balances calls, and the per-pod share panel shows it."""
    calls = stack.balanced_calls
    assert min(calls) >= 0.3 * sum(calls), calls
    panel = next(e for t, e in dashboard_targets() if t.startswith("Share of requests per pod"))
    shares = stack.prometheus.query(
        panel.replace("$__rate_interval", RATE_WINDOW).replace("$instance", ".*")
    )
    assert len(shares) == 2 and all(float(s["value"][1]) > 0 for s in shares), shares
