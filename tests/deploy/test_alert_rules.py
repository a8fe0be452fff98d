"""The Prometheus alerting rules are valid, unit-tested, written for an operator, loaded by the
Prometheus configuration, and query only metrics the services really export."""

from __future__ import annotations

import fnmatch
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, require_executable
from tests.exposition import exported_series

RULES_DIR = ROOT / "deploy" / "prometheus" / "rules"
RULES = RULES_DIR / "exportwatch.rules.yml"
RULE_TESTS = RULES_DIR / "exportwatch.rules.test.yml"
PROMETHEUS = ROOT / "deploy" / "prometheus" / "prometheus.yml"
# Where compose.yaml mounts deploy/prometheus/rules inside the Prometheus container.
MOUNTED_RULES_DIR = "/etc/prometheus/rules"
# The runbook anchors live in docs/operations.md.
RUNBOOK_DOCS = (ROOT / "docs" / "operations.md",)
SEVERITIES = {"critical", "warning", "info"}
# Series Prometheus makes itself rather than scrapes from a service.
PROMETHEUS_SERIES = {"up"}
# Labels Prometheus adds to every scraped series.
TARGET_LABELS = {"job", "instance"}


def _promtool() -> str:
    promtool = require_executable("promtool", "Debian package prometheus")
    return promtool


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=120, check=False)


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def rule_queries() -> list[tuple[str, str]]:
    """(alert or recording rule name, PromQL expression) of every rule in the rules file."""
    return [(rule.get("alert") or rule["record"], str(rule["expr"])) for rule in _rules()]


