"""Watchlist files: bundled defaults, operator overrides by id, versions, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas import vocabulary
from schemas.events import Decision
from services.match.core import watchlists
from services.match.core.engine import Matcher, WatchlistError
from services.match.core.watchlists import bundled_dir, load
from tests.unit.test_match_licences import licence
from tests.unit.test_match_rules import news, only_alert

TECHNOLOGY_IDS = {
    "facial-recognition",
    "emotion-recognition",
    "biometric-identification",
    "predictive-policing",
    "social-scoring",
    "spyware",
    "telecom-interception",
    "network-surveillance",
    "phone-forensics",
    "video-surveillance",
    "cryptanalysis",
}
CORE = {"CN", "HK", "AE", "BH", "SA", "EG", "BY", "RU", "IR", "MM", "SY", "KP", "TR", "AZ", "KZ", "UZ"}
FURTHER = {
    "TM", "TJ", "ET", "SD", "SS", "LY", "VE", "NI", "CU", "VN", "JO",
    "QA", "OM", "RW", "TH", "KH", "LA", "AF", "IQ", "YE", "ZW", "DZ",
    "UG", "PK", "BD", "TN", "KW", "KG", "ER", "TD", "CM", "BI", "CF", "GQ", "GA", "CG", "CD", "ZM", "TZ",
}  # fmt: skip


def test_bundled_defaults_cover_the_domain() -> None:
    lists = load()
    assert set(lists.technologies) == TECHNOLOGY_IDS
    assert {d for d, e in lists.destinations.items() if e.tier == "core"} == CORE
    assert {d for d, e in lists.destinations.items() if e.tier == "further"} == FURTHER
    assert lists.alert_tiers == {"core", "further"}
    for entry in [*lists.technologies.values(), *lists.destinations.values(), *lists.vendors.values()]:
        assert entry.rationale and entry.source, entry.id
    assert {"nso-group", "candiru", "intellexa", "finfisher", "hacking-team", "nexa-technologies"} <= set(
        lists.vendors
    )
    assert {"hikvision", "dahua", "megvii", "cellebrite", "sandvine", "idemia", "axis-communications"} <= set(
        lists.vendors
    )
    assert lists.codes["5A002"].level == "encryption"
    assert lists.codes["5D002.a.3.b"].level == "exact"


def test_version_is_stable_and_hashes_contents(tmp_path: Path) -> None:
    first = Matcher.load()
    assert first.version == Matcher.load().version
    assert first.version.startswith("wl-") and len(first.version) == 15
    (tmp_path / "vendors.yaml").write_text("vendors: []\n", encoding="utf-8")
    assert Matcher.load([tmp_path]).version != first.version


def test_operator_folder_adds_and_overrides(tmp_path: Path) -> None:
    (tmp_path / "destinations.yaml").write_text(
        """
destinations:
  - id: GE
    name: Georgia
    tier: core
    rationale: Test entry added by an operator.
    names: [Tbilisi]
  - id: TR
    tier: core
    rationale: Removed by the operator for this test.
    enabled: false
