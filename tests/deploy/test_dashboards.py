"""Grafana dashboards stay in step with the code: valid JSON, every panel explained and on the
provisioned Prometheus datasource, every query about metrics (and labels) the services really export,
no Grafana macro a plain Prometheus could not be given, and PromQL that promtool parses."""

from __future__ import annotations

import functools
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, require_executable
from tests.exposition import exported_series

GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARDS = GRAFANA / "dashboards"
EXPECTED = {"pipeline-overview.json", "feeds-health.json", "alert-volume.json", "delivery-health.json"}
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
# The only Grafana macros allowed in expressions; template variables only as `label=~"$var"`.
MACROS = {"__rate_interval": "1m", "__range": "6h"}
SERVICES = ("ingest", "match", "notify")
# Labels Prometheus adds to every scraped series.
TARGET_LABELS = {"job", "instance"}

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_TOKEN = re.compile(r"(?<![\w:.])([a-zA-Z_:][\w:]*)(\s*\{[^}]*\})?(\s*\()?|(\{[^}]*\})")
_MATCHER = re.compile(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)\s*\"\"")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"}
_VARIABLE = re.compile(r"\$\{?(\w+)|\[\[(\w+)")


# --- what the dashboards ask -------------------------------------------------------------------------


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))


@functools.cache
def load(path: Path) -> dict[str, Any]:
    board: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return board


