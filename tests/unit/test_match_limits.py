"""How much of an event is matched (issue 17 item 7): a huge event is read up to the limits, its alerts
say what was left out, and an event within the limits is matched exactly as before."""

from __future__ import annotations

from schemas.bounds import SUMMARY_MAX_CHARS, TITLE_MAX_CHARS
from schemas.events import LicenceItem
from services.match.core.engine import Matcher
from services.match.core.limits import MatchLimits
from tests.unit.test_match_licences import licence
from tests.unit.test_match_rules import NOW, check_alert, news, only_alert

SMALL = MatchLimits(body_chars=2_000, title_chars=300, items=5)
ALERTING = "A European firm sold spyware to the police in Iran. "
FILLER = "The weather in the capital was mild and the markets were calm that week. "


def test_an_event_within_the_limits_is_matched_as_it_is(matcher: Matcher) -> None:
    event = news(ALERTING * 3)
    assert not SMALL.exceeded_by(event)
    cut = SMALL.cut(event)
    assert cut.event is event and cut.note == ""
    assert matcher.evaluate(event, NOW, SMALL) == matcher.evaluate(event, NOW)


def test_a_long_body_is_read_up_to_the_limit_and_the_alert_says_so(matcher: Matcher) -> None:
    body = ALERTING + FILLER * 200  # about 15,000 characters
    event = news(body)
    assert SMALL.exceeded_by(event)
    [alert] = matcher.evaluate(event, NOW, SMALL)
    check_alert(event, alert, matcher)  # every evidence offset still points into the original body
    assert alert.summary.endswith(
        f" Only part of this article was read: the first 2,000 of the body's {len(body):,} characters."
    )
    assert len(alert.summary) <= SUMMARY_MAX_CHARS


def test_what_lies_beyond_the_limit_is_not_read(matcher: Matcher) -> None:
    event = news(FILLER * 100 + ALERTING)
    assert only_alert(matcher, event) is not None  # the whole text alerts
    assert matcher.evaluate(event, NOW, SMALL) == []  # only its first 2,000 characters are read


def test_the_cut_ends_between_words() -> None:
    body = "word " * 1_000
    cut = SMALL.cut(news(body))
    read = cut.event.body  # type: ignore[union-attr]
    assert 2_000 - 200 <= len(read) <= 2_000
    assert body.startswith(read) and read.endswith("word")


def test_a_long_title_is_read_up_to_its_limit_and_the_alert_keeps_the_original_bounded(
    matcher: Matcher,
) -> None:
    title = ALERTING + FILLER * 10
    event = news("Nothing here.", title=title)
    [alert] = matcher.evaluate(event, NOW, SMALL)
    assert "the first 300 of the title's" in alert.summary
    assert len(alert.title) <= TITLE_MAX_CHARS
    assert alert.title.startswith(ALERTING.strip()[:100])
    assert f"[title shortened from {len(title.strip()):,} characters]" in alert.title


def test_a_licence_with_many_items_is_read_up_to_the_limit(matcher: Matcher) -> None:
    record = licence("5A001.j", "EG")
    many = record.model_copy(
        update={"items": record.items + [LicenceItem(control_code="ML1a", description="rifles")] * 20}
    )
    [alert] = matcher.evaluate(many, NOW, SMALL)
    assert alert.summary.endswith(" Only part of this licence record was read: the first 5 of its 21 items.")
