"""The licence rule: watched control codes or surveillance items to high-risk destinations."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from schemas.events import Decision, EvidenceKind, LicenceItem, LicenceRecord, Severity
from services.match.core.engine import Matcher
from tests.unit.test_match_rules import NOW, only_alert


def licence(
    code: str | None,
    country: str | None,
    name: str | None = None,
    decision: Decision = Decision.GRANTED,
    value: float | None = 120000,
    description: str | None = None,
    **extra: Any,
) -> LicenceRecord:
    return LicenceRecord(
        id=f"lic-{code}-{country}-{name}-{decision}",
        authority="UK ECJU (via CAAT)",
        licensing_country="GB",
        destination_country=country,
        destination_name=name,
        items=[LicenceItem(control_code=code, description=description)],
        value=value,
        currency="GBP",
        decision=decision,
        source_url="https://github.com/caatdata/uk-arms-export-data",
        **extra,
    )


@pytest.mark.parametrize(
    ("code", "country", "decision", "severity", "technologies"),
    [
        ("5A001.j", "EG", Decision.GRANTED, Severity.CRITICAL, ["network-surveillance"]),
        ("5A001j", "EG", Decision.GRANTED, Severity.CRITICAL, ["network-surveillance"]),
        ("5.A.1.j", "EG", Decision.GRANTED, Severity.CRITICAL, ["network-surveillance"]),
        ("5A001.f.4.", "BY", Decision.GRANTED, Severity.CRITICAL, ["telecom-interception"]),
        ("4A005", "AE", Decision.GRANTED, Severity.CRITICAL, ["spyware"]),
        ("4D004", "AE", Decision.GRANTED, Severity.CRITICAL, ["spyware"]),
        ("4E001.c", "AE", Decision.GRANTED, Severity.CRITICAL, ["spyware"]),
        ("5D002a3b", "CN", Decision.GRANTED, Severity.CRITICAL, ["phone-forensics"]),
        # parent-only codes and catch-alls name no surveillance item: medium and low
        ("5A001", "CN", Decision.GRANTED, Severity.MEDIUM, ["telecom-interception", "network-surveillance"]),
        ("5D001", "CN", Decision.GRANTED, Severity.MEDIUM, ["telecom-interception", "network-surveillance"]),
        ("End Use", "SA", Decision.GRANTED, Severity.LOW, []),
        ("End Use", "SY", Decision.REFUSED, Severity.LOW, []),
        ("5A001.j", "EG", Decision.REFUSED, Severity.MEDIUM, ["network-surveillance"]),
        ("4A005", "AE", Decision.REVOKED, Severity.MEDIUM, ["spyware"]),
        ("5A001.j", "EG", Decision.PENDING, Severity.HIGH, ["network-surveillance"]),
        ("5A001", "EG", Decision.UNKNOWN, Severity.MEDIUM, ["telecom-interception", "network-surveillance"]),
    ],
)
def test_licence_severities(
    matcher: Matcher,
    code: str,
    country: str,
    decision: Decision,
    severity: Severity,
    technologies: list[str],
) -> None:
    record = licence(code, country, decision=decision)
    alert = only_alert(matcher, record)
    assert alert is not None
    assert alert.severity is severity
    assert alert.technologies == technologies
    assert alert.destinations == [country]
    assert alert.rule == "licence.controlled_item_destination"
    assert alert.url == record.source_url
    code_ev = [ev for ev in alert.evidence if ev.kind is EvidenceKind.CONTROL_CODE]
    assert code_ev and code_ev[0].field == "items.0.control_code"


@pytest.mark.parametrize(
    ("code", "country"),
    [
        ("5A002", "CN"),  # encryption alone
        ("5A002a1", "CN"),
        ("5D002", "CN"),
        ("5E002", "AE"),
        ("ML10", "SA"),
        ("2B352", "CN"),
        ("5A001.j", "FR"),  # not a high-risk destination
        ("5A001.j", "MA"),  # optional tier: listed, not alerting by default
        ("5A001.j", None),  # destination unknown
        (None, "CN"),
    ],
)
def test_licences_that_do_not_alert(matcher: Matcher, code: str | None, country: str | None) -> None:
    assert only_alert(matcher, licence(code, country)) is None


def test_summary_and_title(matcher: Matcher) -> None:
    alert = only_alert(matcher, licence("5A001.j", "EG", name="Egypt"))
    assert alert is not None
    assert (
        alert.summary
        == "UK licence granted for 5A001.j (IP network surveillance) to Egypt, value 120,000 GBP."
    )
    assert alert.title == "UK licence granted: 5A001.j to Egypt"
    assert alert.control_codes == ["5A001.j"]


def test_refused_catch_all_summary(matcher: Matcher) -> None:
    alert = only_alert(matcher, licence("End Use", "SY", decision=Decision.REFUSED, value=None))
    assert alert is not None
    assert alert.summary == (
        "UK licence refused for End Use (catch-all control of an unlisted item) to Syria; "
        "no surveillance item is named."
    )
    assert alert.control_codes == ["End Use"]


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Hong Kong Special Administrative Region", "HK"),
        ("China", "CN"),
        ("United Arab Emirates", "AE"),
        ("Korea, North", "KP"),
        ("Saudi Arabia", "SA"),
        ("Russia", "RU"),
    ],
)
def test_destination_name_resolves_when_country_is_null(matcher: Matcher, name: str, code: str) -> None:
    alert = only_alert(matcher, licence("5A001", None, name=name))
    assert alert is not None
    assert alert.destinations == [code]
    dest = [ev for ev in alert.evidence if ev.kind is EvidenceKind.DESTINATION]
    assert dest[0].field == "destination_name"


def test_destination_name_not_high_risk(matcher: Matcher) -> None:
    assert only_alert(matcher, licence("5A001", None, name="Korea, South")) is None
    assert only_alert(matcher, licence("5A001", None, name="Georgia")) is None


def test_description_term_without_watched_code(matcher: Matcher) -> None:
    alert = only_alert(matcher, licence("ML11", "BH", description="IMSI catchers and accessories"))
    assert alert is not None
    assert alert.severity is Severity.HIGH
    assert alert.technologies == ["telecom-interception"]
    assert [ev.field for ev in alert.evidence if ev.kind is EvidenceKind.TECHNOLOGY] == [
        "items.0.description"
    ]
    assert "goods described as telecom interception" in alert.summary


def test_encryption_with_surveillance_description_alerts(matcher: Matcher) -> None:
    alert = only_alert(matcher, licence("5A002", "CN", description="Deep packet inspection appliances"))
    assert alert is not None and alert.technologies == ["network-surveillance"]


def test_ratings_description_of_encryption_does_not_alert(matcher: Matcher) -> None:
    record = licence("5A002", "CN", description="Telecommunications and information security")
    assert only_alert(matcher, record) is None


def _caat_rows(samples_dir: Path) -> list[dict[str, str]]:
    with (samples_dir / "uk-caat-values-2014-sample.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_synthetic_caat_rows_from_the_brief(matcher: Matcher) -> None:
    rows = [
        {"licence_group": "1", "rating": "5A001", "country": "China", "value": "9995", "refused": "0"},
        {"licence_group": "2", "rating": "End Use", "country": "Saudi Arabia", "value": "0", "refused": "0"},
        {"licence_group": "3", "rating": "5A002", "country": "China", "value": "3636", "refused": "0"},
    ]
    severities = [only_alert(matcher, _caat_record(row)) for row in rows]
    # 5A001 for under 10,000 GBP: a parent code (medium) one step lower; End Use with no value: low
    assert [a.severity if a else None for a in severities] == [Severity.LOW, Severity.LOW, None]


def _caat_record(row: dict[str, str]) -> LicenceRecord:
    """A CAAT row as the ingest service publishes it, with the destination left to name resolution."""
    return LicenceRecord(
        id=f"uk-caat-{row['licence_group']}-{row['rating']}-{row['country']}",
        authority="UK ECJU (via CAAT)",
        licensing_country="GB",
        destination_country=None,
        destination_name=row["country"],
        items=[LicenceItem(control_code=row["rating"] or None)],
        value=float(row["value"] or 0),
        currency="GBP",
        decision=Decision.REFUSED if row["refused"] == "1" else Decision.GRANTED,
    )


def test_caat_sample_rows(matcher: Matcher, samples_dir: Path) -> None:
    rows = _caat_rows(samples_dir)
    results = {}
    for row in rows:
        record = _caat_record(row)
        results[(row["licence_group"], row["rating"], row["country"])] = (row, only_alert(matcher, record))
    alerted = [(row, alert) for row, alert in results.values() if alert is not None]
    assert alerted
    for row, alert in alerted:
        assert row["rating"] in {"5A001", "5D001", "5E001", "4E001", "End Use", "4A005", "4D004"}, row
        assert alert.severity is expected_caat_severity(row), row
    for row, alert in results.values():
        if row["rating"] in {"5A002", "5D002", "5E002"}:
            assert alert is None, row
    by_row = {(r["rating"], r["country"]): a for r, a in results.values()}
    assert by_row[("5A001", "China")] is not None
    assert by_row[("5A001", "China")].destinations == ["CN"]  # type: ignore[union-attr]
    assert by_row[("End Use", "United Arab Emirates")] is not None
    assert by_row[("End Use", "Georgia")] is None
    assert by_row[("End Use", "Italy")] is None
    assert by_row[("5A002", "China")] is None
    assert by_row[("5A001", "Chile")] is None


# Independent of the watchlists: typed by hand from shared/domain.md. Section 2: the UK ratings
# (parent codes, as CAAT publishes them) that can be surveillance items, and the catch-all.
SURVEILLANCE_RATINGS = {"5A001", "5D001", "5E001", "4A005", "4D004", "4E001", "5A004", "End Use"}
# Section 4, core and further tiers, as CAAT's English country names (Morocco, optional, is not here).
HIGH_RISK_CAAT_NAMES = {
    # core
    "China",
    "Hong Kong Special Administrative Region",
    "United Arab Emirates",
    "Bahrain",
    "Saudi Arabia",
    "Egypt",
    "Belarus",
    "Russia",
    "Iran",
    "Burma",
    "Myanmar",
    "Syria",
    "North Korea",
    "Korea, North",
    "Turkey",
    "Azerbaijan",
    "Kazakhstan",
    "Uzbekistan",
    # further
    "Turkmenistan",
    "Tajikistan",
    "Ethiopia",
    "Sudan",
    "South Sudan",
    "Libya",
    "Venezuela",
    "Nicaragua",
    "Cuba",
    "Vietnam",
    "Jordan",
    "Qatar",
    "Oman",
    "Rwanda",
    "Thailand",
    "Cambodia",
    "Laos",
    "Afghanistan",
    "Iraq",
    "Yemen",
    "Zimbabwe",
    "Algeria",
    "Uganda",
    "Pakistan",
    "Bangladesh",
    "Tunisia",
    "Kuwait",
    "Kyrgyzstan",
    "Eritrea",
    "Chad",
    "Cameroon",
    "Burundi",
    "Central African Republic",
    "Equatorial Guinea",
    "Gabon",
    "Congo",
    "Congo (Democratic Republic)",
    "Democratic Republic of the Congo",
    "Zambia",
    "Tanzania",
}


def expected_caat_severity(row: dict[str, str]) -> Severity:
    """The severity policy of rules.yaml, typed by hand for UK rows (parent codes and End Use only):
    a parent code is medium and End Use low (neither names a surveillance item); under 10,000 GBP one
    step lower; from 1,000,000 GBP one step higher but never above medium; refused: at most medium."""
    order = [Severity.LOW, Severity.MEDIUM, Severity.HIGH]
    level = 0 if row["rating"] == "End Use" else 1
    value = float(row["value"] or 0)
    if 0 < value < 10_000:
        level = max(0, level - 1)
    elif value >= 1_000_000:
        level = min(1, level + 1)
    return order[level]


def test_caat_sample_alerts_exactly_the_independently_computed_rows(
    matcher: Matcher, samples_dir: Path
) -> None:
    """Every row of the UK sample CSV through the real CAAT adapter (with the ratings file, as ingest
    runs it) and the matcher: alerts for exactly the rows with a surveillance rating to a high-risk
    destination, computed from the hand-typed sets above."""
    from services.ingest.core.caat import load_ratings, parse_caat_values

    data = (samples_dir / "uk-caat-values-2014-sample.csv").read_bytes()
    ratings = load_ratings((samples_dir / "uk-caat-ratings.csv").read_bytes())
    rows = _caat_rows(samples_dir)
    records = list(parse_caat_values(data, "uk-caat-values-2014-sample.csv", ratings))
    assert len(records) == len(rows) and all(isinstance(r, LicenceRecord) for r in records)
    unknown = {r["country"] for r in rows} - HIGH_RISK_CAAT_NAMES
    assert "Morocco" in unknown and "Georgia" in unknown and "Nigeria" in unknown  # sanity of the sets

    expected = {
        i
        for i, row in enumerate(rows)
        if row["rating"] in SURVEILLANCE_RATINGS and row["country"] in HIGH_RISK_CAAT_NAMES
    }
    alerted = {}
    for i, record in enumerate(records):
        assert isinstance(record, LicenceRecord)
        alert = only_alert(matcher, record)
        if alert is not None:
            alerted[i] = alert

    def show(indices: set[int]) -> list[tuple[str, str, str]]:
        return sorted((rows[i]["licence_group"], rows[i]["rating"], rows[i]["country"]) for i in indices)

    assert len(expected) > 50
    assert set(alerted) == expected, (
        f"missing: {show(expected - set(alerted))}; unexpected: {show(set(alerted) - expected)}"
    )
    for i, alert in alerted.items():
        assert alert.severity is expected_caat_severity(rows[i]), rows[i]
        assert len(alert.destinations) == 1


def test_licence_alert_is_deterministic(matcher: Matcher) -> None:
    record = licence("5A001.j", "EG")
    assert matcher.evaluate(record, NOW)[0].id == matcher.evaluate(record, NOW)[0].id


@pytest.mark.parametrize(
    ("levels", "described", "value", "decision", "severity"),
    [
        # what the licence is known to cover
        ({"exact"}, False, 120_000, Decision.GRANTED, Severity.CRITICAL),
        ({"parent"}, True, 120_000, Decision.GRANTED, Severity.HIGH),  # surveillance named in the goods
        ({"catch_all"}, True, 120_000, Decision.GRANTED, Severity.HIGH),
        ({"parent"}, False, 120_000, Decision.GRANTED, Severity.MEDIUM),
        ({"catch_all"}, False, 120_000, Decision.GRANTED, Severity.LOW),
        # the value moves it, but a parent code or catch-all with nothing named stays below high
        ({"exact"}, False, 5_000, Decision.GRANTED, Severity.HIGH),
        ({"parent"}, False, 5_000, Decision.GRANTED, Severity.LOW),
        ({"catch_all"}, False, 5_000, Decision.GRANTED, Severity.LOW),
        ({"parent"}, False, 2_000_000, Decision.GRANTED, Severity.MEDIUM),
        ({"catch_all"}, False, 2_000_000, Decision.GRANTED, Severity.MEDIUM),
        ({"parent"}, True, 2_000_000, Decision.GRANTED, Severity.CRITICAL),
        ({"parent"}, False, None, Decision.GRANTED, Severity.MEDIUM),  # value unknown: no move
        # the decision caps it
        ({"exact"}, False, 120_000, Decision.REFUSED, Severity.MEDIUM),
        ({"exact"}, False, 120_000, Decision.REVOKED, Severity.MEDIUM),
        ({"catch_all"}, False, 120_000, Decision.REFUSED, Severity.LOW),
        ({"exact"}, False, 120_000, Decision.PENDING, Severity.HIGH),
        ({"parent"}, True, 120_000, Decision.UNKNOWN, Severity.MEDIUM),
    ],
)
def test_licence_severity_policy(
    levels: set[str], described: bool, value: float | None, decision: Decision, severity: Severity
) -> None:
    from services.match.core.rules import licence_severity
    from services.match.core.watchlists import LicenceRule

    graded = licence_severity(LicenceRule(), decision, levels, described, value)  # type: ignore[arg-type]
    assert graded.severity is severity, graded.reason
    assert graded.reason


def test_catch_all_summary_says_nothing_is_named(matcher: Matcher) -> None:
    alert = only_alert(matcher, licence("End Use", "SA", value=4_000))
    assert alert is not None and alert.severity is Severity.LOW
    assert alert.summary.endswith("value 4,000 GBP; no surveillance item is named.")