def iter_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, rows included, and the panels inside (collapsed) rows."""
    for panel in panels:
        yield panel
        yield from iter_panels(panel.get("panels", []))


def content_panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in iter_panels(board.get("panels", [])) if p.get("type") != "row"]


def dashboard_queries() -> list[tuple[str, str, str]]:
    """(dashboard file name, panel title, PromQL expression) of every query of every panel, those in
    rows included. The expressions still hold Grafana's `$__rate_interval`, `$__range` and the
    dashboards' template variables (always as `label=~"$var"`)."""
    return [
        (path.name, panel.get("title", ""), target["expr"])
        for path in dashboard_files()
        for panel in content_panels(load(path))
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


def variables(board: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in board.get("templating", {}).get("list", [])}


def selectors(expr: str) -> list[tuple[str | None, set[str]]]:
    """(metric name, label names in its matchers) of every series selector of a PromQL expression;
    the name is None for a selector with no metric name (`{job="x"}`)."""
    text = _STRING.sub('""', expr)
    text = _RANGE.sub("", text)
    while _GROUPING.search(text):
        text = _GROUPING.sub(" ", text)
    found: list[tuple[str | None, set[str]]] = []
    for m in _TOKEN.finditer(text):
        name, body, call, bare = m.groups()
        if name is not None and name.lower() in _KEYWORDS:  # `or {job="x"}`: an operator, then a selector
            name, bare = None, body
        if bare is not None:
            found.append((None, set(_MATCHER.findall(bare))))
        elif name is not None and call is None:
            found.append((name, set(_MATCHER.findall(body or ""))))
    return found


def substitute(expr: str, values: dict[str, str]) -> str:
    """The expression as Prometheus would get it: macros and variables replaced."""
    return re.sub(r"\$\{?(\w+)\}?", lambda m: values.get(m.group(1), m.group(0)), expr)


# --- what the services export ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """Every series name the three services expose, with the label names it can carry."""
    names: dict[str, set[str]] = {"up": set(TARGET_LABELS)}
    for name, series in exported_series(tmp_path_factory.mktemp("registries")).items():
        names[name] = series.labels | TARGET_LABELS
    return names


# --- the tests ---------------------------------------------------------------------------------------


def test_extractors_see_every_selector() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, channel) (rate(a_seconds_bucket{channel=~"$channel", '
        'result!="ok"}[$__rate_interval]))) / ignoring(x) b_total * 1e3 + count(up{job=~"a|b"} == bool 1)'
        ' or {job="z"}'
    )
    assert selectors(expr) == [
        ("a_seconds_bucket", {"channel", "result"}),
        ("b_total", set()),
        ("up", {"job"}),
        (None, {"job"}),
    ]
    assert selectors('label_replace(x, "dst", "$1", "src", "(.*)")') == [("x", set())]
    assert substitute('rate(a{c=~"$c"}[$__rate_interval])', {"c": ".*", **MACROS}) == 'rate(a{c=~".*"}[1m])'
    # A query of a panel inside a collapsed row is found like any other.
    nested = {"panels": [{"type": "row", "panels": [{"type": "stat", "targets": [{"expr": "up"}]}]}]}
    assert [p["type"] for p in content_panels(nested)] == ["stat"]


def test_the_four_dashboards_exist() -> None:
    assert {p.name for p in dashboard_files()} == EXPECTED


def test_dashboards_have_stable_unique_uids_and_common_settings() -> None:
    uids: dict[str, str] = {}
    for path in dashboard_files():
        board = load(path)
        uid = board.get("uid")
        assert isinstance(uid, str) and re.fullmatch(r"[a-z0-9-]{1,40}", uid), f"{path.name}: uid {uid!r}"
        assert uid not in uids, f"{path.name} and {uids.get(uid)} share the uid {uid}"
        uids[uid] = path.name
        assert board.get("id") is None, f"{path.name}: leave the numeric id to Grafana"
        assert board["title"].startswith("ExportWatch — "), path.name
        assert board["tags"] == ["exportwatch"], path.name
        assert board["refresh"] == "30s", path.name
        assert board["time"] == {"from": "now-6h", "to": "now"}, path.name
        ids = [p["id"] for p in iter_panels(board["panels"])]
        assert len(ids) == len(set(ids)), f"{path.name}: panel ids repeat"
    titles = [load(p)["title"] for p in dashboard_files()]
    assert len(titles) == len(set(titles))


def test_every_panel_is_explained_and_queries_prometheus() -> None:
    problems: list[str] = []
    for path in dashboard_files():
        panels = content_panels(load(path))
        assert panels, f"{path.name} has no panels"
        for panel in panels:
            where = f"{path.name}: {panel.get('title')!r}"
            if not panel.get("title"):
                problems.append(f"{where}: no title")
            if len(panel.get("description", "").strip()) < 40:
                problems.append(f"{where}: no description an operator could use")
            if panel.get("datasource") != DATASOURCE:
                problems.append(f"{where}: datasource {panel.get('datasource')} is not {DATASOURCE}")
            if "gridPos" not in panel:
                problems.append(f"{where}: no gridPos")
            targets = panel.get("targets", [])
            if not any(t.get("expr", "").strip() for t in targets):
                problems.append(f"{where}: no query")
            for target in targets:
                if target.get("datasource") != DATASOURCE:
                    problems.append(f"{where}: target {target.get('refId')} not on {DATASOURCE}")
                if not target.get("expr", "").strip():
                    problems.append(f"{where}: target {target.get('refId')} without an expr")
            refs = [t.get("refId") for t in targets]
            if len(refs) != len(set(refs)) or None in refs:
                problems.append(f"{where}: refIds missing or repeated: {refs}")
    assert not problems, "\n".join(problems)


def test_every_metric_queried_is_exported(exported: dict[str, set[str]]) -> None:
    problems: list[str] = []
    queries = dashboard_queries()
    assert len(queries) >= 40
    for file, title, expr in queries:
        found = selectors(expr)
        if not found:
            problems.append(f"{file}: {title!r}: no metric in {expr}")
        for name, labels in found:
            if name is None:
                problems.append(f"{file}: {title!r}: a selector without a metric name in {expr}")
            elif name not in exported:
                problems.append(f"{file}: {title!r}: {name} is not exported by any service")
            elif unknown := labels - exported[name]:
                problems.append(f"{file}: {title!r}: {name} has no label {sorted(unknown)}")
            if name is not None and name.startswith("exportwatch_") and name.split("_")[1] not in SERVICES:
                problems.append(f"{file}: {title!r}: {name} belongs to no service")
    assert not problems, "\n".join(problems)


def test_counters_are_rated_and_jobs_are_the_scrape_jobs() -> None:
    jobs = {
        job["job_name"]
        for job in yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())[
            "scrape_configs"
        ]
    }
    assert set(SERVICES) <= jobs
    problems: list[str] = []
    for file, title, expr in dashboard_queries():
        for counter in re.findall(r"\b\w+_(?:total|bucket)\b", expr):
            # A counter is only meaningful as a rate or an increase.
            if not re.search(rf"(?:rate|increase)\(\s*{counter}\b", expr):
                problems.append(f"{file}: {title!r}: {counter} used without rate() or increase()")
        if re.search(r"\brate\(", expr) and "[$__rate_interval]" not in expr:
            problems.append(f"{file}: {title!r}: rate() without [$__rate_interval]")
        for value in re.findall(r'\bjob=~?"([^"]*)"', expr):
            if not set(value.split("|")) <= jobs:
                problems.append(f"{file}: {title!r}: job {value!r} is not a scrape job")
    assert not problems, "\n".join(problems)


def test_only_allowed_variables_are_used() -> None:
    problems: list[str] = []
    for path in dashboard_files():
        board = load(path)
        declared = variables(board)
        used: set[str] = set()
        for panel in content_panels(board):
            for target in panel.get("targets", []):
                expr = target.get("expr", "")
                for var in re.findall(r'[a-zA-Z_]\w*=~"\$(\w+)"', expr):
                    used.add(var)
                    if var not in declared:
                        problems.append(f"{path.name}: {panel['title']!r}: ${var} is not a variable")
                rest = re.sub(r'=~"\$\w+"', '=~""', expr)
                for a, b in _VARIABLE.findall(rest):
                    if (a or b) not in MACROS:
                        problems.append(f"{path.name}: {panel['title']!r}: ${a or b} outside a regex matcher")
                if "${" in expr or "[[" in expr:
                    problems.append(f"{path.name}: {panel['title']!r}: use $name, not ${{name}} or [[name]]")
        for name, var in declared.items():
            if name not in used:
                problems.append(f"{path.name}: variable ${name} is not used by any query")
            if var.get("type") != "query" or var.get("datasource") != DATASOURCE:
                problems.append(f"{path.name}: variable ${name} must be a query on {DATASOURCE}")
            if var.get("includeAll") and var.get("allValue") != ".*":
                problems.append(f"{path.name}: variable ${name}: All must be the regex .*")
    assert not problems, "\n".join(problems)


def test_variables_list_values_of_exported_labels(exported: dict[str, set[str]]) -> None:
    for path in dashboard_files():
        for name, var in variables(load(path)).items():
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            m = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", query)
            assert m, f"{path.name}: ${name}: {query!r} is not label_values(metric, label)"
            metric, label = m.groups()
            assert metric in exported, f"{path.name}: ${name}: {metric} is not exported"
            assert label in exported[metric], f"{path.name}: ${name}: {metric} has no label {label}"


def test_promtool_parses_every_expression(tmp_path: Path) -> None:
    promtool = require_executable("promtool", "Debian package prometheus")
    values = dict(MACROS)
    for path in dashboard_files():
        values.update(dict.fromkeys(variables(load(path)), ".*"))
    records = [
        {"record": f"dashboard:query_{i}", "expr": substitute(expr, values)}
        for i, (_, _, expr) in enumerate(dashboard_queries())
    ]
    leftover = [r["expr"] for r in records if "$" in r["expr"]]
    assert not leftover, f"variables Prometheus would get as they are: {leftover}"
    rules = {"groups": [{"name": "dashboards", "rules": records}]}
    file = tmp_path / "dashboards.rules.yml"
    file.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    result = subprocess.run(
        [promtool, "check", "rules", str(file)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_provisioning_points_grafana_at_prometheus_and_the_dashboards() -> None:
    datasources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yaml").read_text())
    (source,) = datasources["datasources"]
    assert source["uid"] == DATASOURCE["uid"] and source["type"] == DATASOURCE["type"]
    assert source["url"] == "http://prometheus:9090"
    assert source["isDefault"] is True
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "exportwatch.yaml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert provider["folder"] == "ExportWatch"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
