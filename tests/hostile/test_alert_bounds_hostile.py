"""A megabyte title (moved from tests/unit/test_alert_bounds.py): the alert's title stays bounded and
says it was shortened."""

from __future__ import annotations

from schemas.bounds import TITLE_MAX_CHARS
from schemas.events import NewsArticle
from services.match.core.engine import Matcher
from tests.unit.test_alert_bounds import NOW


def test_a_huge_article_title_gives_a_bounded_title_that_says_it_was_shortened() -> None:
    title = "Spyware sold to Iran" + " very" * 180_000
    article = NewsArticle(
        id="big-1",
        source="test",
        url="https://example.org/a",
        title=title,
        body="The company sold facial recognition software to Iran.",
        published_at=NOW,
    )
    alerts = Matcher.load().evaluate(article, NOW)
    assert alerts
    for alert in alerts:
        assert len(alert.title) <= TITLE_MAX_CHARS
        assert alert.title.startswith("Spyware sold to Iran")
        assert f"shortened from {len(title):,} characters" in alert.title
        assert len(alert.model_dump_json()) < 20_000
