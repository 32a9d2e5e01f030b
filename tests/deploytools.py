"""Support for tests/deploy: external tools, a real Prometheus and Redis, PromQL reading.

The PromQL helpers are deliberately small: they find the metric names a query reads and split an
alert expression into the sub-queries whose series the live test requires.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.serverproc import free_port

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
RULES_FILE = DEPLOY / "prometheus" / "rules" / "seq2seq.rules.yml"
RULES_TESTS = DEPLOY / "prometheus" / "tests" / "seq2seq.rules.test.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "seq2seq-serving.json"
OPERATIONS_DOC = ROOT / "docs" / "operations.md"
K8S = DEPLOY / "k8s"
ADAPTER_VALUES = K8S / "prometheus-adapter" / "values.yaml"
KEDA_SCALED_OBJECT = K8S / "components" / "keda" / "scaledobject.yaml"


# Settings the deployment files already pass that other issues add to service/config.py. Each
# must still be unknown to Settings (a test checks); when one lands, take it off this list.
PENDING_SETTINGS: dict[str, str] = {}


def known_settings() -> set[str]:
    """Environment variable names service/config.py reads (S2S_<FIELD>, nested sections too)."""
    from dataclasses import fields, is_dataclass

    from service.config import Settings

    names: set[str] = set()
    for f in fields(Settings):
        default = getattr(Settings(), f.name)
        inner = fields(default) if is_dataclass(default) else ()
        names.update("S2S_" + g.name.upper() for g in inner)
        if not inner:
            names.add("S2S_" + f.name.upper())
    return names


def tool(name: str, install: str) -> str:
    """Path of an external tool; skip loudly where it is missing, fail in CI (.ci/run sets CI)."""
    beside_python = Path(sys.executable).parent / name
    found = str(beside_python) if beside_python.is_file() else shutil.which(name)
    if found:
        return found
    message = f"{name} is not installed: {install} (.ci/run installs it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def run(*args: str, cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def load_rules() -> list[dict[str, Any]]:
    """Every rule (recording and alerting) of the rules file, in order."""
    doc = yaml.safe_load(RULES_FILE.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def dashboard_targets() -> list[tuple[str, str]]:
    """(panel title, expr) for every query of every dashboard panel."""
    doc = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"])
        for panel in doc["panels"]
        for target in panel.get("targets", [])
    ]


def exported_samples(metrics_text: str) -> set[str]:
    """Names of the samples a /metrics page holds (families without samples do not count)."""
    return {
        sample.name
        for family in text_string_to_metric_families(metrics_text)
        for sample in family.samples
    }


def exported_families(metrics_text: str) -> set[str]:
    """Catalogue names (counters with `_total`) of the metrics that have samples. The text
    format's `*_created` timestamps of counters and histograms are not metrics of their own."""
    return {
        family.name + ("_total" if family.type == "counter" else "")
        for family in text_string_to_metric_families(metrics_text)
        if family.samples and not family.name.endswith("_created")
    }


# --- PromQL ------------------------------------------------------------------------------------

_AGGREGATIONS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio",
}  # fmt: skip
_GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_KEYWORDS = {"bool", "offset", "and", "or", "unless", "inf", "nan", "atan2"} | _AGGREGATIONS
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_NUMBER = re.compile(r"(0x[0-9a-fA-F]+|\d+(\.\d*)?([eE][+-]?\d+)?|\.\d+)")
_CLOSE = {"(": ")", "{": "}", "[": "]"}


def _skip_string(expr: str, i: int) -> int:
    quote = expr[i]
    i += 1
    while i < len(expr) and expr[i] != quote:
        i += 2 if expr[i] == "\\" and quote != "`" else 1
    return i + 1


def _skip_group(expr: str, i: int) -> int:
    """Index just after the bracket group that opens at i (strings inside are skipped)."""
    stack = [_CLOSE[expr[i]]]
    i += 1
    while i < len(expr) and stack:
        ch = expr[i]
        if ch in "\"'`":
            i = _skip_string(expr, i)
            continue
        if ch in _CLOSE:
            stack.append(_CLOSE[ch])
        elif ch == stack[-1]:
            stack.pop()
        i += 1
    return i


def metric_names(expr: str) -> set[str]:
    """Metric (and recorded-series) names a query reads."""
    names: set[str] = set()
    i = 0
    while i < len(expr):
        ch = expr[i]
        if ch in "\"'`":
            i = _skip_string(expr, i)
        elif ch in "{[":
            i = _skip_group(expr, i)
        elif (number := _NUMBER.match(expr, i)) and (i == 0 or not expr[i - 1].isalnum()):
            i = number.end()
        elif ident := _IDENT.match(expr, i):
            word = ident.group()
            j = ident.end()
            while j < len(expr) and expr[j].isspace():
                j += 1
            opens = j < len(expr) and expr[j] == "("
            if word in _GROUPING and opens:
                j = _skip_group(expr, j)
            elif not opens and word not in _KEYWORDS and word not in _GROUPING:
                names.add(word)
            i = j
        else:
            i += 1
    return names


_SET_OPS = ("and", "or", "unless")
_COMPARISONS = ("==", "!=", ">=", "<=", ">", "<")
_MODIFIER = re.compile(
    r"^\s*(bool\b|(on|ignoring)\s*\([^)]*\)|(group_left|group_right)\s*(\([^)]*\))?)\s*"
)


