"""Alert rules: promtool checks them, runs their unit tests, and every alert has a test in
which it fires."""

from __future__ import annotations

import json
import re
import subprocess

from tests.ops.tools import DASHBOARD, DEPLOY, RULE_TESTS, RULES, load_yaml, tool


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("promtool"), *args], capture_output=True, text=True, timeout=120, cwd=DEPLOY
    )


def test_promtool_checks_the_rules() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    files = sorted(str(p) for p in RULE_TESTS.glob("*.yml"))
    assert files
    result = promtool("test", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test_in_which_it_fires() -> None:
    alerts = {
        rule["alert"]
        for group in load_yaml(RULES)["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    fired: set[str] = set()
    for path in RULE_TESTS.glob("*.yml"):
        for test in load_yaml(path)["tests"]:
            for case in test.get("alert_rule_test", []):
                if case.get("exp_alerts"):
                    fired.add(case["alertname"])
    assert alerts, "no alerts found"
    assert alerts - fired == set(), "alerts without a firing unit test"
    expected = {
        "NnmatchServiceDown",
        "NnmatchMatcherNotReady",
        "NnmatchConsumerLagGrowing",
        "NnmatchDeadLetters",
        "NnmatchDeliveryFailureRatio",
        "NnmatchPipelineLatencyBudgetFastBurn",
    }
    assert expected <= alerts, "the failures the issue names each have an alert"


def test_the_compose_prometheus_config_is_valid() -> None:
    result = promtool(
        "check", "config", "--syntax-only", str(DEPLOY / "prometheus" / "prometheus.yml")
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dashboards_recorded_series_are_recorded_by_the_rules() -> None:
    recorded = {
        rule["record"]
        for group in load_yaml(RULES)["groups"]
        for rule in group["rules"]
        if "record" in rule
    }
    panels = json.loads(DASHBOARD.read_text())["panels"]
    exprs = " ".join(t["expr"] for p in panels for t in p.get("targets", []))
    used = set(re.findall(r"\bnnmatch:[a-z0-9_:]+", exprs))
    assert {
        "nnmatch:acceptance_ratio_by_region:rate1d",
        "nnmatch:acceptance_ratio_by_hub:rate1d",
    } <= used
    assert used - recorded == set(), "the dashboard names series no rule records"
