"""The labelled evaluation set (tests/eval): the matcher's precision and recall gates, the set's
composition, and clear errors for broken case files."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from services.match.core.engine import Matcher
from services.match.core.limits import MatchLimits
from tools.cli import main
from tools.evaluation import (
    LANGUAGES,
    CaseFileError,
    LoadedCase,
    Report,
    default_cases_path,
    evaluate,
    format_report,
    load_cases,
)

MINIMUM = 0.95  # overall and per language (issue 15)
PATTERN_MINIMUM = 0.8  # per pattern: a few dozen cases each, where one case moves precision by 0.05


@pytest.fixture(scope="module")
def cases(samples_dir: Path) -> list[LoadedCase]:
    return load_cases(default_cases_path(), samples_dir)


@pytest.fixture(scope="module")
def report(cases: list[LoadedCase]) -> Report:
    return evaluate(Matcher.load(), cases)


def test_precision_and_recall_gates(report: Report) -> None:
    text = format_report(report)
    print(text)
    scores = {"overall": report.overall, **report.by_language}
    for name, score in scores.items():
        assert score.precision is not None and score.precision >= MINIMUM, f"{name} precision\n{text}"
        assert score.recall is not None and score.recall >= MINIMUM, f"{name} recall\n{text}"
    assert report.below(MINIMUM, PATTERN_MINIMUM) == [], text
    extra, right = report.extra_country
    assert right and extra / right <= 0.08, f"{extra} of {right} right alerts name an extra country\n{text}"


def test_cases_with_an_engine_issue_still_fail(report: Report) -> None:
    """Like a strict xfail: when the engine gets a documented case right, its note must go."""
    fixed = [r.case.id for r in report.failures if r.pending]
    assert fixed == [], f"these pass now, remove their engine_issue: {fixed}"


def test_composition_of_the_set(cases: list[LoadedCase]) -> None:
    own = [c for c in cases if c.case.own]
    assert len(cases) >= 400, len(cases)
    assert sum(not c.case.expect.alert for c in cases) >= 0.4 * len(cases)
    assert all(c.case.pattern is not None for c in cases), [
        c.case.id for c in cases if c.case.pattern is None
    ]
    for lang in LANGUAGES:
        assert sum(c.case.language == lang for c in cases) >= 60, lang
    # every case modelled on a real article says which (the older, hand-written ones may not)
    real = [c for c in own if c.file.stem.endswith(("-real", "-blind"))]
    assert len(real) >= 300 and all(c.case.source for c in real), [
        c.case.id for c in real if not c.case.source
    ]
    for lang in LANGUAGES:
        mine = [c.case for c in own if c.case.language == lang]
        kinds = Counter((c.kind, c.expect.alert) for c in mine)
        for kind in ("news", "licence"):
            for alert in (True, False):
                assert kinds[(kind, alert)] >= 1, (lang, kind, alert, kinds)
    positives = sum(c.case.expect.alert for c in own)
    assert 0.35 <= positives / len(own) <= 0.65, positives  # roughly half and half


def test_every_news_sample_is_labelled(cases: list[LoadedCase], news_samples: dict[str, object]) -> None:
    referenced = {c.event.id for c in cases if c.case.sample is not None and c.case.kind == "news"}
    assert referenced == set(news_samples)
    caat = [c for c in cases if c.case.sample is not None and c.case.kind == "licence"]
    assert len(caat) >= 10
    assert {c.case.expect.alert for c in caat} == {True, False}


def test_samples_are_referenced_not_copied() -> None:
    text = "\n".join(p.read_text(encoding="utf-8") for p in default_cases_path().glob("*.yaml"))
    assert "Mher Hakobyan" not in text and "Toscanabanana" not in text


GOOD_CASE = """
  - id: ok-case
    language: en
    why: A valid case for comparison.
    news: {title: "t", body: "The firm sold facial recognition to China."}
    expect: {alert: true, technologies: [facial-recognition], destinations: [CN]}