_NOT_METRICS = {
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "bool",
    "inf",
    "nan",
}


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects: identifiers that are not functions, aggregations,
    keywords, label names (in matchers and in by/without/on/ignoring/group_* lists) or durations."""
    text = re.sub(r"#[^\n]*", " ", expr)
    text = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`', '""', text)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.:])([A-Za-z_:][\w:]*)(\s*\()?", text):
        word, call = match.groups()
        if call is None and word.lower() not in _NOT_METRICS:
            names.add(word)
    return names


def selectors(expr: str) -> list[tuple[str, dict[str, str]]]:
    """(metric name, equality matchers) of every ``name{label="value", ...}`` selector in ``expr``."""
    found = []
    for match in re.finditer(r"(?<![\w.:])([A-Za-z_:][\w:]*)\s*\{([^}]*)\}", expr):
        equal = dict(re.findall(r'(\w+)\s*=\s*"((?:\\.|[^"\\])*)"', match.group(2)))
        found.append((match.group(1), equal))
    return found


Exposition = dict[str, list[dict[str, str]]]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exposition:
    """What the three services expose, from their real registries: series names, and the label sets of
    the series they create at start (counters by outcome, reason, channel...)."""
    series = exported_series(tmp_path_factory.mktemp("registries"))
    return {name: s.samples for name, s in series.items()}


def test_promtool_checks_the_alert_rules() -> None:
    result = _run(_promtool(), "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rule_unit_tests_pass() -> None:
    result = _run(_promtool(), "test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_configuration_loads_the_rules(tmp_path: Path) -> None:
    config = yaml.safe_load(PROMETHEUS.read_text(encoding="utf-8"))
    patterns = config["rule_files"]
    mounted = [f"{MOUNTED_RULES_DIR}/{path.name}" for path in sorted(RULES_DIR.iterdir())]
    loaded = {path for path in mounted if any(fnmatch.fnmatch(path, p) for p in patterns)}
    assert loaded == {f"{MOUNTED_RULES_DIR}/{RULES.name}"}, "the rules, and not their unit tests, are loaded"
    # The same configuration with the rules where the glob points inside the container.
    config["rule_files"] = [p.replace(MOUNTED_RULES_DIR, str(RULES_DIR)) for p in patterns]
    local = tmp_path / "prometheus.yml"
    local.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = _run(_promtool(), "check", "config", str(local))
    assert result.returncode == 0, result.stdout + result.stderr
    assert RULES.name in result.stdout, result.stdout


def test_every_rule_has_severity_summary_description_and_runbook() -> None:
    docs = "\n".join(path.read_text(encoding="utf-8") for path in RUNBOOK_DOCS if path.exists())
    problems = []
    for rule in _rules():
        name = rule.get("alert") or rule.get("record")
        if "alert" not in rule:
            continue
        if rule.get("labels", {}).get("severity") not in SEVERITIES:
            problems.append(f"{name}: severity label must be one of {sorted(SEVERITIES)}")
        annotations = rule.get("annotations", {})
        for key in ("summary", "description"):
            if not str(annotations.get(key, "")).strip():
                problems.append(f"{name}: no {key} annotation")
        runbook = str(annotations.get("runbook_url", ""))
        found = re.fullmatch(r"docs/operations\.md#([a-z0-9-]+)", runbook)
        if not found:
            problems.append(f"{name}: runbook_url must be docs/operations.md#<anchor>, not {runbook!r}")
        elif f'<a id="{found.group(1)}"></a>' not in docs:
            problems.append(f'{name}: no <a id="{found.group(1)}"></a> in {[p.name for p in RUNBOOK_DOCS]}')
    assert not problems, "\n".join(problems)


def test_every_alert_rule_has_a_firing_and_a_quiet_test_case() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))
    assert tests["rule_files"] == [RULES.name]
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in tests["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
            for alert in check.get("exp_alerts") or []:
                assert alert.get("exp_annotations"), f"{check['alertname']}: annotations are not checked"
    alerts = {rule["alert"] for rule in _rules() if "alert" in rule}
    assert not alerts - firing, f"no test case where these fire: {sorted(alerts - firing)}"
    assert not alerts - quiet, f"no test case where these must not fire: {sorted(alerts - quiet)}"
    assert not (firing | quiet) - alerts, f"tests of unknown alerts: {sorted((firing | quiet) - alerts)}"


def test_metric_name_extractor_on_rule_syntax() -> None:
    expr = """
      sum by (job, topic) (increase(exportwatch_a_total{outcome="error", x=~"a|b"}[10m] offset 1m)) > 1e3
      unless on (job) group_left (topic) deriv(max without (instance) (gauge_b)[15m:1m]) > 0
      or absent(up{job="ingest"}) or label_replace(c:recorded, "dst", "$1", "src", "(.*)") and bool 2
    """
    assert metric_names(expr) == {"exportwatch_a_total", "gauge_b", "up", "c:recorded"}
    assert selectors(expr) == [("exportwatch_a_total", {"outcome": "error"}), ("up", {"job": "ingest"})]


def test_rule_queries_use_only_exported_metrics(exported: Exposition) -> None:
    assert "exportwatch_notify_send_attempts_total" in exported
    assert "exportwatch_ingest_source_staleness_seconds" in exported
    queries = rule_queries()
    assert queries
    unknown = {}
    for name, expr in queries:
        assert "__name__" not in expr, f"{name}: select metrics by name, so this test can check them"
        names = metric_names(expr)
        assert names, f"{name}: no metric found in {expr!r}"
        missing = sorted(names - exported.keys() - PROMETHEUS_SERIES)
        if missing:
            unknown[name] = missing
    assert not unknown, f"metrics no service exports: {unknown}"


def test_rule_label_values_are_ones_the_services_use(exported: Exposition) -> None:
    """``outcome="dead"``, ``state="retry"``...: a label value that never occurs makes an alert that never
    fires. Checked against the series the services create at start (those created later, like lag per
    partition, are skipped)."""
    problems = []
    for name, expr in rule_queries():
        for metric, matchers in selectors(expr):
            wanted = {k: v for k, v in matchers.items() if k not in TARGET_LABELS}
            samples = exported.get(metric, [])
            if not wanted or not samples:
                continue
            if not any(all(labels.get(k) == v for k, v in wanted.items()) for labels in samples):
                problems.append(f"{name}: {metric} has no series with {wanted}")
    assert not problems, "\n".join(problems)
