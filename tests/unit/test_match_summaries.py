"""Alert summaries say only what is true of every item they name (services/match/core/summaries.py)."""

from __future__ import annotations

from services.match.core.engine import Matcher
from services.match.core.summaries import Pairing, join, news_summary
from tests.unit.test_match_rules import news, only_alert


def test_join() -> None:
    assert [join([]), join(["a"]), join(["a", "b"]), join(["a", "b", "c"])] == [
        "",
        "a",
        "a and b",
        "a, b and c",
    ]


def test_one_pairing() -> None:
    text = news_summary([Pairing(("Spyware",), ("Egypt",))], ["Spyware"], ["Egypt"])
    assert text == "Spyware mentioned in the same sentence as Egypt."


def test_what_shares_no_sentence_is_said_to_be_elsewhere() -> None:
    text = news_summary(
        [
            Pairing(("Spyware",), ("United Arab Emirates", "Bahrain")),
            Pairing(("Facial recognition",), ("China",)),
        ],
        ["Spyware", "Facial recognition", "IP network surveillance"],
        ["United Arab Emirates", "Bahrain", "China", "Belarus"],
    )
    assert text == (
        "Spyware mentioned in the same sentence as United Arab Emirates and Bahrain; facial recognition in "
        "the same sentence as China; IP network surveillance and Belarus elsewhere in the article."
    )


def test_no_shared_sentence() -> None:
    text = news_summary([], ["Spyware", "Facial recognition"], ["China"])
    assert text == (
        "Spyware and facial recognition mentioned in the same article as China, but not in the same sentence."
    )


def test_an_alert_never_claims_a_sentence_it_does_not_have(matcher: Matcher) -> None:
    body = (
        "The firm sold spyware to the government of Bahrain. "
        "It also marketed facial recognition, the company said. "
        "In China, police bought facial recognition cameras."
    )
    alert = only_alert(matcher, news(body))
    assert alert is not None
    assert alert.summary == (
        "Spyware mentioned in the same sentence as Bahrain; facial recognition in the same sentence as China."
    )
