"""The news rule: technology or vendor + high-risk destination, in five languages, with the traps."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from schemas.events import Alert, EvidenceKind, LicenceRecord, NewsArticle, Severity
from services.match.core.engine import Matcher

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
BANDS = {
    Severity.LOW: (0.2, 0.39),
    Severity.MEDIUM: (0.4, 0.64),
    Severity.HIGH: (0.65, 0.84),
    Severity.CRITICAL: (0.85, 1.0),
}


def news(body: str, title: str = "", language: str | None = None, event_id: str = "t-1") -> NewsArticle:
    return NewsArticle(
        id=event_id,
        source="test",
        url="https://example.org/a",
        title=title,
        body=body,
        language=language,
        published_at=NOW,
    )


def field_value(event: NewsArticle | LicenceRecord, path: str) -> str:
    value: Any = event
    for part in path.split("."):
        value = value[int(part)] if part.isdigit() else getattr(value, part)
    assert isinstance(value, str), path
    return value


def check_alert(event: NewsArticle | LicenceRecord, alert: Alert, matcher: Matcher) -> None:
    """Invariants of every alert: exact evidence, score within the severity band, contract fields."""
    assert alert.evidence
    for ev in alert.evidence:
        assert field_value(event, ev.field)[ev.start : ev.end] == ev.text, ev
        assert ev.text and ev.snippet
    lo, hi = BANDS[alert.severity]
    assert lo <= alert.score <= hi
    assert alert.created_at == NOW
    assert alert.watchlist_version == matcher.version
    assert alert.event_id == event.id and alert.summary.endswith(".")
    refs = {(ev.kind, ev.ref) for ev in alert.evidence}
    for dest in alert.destinations:
        assert (EvidenceKind.DESTINATION, dest) in refs


def only_alert(matcher: Matcher, event: NewsArticle | LicenceRecord) -> Alert | None:
    alerts = matcher.evaluate(event, NOW)
    assert len(alerts) <= 1
    for alert in alerts:
        check_alert(event, alert, matcher)
    return alerts[0] if alerts else None


# ---- technologies, per language ---------------------------------------------------------------

TECHNOLOGY_CASES = [
    ("en", "The firm sold facial recognition to China.", "facial-recognition"),
    ("en", "The firm sold face recognition cameras to China.", "facial-recognition"),
    ("en", "The firm sold IMSI catchers to China.", "telecom-interception"),
    ("en", "The firm sold IMSI-catchers to China.", "telecom-interception"),
    ("en", "The firm sold lawful interception kit to China.", "telecom-interception"),
    ("en", "The firm sold deep packet inspection to China.", "network-surveillance"),
    ("en", "The firm sold deep\n   packet  inspection to China.", "network-surveillance"),
    ("en", "The firm sold intrusion software to China.", "spyware"),
    ("en", "The firm sold spyware to China.", "spyware"),
    ("en", "The firm sold predictive policing tools to China.", "predictive-policing"),
    ("en", "The firm helped China build its social credit system.", "social-scoring"),
    ("en", "Police in China use remote biometric identification.", "biometric-identification"),
    ("en", "The firm sold mobile forensics kits to China.", "phone-forensics"),
    ("en", "The firm sold video surveillance to China.", "video-surveillance"),
    ("en", "Huawei built a safe city surveillance network in China.", "video-surveillance"),
    ("en", "The firm sold cryptanalysis equipment to China.", "cryptanalysis"),
    ("en", "The firm exported 5A001.j equipment to China.", "network-surveillance"),
    ("nl", "Het bedrijf verkocht gezichtsherkenning aan China.", "facial-recognition"),
    ("nl", "Het bedrijf verkocht gezichtsherkenningstechnologie aan China.", "facial-recognition"),
    ("nl", "Het bedrijf verkocht spionagesoftware aan China.", "spyware"),
    ("nl", "Het bedrijf leverde videobewaking aan China.", "video-surveillance"),
    ("nl", "Het bedrijf leverde cameratoezicht aan China.", "video-surveillance"),
    ("nl", "Het bedrijf leverde emotieherkenning aan China.", "emotion-recognition"),
    ("fr", "L'entreprise a vendu la reconnaissance faciale à la Chine.", "facial-recognition"),
    ("fr", "L'entreprise a vendu un logiciel espion à la Chine.", "spyware"),
    ("fr", "L'entreprise a vendu des logiciels espions à la Chine.", "spyware"),
    ("fr", "L'entreprise a vendu la vidéosurveillance à la Chine.", "video-surveillance"),
    ("fr", "Inspection approfondie des paquets vendue à la Chine.", "network-surveillance"),
    ("de", "Die Firma verkaufte Gesichtserkennung an China.", "facial-recognition"),
    ("de", "Die Firma verkaufte Gesichtserkennungssoftware an China.", "facial-recognition"),
    ("de", "Die Firma verkaufte Überwachungssoftware an China.", "spyware"),
    ("de", "Der Staatstrojaner wurde nach China verkauft.", "spyware"),
    ("de", "Die Firma lieferte Videoüberwachung nach China.", "video-surveillance"),
    ("de", "Die Firma lieferte Emotionserkennung nach China.", "emotion-recognition"),
    ("es", "La empresa vendió reconocimiento facial a China.", "facial-recognition"),
    ("es", "La empresa vendió un programa espía a China.", "spyware"),
    ("es", "La empresa vendió videovigilancia a China.", "video-surveillance"),
    ("es", "La empresa vendió reconocimiento de emociones a China.", "emotion-recognition"),
]


@pytest.mark.parametrize(("language", "body", "technology"), TECHNOLOGY_CASES)
def test_technology_terms(matcher: Matcher, language: str, body: str, technology: str) -> None:
    alert = only_alert(matcher, news(body, language=language))
    assert alert is not None
    assert technology in alert.technologies
    assert alert.destinations == ["CN"]
    assert alert.severity is Severity.HIGH


@pytest.mark.parametrize(
    ("body", "technologies"),
    [
        (
            "Ban facial and emotion recognition systems sold to China.",
            {"facial-recognition", "emotion-recognition"},
        ),
        (
            "Ban facial, emotion and gait recognition sold to China.",
            {"facial-recognition", "emotion-recognition", "biometric-identification"},
        ),
        ("Verbod op gezichts- en emotieherkenning in China.", {"facial-recognition", "emotion-recognition"}),
        (
            "Reconnaissance faciale et émotionnelle vendue à la Chine.",
            {"facial-recognition", "emotion-recognition"},
        ),
        (
            "Reconocimiento facial y de emociones vendido a China.",
            {"facial-recognition", "emotion-recognition"},
        ),
        ("Facial recognition and spyware sold to China.", {"facial-recognition", "spyware"}),
        (
            "Gesichts- und Emotionserkennungstechnologie für China.",
            {"facial-recognition", "emotion-recognition"},
        ),
    ],
)
def test_elided_compounds(matcher: Matcher, body: str, technologies: set[str]) -> None:
    alert = only_alert(matcher, news(body))
    assert alert is not None
    assert set(alert.technologies) == technologies


def test_hard_wrapped_line_is_one_sentence(matcher: Matcher) -> None:
    alert = only_alert(
        matcher, news("The firm sold deep packet\ninspection systems to the\nEgyptian police.")
    )
    assert alert is not None and alert.severity is Severity.HIGH


def test_longest_match_wins(matcher: Matcher) -> None:
    alert = only_alert(matcher, news("Remote biometric identification systems for China."))
    assert alert is not None
    tech = [ev for ev in alert.evidence if ev.kind is EvidenceKind.TECHNOLOGY]
    assert [ev.text for ev in tech] == ["Remote biometric identification"]


# ---- destinations -----------------------------------------------------------------------------

DESTINATION_CASES = [
    ("en", "Spyware was used in China's mass surveillance.", "CN"),
    ("en", "Spyware was used against Uyghurs.", "CN"),
    ("en", "Spyware was used in Xinjiang.", "CN"),
    ("en", "Spyware was sold to Beijing.", "CN"),
    ("en", "Spyware was sold to the Chinese police.", "CN"),
    ("en", "A Dutch firm sold spyware to a Chinese company.", "CN"),
    ("nl", "Spyware tegen Oeigoeren.", "CN"),
    ("nl", "Spyware voor de Chinese overheid.", "CN"),
    ("nl", "Spyware voor het Chinees ministerie.", "CN"),
    ("fr", "Un logiciel espion contre les Ouïghours.", "CN"),
    ("fr", "Un logiciel espion pour la police chinoise.", "CN"),
    ("de", "Spionagesoftware gegen Uiguren.", "CN"),
    ("de", "Spionagesoftware für die chinesischen Behörden.", "CN"),
    ("es", "Programa espía contra los uigures.", "CN"),
    ("es", "Programa espía para la policía china.", "CN"),
    ("es", "Programa espía para el gobierno chino.", "CN"),
    ("en", "Spyware was sold to the UAE.", "AE"),
    ("en", "Spyware was sold to Emirati officials.", "AE"),
    ("nl", "Spyware verkocht aan de VAE.", "AE"),
    ("nl", "Spyware verkocht aan de Verenigde Arabische Emiraten.", "AE"),
    ("fr", "Logiciel espion vendu aux EAU.", "AE"),
    ("fr", "Logiciel espion vendu aux Émirats arabes unis.", "AE"),
    ("en", "Spyware was used in Abu Dhabi.", "AE"),
    ("en", "Spyware was used in Dubai.", "AE"),
    ("en", "Spyware was used in Bahrain.", "BH"),
    ("nl", "Spyware gebruikt in Bahrein.", "BH"),
    ("fr", "Logiciel espion utilisé au Bahreïn.", "BH"),
    ("es", "Programa espía usado en Baréin.", "BH"),
    ("en", "Spyware was used by Belarusian police.", "BY"),
    ("nl", "Spyware gebruikt in Wit-Rusland.", "BY"),
    ("fr", "Logiciel espion utilisé en Biélorussie.", "BY"),
    ("de", "Spionagesoftware in Weißrussland.", "BY"),
    ("es", "Programa espía usado en Bielorrusia.", "BY"),
    ("en", "Spyware was used in Minsk.", "BY"),
    ("en", "Spyware was sold to Saudi intelligence.", "SA"),
    ("nl", "Spyware verkocht aan Saoedi-Arabië.", "SA"),
    ("fr", "Logiciel espion vendu à l'Arabie saoudite.", "SA"),
    ("de", "Spionagesoftware an Saudi-Arabien.", "SA"),
    ("es", "Programa espía vendido a Arabia Saudí.", "SA"),
    ("en", "Spyware was used in Riyadh.", "SA"),
    ("en", "Spyware was used in Egypt.", "EG"),
    ("nl", "Spyware gebruikt in Egypte.", "EG"),
    ("fr", "Logiciel espion utilisé en Égypte.", "EG"),
    ("de", "Spionagesoftware in Ägypten.", "EG"),
    ("es", "Programa espía usado en Egipto.", "EG"),
    ("en", "Spyware was used in Cairo.", "EG"),
    ("en", "Spyware was used in Tehran.", "IR"),
    ("en", "Spyware was used in Moscow.", "RU"),
    ("de", "Spionagesoftware für Russlands Geheimdienst.", "RU"),
    ("en", "Spyware was used in Hong Kong.", "HK"),
    ("en", "Spyware was used in South Sudan.", "SS"),
    ("en", "Spyware was used in North Korea.", "KP"),
    ("en", "Spyware was used in Turkey.", "TR"),
    ("en", "Spyware was used in Myanmar.", "MM"),
    ("en", "Spyware was used in Jordan.", "JO"),
]


@pytest.mark.parametrize(("language", "body", "code"), DESTINATION_CASES)
def test_destination_names(matcher: Matcher, language: str, body: str, code: str) -> None:
    alert = only_alert(matcher, news(body, language=language))
    assert alert is not None
    assert alert.destinations == [code]


# ---- vendors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "vendor", "destination"),
    [
        ("NSO Group sold its tools to the UAE.", "nso-group", "AE"),
        ("Pegasus spyware was found on phones of activists in Bahrain.", "nso-group", "BH"),
        ("Predator was used for hacking journalists in Egypt.", "intellexa", "EG"),
        ("Cytrox customers include Egypt.", "intellexa", "EG"),
        ("Hikvision cameras watch Uyghurs in Xinjiang.", "hikvision", "CN"),
        ("FinFisher's FinSpy was found in Bahrain.", "finfisher", "BH"),
        ("Cellebrite UFED devices were sold to Belarus.", "cellebrite", "BY"),
        ("Sandvine's PacketLogic boxes censor the internet in Egypt.", "sandvine", "EG"),
        ("Candiru spyware targeted dissidents in Saudi Arabia.", "candiru", "SA"),
    ],
)
def test_vendors(matcher: Matcher, body: str, vendor: str, destination: str) -> None:
    alert = only_alert(matcher, news(body))
    assert alert is not None
    assert vendor in alert.entities
    assert destination in alert.destinations


@pytest.mark.parametrize(
    ("language", "body"),
    [
        ("en", "Chinese firm Hikvision sold facial recognition to Egypt."),
        ("en", "The Chinese camera maker Hikvision sold facial recognition to Egypt."),
        ("nl", "Het Chinese bedrijf Hikvision verkocht gezichtsherkenning aan Egypte."),
        ("de", "Der chinesische Hersteller Hikvision verkaufte Gesichtserkennung an Ägypten."),
        ("fr", "Le fabricant chinois Hikvision a vendu la reconnaissance faciale à l'Égypte."),
        ("es", "La empresa china Hikvision vendió reconocimiento facial a Egipto."),
    ],
)
def test_vendor_origin_is_not_a_destination(matcher: Matcher, language: str, body: str) -> None:
    alert = only_alert(matcher, news(body, language=language))
    assert alert is not None
    assert alert.destinations == ["EG"]
    assert alert.entities == ["hikvision"]


def test_vendor_alone_beside_its_home_country_is_downgraded(matcher: Matcher) -> None:
    alert = only_alert(matcher, news("Hikvision reported profits in China."))
    assert alert is not None and alert.severity is Severity.MEDIUM


# ---- traps: none of these may alert -------------------------------------------------------------

TRAPS = [
    "Pegasus Airlines opened a new route to Cairo.",
    "The Pegasus constellation is visible from Egypt.",
    "The MQ-1 Predator surveillance drone flew over Syria.",
    "The predator hunted in Iran's mountains.",
    "A candiru fish was found; researchers from Iran studied it.",
    "Spyware is a global problem. The Bahrain Grand Prix starts on Sunday.",
    "Spyware was found on laptops of passengers flying Emirates.",
    "Spyware researchers flew Qatar Airways to the conference.",
    "Spyware researchers celebrated Chinese New Year.",
    "Spyware researchers ate from fine china.",
    "Spyware researchers ate roast turkey.",
    "Turkey dinner was served while spyware researchers talked.",
    "Spyware was found in Georgia, USA.",
    "Jordan Peterson talked about spyware.",
    "Michael Jordan does not use spyware.",
    "A woman in Romania found spyware.",
    "Spyware was found in Nigeria.",
    "Spyware was found in Tirana.",
    "Spyware researchers own a Persian cat and a Burmese python.",
    "Mass surveillance is based on the Chinese model, says an MEP who opposes facial recognition.",
    "Chinese-made surveillance cameras were installed in London.",
    "Surveillance cameras made in China were installed in London.",
    "Spyware developers plotted the x-axis; the Axis powers lost.",
    "Gamma radiation, not spyware, worries residents of Dover.",
    "Spyware was found in Chinatown, San Francisco.",
    "Facial recognition was banned in the EU.",
    "The Eagle newspaper interviewed journalists in Egypt.",
    "The Social Credit Party of Canada met Chinese diplomats.",
]


@pytest.mark.parametrize(
    ("language", "body"),
    [
        ("fr", "Les logiciels espions et l'eau potable."),
        ("es", "La porcelana: programa espía en una taza de China fina."),  # capital C: counts as China
    ],
)
def test_case_rules(matcher: Matcher, language: str, body: str) -> None:
    alert = only_alert(matcher, news(body, language=language))
    if "China" in body:
        assert alert is not None  # a capitalised country name always counts
    else:
        assert alert is None


@pytest.mark.parametrize("body", TRAPS)
def test_traps_do_not_alert(matcher: Matcher, body: str) -> None:
    assert only_alert(matcher, news(body, language="en")) is None


def test_lower_case_china_counts_only_in_spanish(matcher: Matcher) -> None:
    body = "Programa espía para la policía china."
    assert only_alert(matcher, news(body, language="es")) is not None
    assert only_alert(matcher, news(body, language="en")) is None


# ---- severity, ids, summaries -------------------------------------------------------------------


def test_same_sentence_is_high_same_article_is_medium(matcher: Matcher) -> None:
    high = only_alert(matcher, news("The firm sold facial recognition to China."))
    medium = only_alert(matcher, news("The firm sold facial recognition. The buyer was the Chinese police."))
    assert high is not None and high.severity is Severity.HIGH
    assert medium is not None and medium.severity is Severity.MEDIUM
    assert high.score > medium.score
    assert high.summary == "Facial recognition mentioned in the same sentence as China."
    assert "not in the same sentence" in medium.summary


def test_title_and_body_are_separate_sentences(matcher: Matcher) -> None:
    alert = only_alert(matcher, news("The customer was the Egyptian police.", title="Firm sells spyware"))
    assert alert is not None
    assert alert.severity is Severity.MEDIUM
    assert {ev.field for ev in alert.evidence} == {"title", "body"}


def test_summary_names_the_vendor(matcher: Matcher) -> None:
    alert = only_alert(matcher, news("Hikvision sold facial recognition to Egypt."))
    assert alert is not None
    assert alert.summary == "Facial recognition and vendor Hikvision mentioned in the same sentence as Egypt."


def test_no_destination_no_alert(matcher: Matcher) -> None:
    assert only_alert(matcher, news("NSO Group sold Pegasus spyware to governments.")) is None


def test_destination_without_technology_no_alert(matcher: Matcher) -> None:
    assert only_alert(matcher, news("China and Russia signed a trade agreement.")) is None


def test_alert_id_is_deterministic(matcher: Matcher) -> None:
    event = news("The firm sold spyware to China.", event_id="news-42")
    first = matcher.evaluate(event, NOW)
    again = matcher.evaluate(event, NOW + dt.timedelta(hours=1))
    assert first[0].id == again[0].id
    assert first[0].id.startswith("alert-") and len(first[0].id) == len("alert-") + 24
    other = matcher.evaluate(news("The firm sold spyware to China.", event_id="news-43"), NOW)
    assert other[0].id != first[0].id


def test_a_corrected_revision_gets_a_new_alert_and_a_copy_names_its_original(matcher: Matcher) -> None:
    event = news("The firm sold spyware to China.", event_id="news-42")
    first = matcher.evaluate(event, NOW)[0]
    corrected = matcher.evaluate(event.model_copy(update={"revision": 2}), NOW)[0]
    assert corrected.id != first.id and corrected.event_revision == 2 and first.event_revision == 1
    copy = matcher.evaluate(event.model_copy(update={"id": "news-43", "duplicate_of": "news-42"}), NOW)[0]
    assert copy.duplicate_of == "news-42" and first.duplicate_of is None


# ---- the real samples ---------------------------------------------------------------------------


def test_real_samples(matcher: Matcher, news_samples: dict[str, dict[str, Any]]) -> None:
    alerts = {}
    for doc in news_samples.values():
        event = NewsArticle.model_validate(doc)
        alert = only_alert(matcher, event)
        if alert is not None:
            alerts[event.id] = alert
    assert set(alerts) == {"sample-000", "sample-003"}

    a0 = alerts["sample-000"]
    assert set(a0.technologies) == {
        "facial-recognition",
        "emotion-recognition",
        "predictive-policing",
        "social-scoring",
    }
    assert a0.destinations == ["CN"]
    # the mentions that make China a destination (the Uyghurs are named away from any technology)
    assert {ev.text for ev in a0.evidence if ev.kind is EvidenceKind.DESTINATION} == {"China"}
    assert a0.severity is Severity.MEDIUM  # the technologies and China are in different sentences
    assert a0.url == news_samples["sample-000"]["url"]
    assert a0.title == news_samples["sample-000"]["title"]

    a3 = alerts["sample-003"]
    assert {"facial-recognition", "spyware"} <= set(a3.technologies)
    assert {"CN", "AE", "BH", "BY"} <= set(a3.destinations)
    assert a3.severity is Severity.HIGH  # "in China hangen overal camera's met gezichtsherkenning"
    assert "Gezichtsherkenningstechnologie" in {ev.text for ev in a3.evidence}


@pytest.mark.parametrize("insert", ["ß", "\u00ad", "e\u0301", "🙂", "ﬁ", "İ"])
def test_evidence_stays_exact_when_folding_changes_lengths(
    matcher: Matcher, news_samples: dict[str, dict[str, Any]], insert: str
) -> None:
    doc = news_samples["sample-003"]
    body = doc["body"]
    # every space becomes the odd character, and it is also pushed inside words every 37 characters
    pieces = [body[i : i + 37] for i in range(0, len(body), 37)]
    mixed = insert.join(" ".join(pieces).split(" "))
    event = NewsArticle.model_validate({**doc, "body": mixed + " Spyware for Weißrussland."})
    alert = only_alert(matcher, event)  # checks every evidence against the original slice
    assert alert is not None
    assert "BY" in alert.destinations


@pytest.mark.parametrize(
    ("body", "codes"),
    [
        ("Licences under 5A001.j went to Egypt.", ["5A001.j"]),
        ("5A001.j: licences to Egypt.", ["5A001.j"]),  # at the very start
        ("Items (5A001j) were shipped to Egypt.", ["5A001.j"]),
        ("Wassenaar item 5.A.1.j, for Egypt.", ["5A001.j"]),
        ("Wassenaar item 5. A. 1. j. for Egypt.", ["5A001.j"]),
        ("Forensic software 5D002a3b sold to Egypt.", ["5D002.a.3.b"]),
        ("Codes 4A005 and 4D004 and 5A001.f.4 for Egypt.", ["4A005", "4D004", "5A001.f.4"]),
        ("Tax number NL815A001J01 and Egypt.", []),  # inside an id: not a code
        ("5A002 encryption for Egypt.", []),  # encryption alone never alerts
    ],
)
def test_codes_in_news_text(matcher: Matcher, body: str, codes: list[str]) -> None:
    alert = only_alert(matcher, news(body))
    assert (alert.control_codes if alert else []) == codes
    if alert:
        check_alert(news(body), alert, matcher)


def test_html_leftovers_in_a_pushed_article(matcher: Matcher) -> None:
    event = news(
        "La soci&eacute;t&eacute; a vendu la reconnaissance&nbsp;faciale &agrave; l&#39;&Eacute;gypte."
    )
    alert = only_alert(matcher, event)
    assert alert is not None and alert.destinations == ["EG"]
    assert alert.technologies == ["facial-recognition"]
    check_alert(event, alert, matcher)  # evidence text is the exact slice, entities included


@pytest.mark.parametrize(
    ("language", "body", "destinations"),
    [
        ("en", "The firm exported surveillance equipment to Egypt last year.", ["EG"]),
        ("nl", "Het bedrijf leverde surveillanceapparatuur aan Saoedi-Arabië.", ["SA"]),
        ("fr", "Des technologies de surveillance ont été vendues à l'Égypte.", ["EG"]),
        (
            "de",
            "Berlin genehmigte Überwachungstechnik für Ägypten und die Vereinigten Arabischen Emirate.",
            ["EG", "AE"],
        ),
        ("es", "La empresa vendió equipos de vigilancia a Venezuela.", ["VE"]),
    ],
)
def test_unnamed_surveillance_technology_with_a_destination_is_medium(
    matcher: Matcher, language: str, body: str, destinations: list[str]
) -> None:
    event = news(body, language=language)
    alert = only_alert(matcher, event)
    assert alert is not None, body
    assert alert.rule == "news.surveillance_destination"
    assert alert.severity is Severity.MEDIUM and alert.technologies == []
    assert alert.destinations == destinations
    assert alert.summary.startswith("Surveillance technology (kind not named) in the same sentence as")
    check_alert(event, alert, matcher)


@pytest.mark.parametrize(
    "body",
    [
        "Die Polizei in Bayern setzt neue Überwachungstechnik ein.",  # no destination
        "The city bought surveillance equipment. Separately, Egypt held elections.",  # not one sentence
        "The Predator drone carried surveillance equipment over Syria.",  # no word of trade: not a deal
    ],
)
def test_unnamed_surveillance_technology_needs_a_deal_with_a_destination_in_the_sentence(
    matcher: Matcher, body: str
) -> None:
    assert only_alert(matcher, news(body)) is None


def test_a_named_technology_wins_over_the_unnamed_rule(matcher: Matcher) -> None:
    alert = only_alert(matcher, news("Surveillance equipment, including IMSI catchers, was sold to Egypt."))
    assert alert is not None and alert.rule == "news.technology_destination"
    assert alert.technologies == ["telecom-interception"] and alert.severity is Severity.HIGH
