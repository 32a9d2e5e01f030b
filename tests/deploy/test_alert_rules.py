"""deploy/prometheus/rules: promtool accepts them, its unit tests fire and silence every alert,
each alert says what to do, and the autoscaling query computes what it claims."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.deploytools import (
    OPERATIONS_DOC,
    RULES_FILE,
    RULES_TESTS,
    adapter_rules,
    load_rules,
    run,
    tool,
)


def alerts() -> list[dict[str, object]]:
    return [rule for rule in load_rules() if "alert" in rule]


def test_promtool_accepts_the_rules() -> None:
    result = run(tool("promtool", "apt-get install prometheus"), "check", "rules", str(RULES_FILE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    promtool = tool("promtool", "apt-get install prometheus")
    result = run(promtool, "test", "rules", RULES_TESTS.name, cwd=RULES_TESTS.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_case_that_fires_and_one_that_stays_silent() -> None:
    cases = [
        case
        for test in yaml.safe_load(RULES_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]
    for alert in alerts():
        mine = [c for c in cases if c["alertname"] == alert["alert"]]
        assert any(c["exp_alerts"] for c in mine), f"{alert['alert']} never fires in a test"
        assert any(not c["exp_alerts"] for c in mine), f"{alert['alert']} is never silent"


def test_every_alert_says_what_happened_and_links_its_runbook() -> None:
    doc = OPERATIONS_DOC.read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", heading.strip().lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", doc, re.M)
    }
    names = [a["alert"] for a in alerts()]
    assert len(names) == len(set(names))
    for alert in alerts():
        annotations = alert["annotations"]
        assert isinstance(annotations, dict)
        assert annotations["summary"] and annotations["description"], alert["alert"]
        assert alert["labels"]["severity"] in ("critical", "warning")  # type: ignore[index]
        url = annotations["runbook_url"]
        assert url == f"docs/operations.md#{str(alert['alert']).lower()}", url
        assert url.split("#")[1] in anchors, f"docs/operations.md has no section {url}"


def test_the_issue_list_of_alerts_is_covered() -> None:
    names = {a["alert"] for a in alerts()}
    assert {
        "S2SErrorBudgetBurnFast", "S2SErrorBudgetBurnSlow", "S2SLatencyP99High",
        "S2SQueueWaitHigh", "S2SOverloadRejections", "S2SModelNotReady", "S2STargetDown",
        "S2SNoReadyReplica", "S2SRedisDown", "S2SCacheErrors", "S2SCacheHitRatioCollapse",
    } <= names  # fmt: skip


def test_adapter_queue_wait_is_the_text_weighted_mean(tmp_path: Path) -> None:
    """The HPA's queue-wait metric on a pod serving a busy and an idle model, with few texts.

    The busy model's texts waited 0.5 s each (30 per minute); the idle model's counters do not
    move. The true mean is 0.5 s: averaging per-model ratios would report 0.25 s and a `1 +`
    in the denominator 0.5 x 30/31 (triton-inference-server#8979); an idle pod reads 0, not NaN.
    """
    query = adapter_rules()["s2s_queue_wait_seconds_mean"]
    expr = query.replace("<<.LabelMatchers>>", 'namespace="prod",pod="s2s-a"').replace(
        "<<.GroupBy>>", "pod"
    )
    idle = query.replace("<<.LabelMatchers>>", 'namespace="prod",pod="s2s-b"').replace(
        "<<.GroupBy>>", "pod"
    )
    series = {
        's2s_queue_wait_seconds_sum{namespace="prod",pod="s2s-a",model="busy"}': "0+15x10",
        's2s_queue_wait_seconds_count{namespace="prod",pod="s2s-a",model="busy"}': "0+30x10",
        's2s_queue_wait_seconds_sum{namespace="prod",pod="s2s-a",model="idle"}': "3+0x10",
        's2s_queue_wait_seconds_count{namespace="prod",pod="s2s-a",model="idle"}': "7+0x10",
        's2s_queue_wait_seconds_sum{namespace="prod",pod="s2s-b",model="busy"}': "1+0x10",
        's2s_queue_wait_seconds_count{namespace="prod",pod="s2s-b",model="busy"}': "2+0x10",
    }
    unit = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "15s",
                "input_series": [{"series": s, "values": v} for s, v in series.items()],
                "promql_expr_test": [
                    {
                        "expr": expr,
                        "eval_time": "2m",
                        "exp_samples": [{"labels": '{pod="s2s-a"}', "value": 0.5}],
                    },
                    {
                        "expr": idle,
                        "eval_time": "2m",
                        "exp_samples": [{"labels": '{pod="s2s-b"}', "value": 0}],
                    },
                ],
            }
        ],
    }
    path = tmp_path / "adapter.test.yml"
    path.write_text(yaml.safe_dump(unit))
    result = run(tool("promtool", "apt-get install prometheus"), "test", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
