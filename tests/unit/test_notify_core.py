"""Notify's pure parts: retry policy, failure classification, rendering, delivery (the address policy
notify shares with ingest is tested in test_addresses.py)."""

from __future__ import annotations

import datetime as dt
import random
from functools import partial

import httpx
import pytest

from services.notify.channels.base import Reason
from services.notify.channels.http import classify
from services.notify.core.render import render_text
from services.notify.core.retry import RetryPolicy
from tests.alerts import make_alert

# The alert these tests render, built by the shared factory.
core_alert = partial(
    make_alert,
    event_id="n1",
    title="EU firms sold surveillance",
    body="EU firms sold facial recognition to police in China.",
    url="https://example.org/a",
    rule="news.technology_destination",
    summary="Facial recognition and China in the same sentence.",
    created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
)


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(attempts=10, base_seconds=1, cap_seconds=8)
    rng = random.Random(1)
    for attempt, ceiling in [(1, 1), (2, 2), (3, 4), (4, 8), (9, 8)]:
        delay = policy.delay(attempt, rng)
        assert ceiling / 2 <= delay <= ceiling


def test_retry_after_wins_but_is_bounded() -> None:
    policy = RetryPolicy(max_retry_after_seconds=60)
    assert policy.delay(1, random.Random(), retry_after=7) == 7
    assert policy.delay(1, random.Random(), retry_after=3600) == 60


def test_give_up_on_permanent_errors_exhausted_attempts_and_old_messages() -> None:
    policy = RetryPolicy(attempts=3, max_age_seconds=3600)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert policy.give_up(1, True, start, start) is None
    assert policy.give_up(2, True, start, start) is None
    assert policy.give_up(3, True, start, start) == "attempts_exhausted"
    assert policy.give_up(1, False, start, start) == "permanent"
    assert policy.give_up(1, True, start, start + dt.timedelta(hours=1)) == "too_old"


@pytest.mark.parametrize(
    ("status", "headers", "reason", "retry_after"),
    [
        (200, {}, None, None),
        (204, {}, None, None),
        (429, {"retry-after": "12"}, Reason.RATE_LIMITED, 12.0),
        (503, {}, Reason.SERVER_ERROR, None),
        (500, {"retry-after": "x"}, Reason.SERVER_ERROR, None),
        (401, {}, Reason.AUTH_ERROR, None),
        (403, {}, Reason.AUTH_ERROR, None),
        (400, {}, Reason.CLIENT_ERROR, None),
        (404, {}, Reason.CLIENT_ERROR, None),
        (301, {"location": "http://169.254.169.254/"}, Reason.CLIENT_ERROR, None),
    ],
)
def test_http_status_classification(
    status: int, headers: dict[str, str], reason: Reason | None, retry_after: float | None
) -> None:
    error = classify(httpx.Response(status, headers=headers))
    if reason is None:
        assert error is None
    else:
        assert error is not None and error.reason is reason and error.retry_after == retry_after


def test_reasons_know_whether_to_retry() -> None:
    assert {r for r in Reason if r.retryable} == {
        Reason.RATE_LIMITED,
        Reason.SERVER_ERROR,
        Reason.TIMEOUT,
        Reason.NETWORK,
    }


def test_render_text_explains_the_alert() -> None:
    text = render_text(core_alert())
    assert text.startswith("[HIGH] Facial recognition and China in the same sentence.")
    assert "https://example.org/a" in text
    assert 'technology facial-recognition: "facial recognition" in body' in text
    assert "destinations: CN" in text


def test_render_text_shows_a_window_around_long_evidence() -> None:
    alert = core_alert()
    long_snippet = "x " * 200 + alert.evidence[0].text + " y" * 200
    alert = alert.model_copy(
        update={"evidence": [alert.evidence[0].model_copy(update={"snippet": long_snippet})]}
    )
    line = next(ln for ln in render_text(alert).splitlines() if ln.startswith("    - "))
    assert "facial recognition" in line and len(line) < 260
    assert line.rstrip().endswith("…")
