"""`exportwatch match --explain`: every mention with its term and role, every country's verdict and
every rule's outcome, as text for people and as JSON for tools."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.test_match_rules import news
from tools.cli import main

ARTICLE = news(
    "The Chinese telecom giant Huawei helped the authorities of Uganda intercept the calls of opposition "
    "leaders, officials said. An Iran analyst called it a pattern.",
    title="Huawei technicians helped Ugandan officials spy on rivals",
    language="en",
)


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    path = tmp_path / "one.jsonl"
    path.write_text(ARTICLE.model_dump_json() + "\n" + '{"not": "an event"}\n', encoding="utf-8")
    return path


def test_explain_text(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["match", "--explain", str(archive)]) == 1  # the second line is invalid
    out, err = capsys.readouterr()
    assert "line 2:" in err
    assert 'destination CN: "Chinese" (adjective) -> origin: company noun "giant" with it' in out
    assert 'destination UG: "Uganda" (name) -> destination: authority noun "authorities" with it' in out
    assert 'destination IR: "Iran" (name) -> person: person noun "analyst" with it' in out
    assert 'technology telecom-interception: "intercept the calls"' not in out  # the term is the verb
    assert 'technology telecom-interception: "intercept" as' not in out
    assert "UG (further tier): DESTINATION" in out
    assert "CN (core tier): not counted: not a destination: only as origin" in out
    assert "news.technology_destination: FIRED, high: same sentence" in out
    assert "news.surveillance_destination: no alert: not tried: an earlier rule fired" in out


def test_explain_json(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["match", "--explain", "--json", str(archive)])
    doc = json.loads(capsys.readouterr().out.splitlines()[0])
    assert doc["event_id"] == ARTICLE.id
    roles = {(m["ref"], m["role"]) for m in doc["mentions"] if m["kind"] == "destination"}
    assert {("CN", "origin"), ("UG", "destination"), ("IR", "person")} <= roles
    assert [r["rule"] for r in doc["rules"] if r["fired"]] == ["news.technology_destination"]


def test_explain_says_why_nothing_fired(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "quiet.jsonl"
    path.write_text(news("The minister visited Egypt.").model_dump_json() + "\n", encoding="utf-8")
    assert main(["match", "--explain", str(path)]) == 0
    out = capsys.readouterr().out
    assert "no technology, watched code, vendor or surveillance technology named" in out


def test_json_needs_explain(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["match", "--json", str(tmp_path / "x.jsonl")])