"""


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "  - id: no-why\n    language: en\n    news: {title: t, body: b}\n    expect: {alert: false}\n",
            ["broken.yaml", "case 'no-why'", "why", "Field required"],
        ),
        (
            "  - id: bad-tech\n    language: en\n    why: an unknown category\n"
            "    news: {title: t, body: b}\n"
            "    expect: {alert: true, technologies: [face-recognition], destinations: [CN]}\n",
            ["broken.yaml", "case 'bad-tech'", "unknown category face-recognition"],
        ),
        (
            "  - id: bad-lang\n    language: it\n    why: not one of the five languages\n"
            "    news: {title: t, body: b}\n    expect: {alert: false}\n",
            ["broken.yaml", "case 'bad-lang'", "language"],
        ),
        (
            "  - id: two-events\n    language: en\n    why: news and licence at once\n"
            "    news: {title: t, body: b}\n    licence: {items: []}\n    expect: {alert: false}\n",
            ["broken.yaml", "case 'two-events'", "exactly one of news, licence, sample"],
        ),
        (
            "  - id: bad-event\n    language: en\n    why: licence with a bad destination code\n"
            "    licence: {destination_country: China, items: []}\n    expect: {alert: false}\n",
            ["broken.yaml", "case 'bad-event'", "invalid event", "destination_country"],
        ),
        (
            "  - id: alert-no-destination\n    language: en\n    why: an alert must say where to\n"
            "    news: {title: t, body: b}\n    expect: {alert: true, technologies: [spyware]}\n",
            ["broken.yaml", "case 'alert-no-destination'", "must name its destinations"],
        ),
        (
            "  - id: missing-sample\n    language: en\n    why: a sample that does not exist\n"
            "    sample: {file: news.jsonl, id: sample-999}\n    expect: {alert: false}\n",
            ["broken.yaml", "case 'missing-sample'", "sample-999"],
        ),
        (
            "  - id: ok-case\n    language: en\n    why: the same id twice\n"
            "    news: {title: t, body: b}\n    expect: {alert: false}\n",
            ["broken.yaml", "case 'ok-case'", "duplicate id"],
        ),
        ("  - id: [unclosed\n", ["broken.yaml", "line", "invalid YAML"]),
    ],
)
def test_broken_case_file_gives_a_clear_error(
    tmp_path: Path, samples_dir: Path, body: str, expected: list[str]
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("cases:\n" + GOOD_CASE + body, encoding="utf-8")
    with pytest.raises(CaseFileError) as info:
        load_cases(path, samples_dir)
    message = str(info.value)
    for part in expected:
        assert part in message, message


def test_a_valid_file_loads(tmp_path: Path, samples_dir: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("cases:\n" + GOOD_CASE, encoding="utf-8")
    [loaded] = load_cases(path, samples_dir)
    assert loaded.event.id == "eval-ok-case"
    result = evaluate(Matcher.load(), [loaded])
    assert result.overall.tp == 1 and not result.failures


def test_cli_eval(capsys: pytest.CaptureFixture[str], samples_dir: Path, tmp_path: Path) -> None:
    assert main(["eval", "--samples", str(samples_dir)]) == 0
    out = capsys.readouterr().out
    assert "overall (alert decision)" in out and "language nl" in out and "spyware" in out

    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(
        "cases:\n  - id: mislabelled\n    language: en\n    why: a deliberately wrong label\n"
        '    news: {title: t, body: "The firm sold facial recognition to China."}\n'
        "    expect: {alert: false}\n",
        encoding="utf-8",
    )
    assert main(["eval", "--cases", str(wrong), "--samples", str(samples_dir)]) == 1
    captured = capsys.readouterr()
    assert "mislabelled" in captured.out and "FAILED" in captured.err

    assert main(["eval", "--cases", str(tmp_path / "none.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_no_eval_case_is_cut_by_the_default_limits() -> None:
    """(From tests/unit/test_match_limits.py: it reads the whole labelled set.)"""
    cases = load_cases()
    assert cases
    assert [c.case.id for c in cases if MatchLimits().exceeded_by(c.event)] == []
