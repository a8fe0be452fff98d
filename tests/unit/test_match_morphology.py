"""Inflected and re-spelled forms of watchlist terms (services/match/core/morphology.py), and that
the matcher finds them in text: plurals and agreement inside phrases, swapped articles, verbs near
their objects, compounds written apart."""

from __future__ import annotations

import pytest

from services.match.core import morphology
from services.match.core.engine import Matcher
from tests.unit.test_match_rules import news, only_alert


@pytest.mark.parametrize(
    ("key", "language", "expected"),
    [
        ("reconnaissance faciale", "fr", {"reconnaissances faciales", "reconnaissance facial"}),
        ("interception legale", "fr", {"interception legal", "interceptions legales", "interception legaux"}),
        ("reconnaissance des emotions", "fr", {"reconnaissance d'emotions", "reconnaissance de l'emotion"}),
        ("reconocimiento facial", "es", {"reconocimientos faciales"}),
        ("biometrische uberwachung", "de", {"biometrischen uberwachung", "biometrischer uberwachung"}),
        ("spionagesoftware", "de", {"spionage software"}),
        ("gezichtsherkenning", "nl", {"gezichts herkenning"}),
        ("facial recognition", "en", {"facials recognition"}),
    ],
)
def test_variants(key: str, language: str, expected: set[str]) -> None:
    got = morphology.variants(key, language)
    assert expected <= set(got), got
    assert key not in got
    assert len(got) <= morphology.MAX_VARIANTS


@pytest.mark.parametrize(
    ("key", "language"),
    [("spyware", "en"), ("spyware", None), ("deep packet inspection", None), ("facial recognition", "it")],
)
def test_no_variants(key: str, language: str | None) -> None:
    """Single English words take their endings from the tail; an unknown language gets nothing."""
    assert morphology.variants(key, language) == []


def test_a_phrase_never_explodes() -> None:
    many = morphology.variants("systeme d'interception legale des communications telephoniques", "fr")
    assert 0 < len(many) <= morphology.MAX_VARIANTS


@pytest.mark.parametrize(
    ("language", "body", "technology"),
    [
        # agreement and plural inside the phrase
        ("fr", "Un système d'interception légal a été vendu à l'Égypte.", "telecom-interception"),
        ("fr", "Des reconnaissances faciales ont été vendues à la police chinoise.", "facial-recognition"),
        ("es", "Vendieron sistemas de reconocimientos faciales a la policía china.", "facial-recognition"),
        (
            "de",
            "Die biometrischen Überwachungssysteme gingen an die ägyptische Polizei.",
            "biometric-identification",
        ),
        # compounds written apart or hyphenated
        ("de", "Die Spionage-Software wurde an die ägyptische Polizei geliefert.", "spyware"),
        ("nl", "Gezichts-herkenning werd geleverd aan de Chinese politie.", "facial-recognition"),
        # verbs near their objects, in every form
        ("en", "Egyptian intelligence intercepted the calls of opposition leaders.", "telecom-interception"),
        ("en", "The Bahraini police wiretapped activists' phones.", "telecom-interception"),
        (
            "fr",
            "Les services égyptiens ont intercepté les communications des opposants.",
            "telecom-interception",
        ),
        (
            "es",
            "Los servicios venezolanos interceptaron las llamadas de periodistas.",
            "telecom-interception",
        ),
        (
            "de",
            "Der ägyptische Geheimdienst hat die Telefonate der Opposition abgehört.",
            "telecom-interception",
        ),
        (
            "nl",
            "De Egyptische geheime dienst onderschepte telefoongesprekken van journalisten.",
            "telecom-interception",
        ),
        ("en", "The phones of Saudi dissidents were hacked by the government.", "spyware"),
        ("en", "Belarusian authorities blocked websites and throttled the internet.", "network-surveillance"),
        (
            "es",
            "El gobierno de Venezuela bloqueó páginas web de medios independientes.",
            "network-surveillance",
        ),
    ],
)
def test_inflected_forms_in_text(matcher: Matcher, language: str, body: str, technology: str) -> None:
    alert = only_alert(matcher, news(body, language=language))
    assert alert is not None, body
    assert technology in alert.technologies, alert.technologies


@pytest.mark.parametrize(
    ("language", "body"),
    [
        # a verb of surveillance far from what it needs is not a technology
        ("en", "Egyptian officials intercepted a shipment of weapons at the border."),
        ("en", "Hackers from an unknown group hit Bahrain's central bank website."),
        ("en", "The Chinese team blocked the shot in the last minute."),
    ],
)
def test_verbs_need_their_objects(matcher: Matcher, language: str, body: str) -> None:
    assert only_alert(matcher, news(body, language=language)) is None