def _split_top(expr: str) -> list[str]:
    """Operands of the set and comparison operators at the top level of expr."""
    parts: list[str] = []
    start = i = 0
    while i < len(expr):
        ch = expr[i]
        if ch in "\"'`":
            i = _skip_string(expr, i)
            continue
        if ch in _CLOSE:
            i = _skip_group(expr, i)
            continue
        word = _IDENT.match(expr, i)
        if word and (i == 0 or not (expr[i - 1].isalnum() or expr[i - 1] in "_:")):
            if word.group() in _SET_OPS:
                parts.append(expr[start:i])
                start = i = word.end()
                continue
            i = word.end()
            continue
        op = next((c for c in _COMPARISONS if expr.startswith(c, i)), None)
        if op:
            parts.append(expr[start:i])
            start = i = i + len(op)
            continue
        i += 1
    parts.append(expr[start:])
    return parts


def _unwrap(expr: str) -> str:
    expr = expr.strip()
    while expr.startswith("(") and _skip_group(expr, 0) == len(expr):
        expr = expr[1:-1].strip()
    return expr


def leaves(expr: str) -> list[str]:
    """The sub-queries of an alert expression that must return series when its data exists.

    `A / B > 0.05 and C > 1` -> [`A / B`, `C`]; `absent(X)` -> [X]; number literals dropped.
    """
    expr = _unwrap(expr)
    parts = _split_top(expr)
    if len(parts) > 1:
        return [leaf for part in parts for leaf in leaves(_MODIFIER.sub("", part, count=1))]
    absent = re.fullmatch(r"absent\s*\((.*)\)", expr, re.S)
    if absent:
        return leaves(absent.group(1))
    return [expr] if metric_names(expr) else []


# --- Real processes ----------------------------------------------------------------------------


@dataclass
class Prometheus:
    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def api(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=30) as reply:
            body = json.loads(reply.read())
        if body.get("status") != "success":
            raise RuntimeError(f"{path} {params}: {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The series an instant query returns now ([] for none)."""
        data = self.api("query", query=expr)
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        return list(data["result"])

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited:\n{self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"prometheus not ready:\n{self.log_path.read_text()}")


@contextmanager
def running_prometheus(
    tmp_dir: Path, targets: list[str], rule_files: list[Path], job: str = "s2s"
) -> Iterator[Prometheus]:
    """The real `prometheus` scraping `targets` every second, evaluating rules every second."""
    binary = tool("prometheus", "apt-get install prometheus")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": targets}]}],
    }
    config_path = tmp_dir / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config))
    port = free_port()
    log_path = tmp_dir / "prometheus.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                binary, f"--config.file={config_path}",
                f"--storage.tsdb.path={tmp_dir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    prometheus = Prometheus(proc, f"http://127.0.0.1:{port}", log_path)
    try:
        prometheus.wait_ready()
        yield prometheus
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def adapter_rules() -> dict[str, str]:
    """Custom metric name -> metricsQuery of the prometheus-adapter rules the HPA reads."""
    values = yaml.safe_load(ADAPTER_VALUES.read_text())
    return {rule["name"]["as"]: rule["metricsQuery"] for rule in values["rules"]["custom"]}


def keda_triggers() -> dict[str, str]:
    """Trigger name -> Prometheus query of the KEDA ScaledObject."""
    doc = yaml.safe_load(KEDA_SCALED_OBJECT.read_text())
    return {t["name"]: t["metadata"]["query"] for t in doc["spec"]["triggers"]}


def autoscaler_queries() -> list[tuple[str, str]]:
    """(name, query) of the adapter rules and KEDA triggers, made concrete for a Prometheus
    whose targets have no namespace or pod label (`label=""` matches a missing label)."""
    out = [
        (
            f"prometheus-adapter {name}",
            query.replace("<<.LabelMatchers>>", 'namespace="",pod=""').replace(
                "<<.GroupBy>>", "pod"
            ),
        )
        for name, query in adapter_rules().items()
    ]
    out += [
        (f"KEDA trigger {name}", re.sub(r'namespace="[^"]*"', 'namespace=""', query))
        for name, query in keda_triggers().items()
    ]
    return out


def render_dashboard_png(
    prometheus: Prometheus, panels: list[tuple[str, list[str]]], start: float, path: Path
) -> None:
    """Plot each panel's queries over [start, now] as Prometheus answers them (query_range), in
    dashboard order: a picture of what Grafana would show, without Grafana."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = 4
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5 * columns, 2.6 * rows), squeeze=False)
    end = time.time()
    for ax, (title, exprs) in zip(axes.flat, panels, strict=False):
        ax.set_title(title, fontsize=8)
        ax.tick_params(labelsize=6)
        drawn = 0
        for expr in exprs:
            data = prometheus.api(
                "query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step="1"
            )
            for series in data["result"]:
                xs = [float(t) - start for t, _ in series["values"]]
                ys = [float(v) for _, v in series["values"]]
                labels = {k: v for k, v in series["metric"].items() if k not in ("job", "__name__")}
                name = ",".join(labels.values())[:40] or "value"
                ax.plot(xs, ys, linewidth=1, label=name)
                drawn += 1
        if drawn:
            ax.legend(fontsize=5, loc="upper left")
        else:
            ax.text(0.5, 0.5, "no series yet (pending)", ha="center", va="center", fontsize=8)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