""",
        encoding="utf-8",
    )
    matcher = Matcher.load([tmp_path])
    alert = only_alert(matcher, news("Spyware was sold to Georgia."))
    assert alert is not None and alert.destinations == ["GE"]
    assert only_alert(matcher, news("Spyware was sold to Tbilisi police.")) is not None
    assert only_alert(matcher, news("Spyware was sold to Turkey.")) is None
    assert only_alert(matcher, news("Spyware was sold to Egypt.")) is not None  # defaults still there


def test_the_bundled_lists_and_the_shared_vocabulary_agree() -> None:
    """schemas.vocabulary is what notify lets subscriptions name: the same ids as the bundled lists, and
    the same names where the lists give one."""
    lists = load()
    assert set(lists.technologies) == set(vocabulary.TECHNOLOGIES)
    assert set(lists.destinations) == set(vocabulary.DESTINATIONS)
    assert set(lists.vendors) == set(vocabulary.VENDORS)
    assert lists.beyond_vocabulary == {}
    for ident, technology in lists.technologies.items():
        assert vocabulary.TECHNOLOGIES[ident] == technology.name
    for ident, vendor in lists.vendors.items():
        assert vocabulary.VENDORS[ident] == vendor.name
    for ident, destination in lists.destinations.items():
        assert destination.name in (None, vocabulary.DESTINATIONS[ident]), ident


def test_a_bundled_entry_must_be_in_the_shared_vocabulary(monkeypatch: pytest.MonkeyPatch) -> None:
    without = {k: v for k, v in vocabulary.TECHNOLOGIES.items() if k != "spyware"}
    monkeypatch.setitem(watchlists._VOCABULARY, "technologies", without)
    with pytest.raises(WatchlistError) as exc:
        load()
    assert "technologies.yaml: technologies: 'spyware' is not in the shared vocabulary" in str(exc.value)


def test_operator_ids_beyond_the_shared_vocabulary_are_allowed_and_reported(tmp_path: Path) -> None:
    (tmp_path / "destinations.yaml").write_text(
        "destinations:\n  - {id: MN, tier: core, rationale: test}\n  - {id: CN, tier: core, rationale: t}\n",
        encoding="utf-8",
    )
    (tmp_path / "vendors.yaml").write_text(
        "vendors:\n  - {id: acme, name: Acme, rationale: test}\n", encoding="utf-8"
    )
    lists = load([tmp_path])
    assert "MN" in lists.destinations and "acme" in lists.vendors
    assert lists.beyond_vocabulary == {"destinations": ("MN",), "vendors": ("acme",)}


def test_operator_can_enable_the_optional_tier(tmp_path: Path) -> None:
    (tmp_path / "destinations.yaml").write_text("alert_tiers: [core, further, optional]\n", encoding="utf-8")
    assert only_alert(Matcher.load(), news("Spyware was sold to Morocco.")) is None
    assert only_alert(Matcher.load([tmp_path]), news("Spyware was sold to Morocco.")) is not None


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("vendors.yaml", "vendors:\n  - id: x\n    name: X\n", "line 2: vendors.0.rationale: Field required"),
        ("vendors.yaml", "vendors:\n  - id: Bad Id\n    name: X\n    rationale: r\n", "line 2"),
        ("vendors.yaml", "vendors: [\n", "invalid YAML"),
        ("vendors.yaml", "- just a list\n", "must be a mapping"),
        ("colours.yaml", "{}\n", "unknown watchlist file"),
        (
            "destinations.yaml",
            "destinations:\n  - id: GE\n    tier: core\n    rationale: r\n    negative: ['(unclosed']\n",
            "invalid regular expression",
        ),
        (
            "destinations.yaml",
            "destinations:\n  - id: GE\n    tier: top\n    rationale: r\n",
            "line 3: destinations.0.tier",
        ),
        (
            "technologies.yaml",
            "technologies:\n  - id: drones\n    name: Drones\n    rationale: r\n    terms: {en: [spyware]}\n",
            "already a term of technology 'spyware'",
        ),
        (
            "vendors.yaml",
            "vendors:\n  - id: x\n    name: X\n    rationale: r\n    technologies: [drones]\n",
            "unknown technology 'drones'",
        ),
        ("control_codes.yaml", "codes:\n  - {code: ML11, level: exact, label: l, rationale: r}\n", "line 2"),
        (
            "vendors.yaml",
            "vendors:\n  - {id: x, name: X, rationale: r}\n  - {id: x, name: Y, rationale: r}\n",
            "duplicate id 'x'",
        ),
        ("rules.yaml", "news:\n  same_sentence: urgent\n", "line 2: news.same_sentence"),
        ("rules.yaml", "licence:\n  granted: high\n", "line 2: licence.granted: Extra inputs"),
    ],
)
def test_invalid_files_name_the_file_and_the_problem(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    (tmp_path / name).write_text(content, encoding="utf-8")
    with pytest.raises(WatchlistError) as exc:
        Matcher.load([tmp_path])
    assert name in str(exc.value)
    assert message in str(exc.value)


def test_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(WatchlistError, match="not a folder"):
        Matcher.load([tmp_path / "nope"])


def test_bundled_files_ship_as_package_data() -> None:
    names = {p.name for p in bundled_dir().iterdir()}
    assert {
        "technologies.yaml",
        "destinations.yaml",
        "vendors.yaml",
        "control_codes.yaml",
        "rules.yaml",
    } <= names
    assert "__init__.py" in names


def test_rules_are_configurable(tmp_path: Path) -> None:
    body = "Spyware was sold to Egypt."
    assert only_alert(Matcher.load(), news(body)).severity.value == "high"  # type: ignore[union-attr]
    (tmp_path / "rules.yaml").write_text("news:\n  same_sentence: critical\n", encoding="utf-8")
    matcher = Matcher.load([tmp_path])
    assert matcher.lists.rules.news.same_article == "medium"  # settings not named keep their default
    alert = only_alert(matcher, news(body))
    assert alert is not None and alert.severity.value == "critical"
    assert alert.watchlist_version == matcher.version != Matcher.load().version


def test_technology_only_is_off_by_default_and_can_be_enabled(tmp_path: Path) -> None:
    body = "The police in Rotterdam tested facial recognition and Cellebrite phone extraction."
    assert only_alert(Matcher.load(), news(body)) is None
    (tmp_path / "rules.yaml").write_text("news:\n  technology_only: low\n", encoding="utf-8")
    alert = only_alert(Matcher.load([tmp_path]), news(body))
    assert alert is not None
    assert alert.rule == "news.technology_only" and alert.severity.value == "low"
    assert alert.destinations == []
    assert {"facial-recognition", "phone-forensics"} <= set(alert.technologies)
    assert alert.summary.startswith("Facial recognition")
    assert "no high-risk destination" in alert.summary


def test_a_rule_can_be_switched_off(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(
        "licence:\n  enabled: false\nnews:\n  enabled: true\n", encoding="utf-8"
    )
    matcher = Matcher.load([tmp_path])
    assert only_alert(matcher, news("Spyware was sold to Egypt.")) is not None
    assert only_alert(matcher, licence("5A001.j", "EG")) is None
    assert only_alert(Matcher.load(), licence("5A001.j", "EG")) is not None


def test_licence_severities_are_configurable(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text("licence:\n  refused: high\n", encoding="utf-8")
    matcher = Matcher.load([tmp_path])
    refused = licence("5A001.j", "EG", decision=Decision.REFUSED)
    assert only_alert(Matcher.load(), refused).severity.value == "medium"  # type: ignore[union-attr]
    assert only_alert(matcher, refused).severity.value == "high"  # type: ignore[union-attr]


def test_the_unnamed_surveillance_rule_can_be_switched_off(tmp_path: Path) -> None:
    body = "The firm exported surveillance equipment to Egypt."
    assert only_alert(Matcher.load(), news(body)) is not None
    (tmp_path / "rules.yaml").write_text("news:\n  generic_technology: null\n", encoding="utf-8")
    assert only_alert(Matcher.load([tmp_path]), news(body)) is None
