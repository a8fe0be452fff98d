"""The researchers' console in a real browser, on a real notify seeded with the bundled matcher's
alerts (issue 19, "Proof"): sign-in, filters and free text, an alert's highlighted evidence, a
subscription created and tested against a local webhook receiver, a silence, feedback, a personal Atom
feed, a phone-sized screen; and what must never happen: another researcher's subscription or feed
seen, a form accepted without its token, a revoked feed still answering, HTML in a title obeyed."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from schemas import Alert
from tests.atom import check_feed
from tests.browser.console import (
    HOOK_SECRET,
    alert_ids_shown,
    alert_path,
    api,
    create_subscription,
    signed_in,
    submit,
)
from tools.browser import save_screenshot
from tools.console_stack import SeededConsole, publish, run_async
from tools.webhook_sink import WebhookSink

if TYPE_CHECKING:
    from playwright.sync_api import Page


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    receiver = WebhookSink(secret=HOOK_SECRET).start()
    yield receiver
    receiver.stop()


def _unique(what: str) -> str:
    return f"{what} {uuid.uuid4().hex[:6]}"


def test_signing_in_with_a_token_gives_a_safe_session(page: Page, archived: SeededConsole) -> None:
    page.goto(f"{archived.url}/")
    assert "/signin" in page.url, "a visitor who is not signed in is sent to the sign-in page"
    page.get_by_label("Your API token").fill("ewt_not-a-real-token")
    submit(page, page.locator("#signin"))
    assert page.locator("#signin-error").is_visible()
    assert "ewt_not-a-real-token" not in page.content(), "a token typed is never shown back"

    signed_in(page, archived)
    assert page.locator("h1").inner_text() == "Alerts"
    assert "Signed in as amnesty" in page.locator("#signout-form").inner_text()
    session = next(c for c in page.context.cookies() if c["name"] == "ew_session")
    assert session["httpOnly"] and session["sameSite"] == "Lax"
    assert archived.tokens["amnesty"] not in session["value"], "the cookie is not the API token"
    policy = page.request.get(f"{archived.url}/").headers["content-security-policy"]
    assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "http" not in policy, "nothing inline, nothing from elsewhere"

    submit(page, page.locator("#signout"))
    page.goto(f"{archived.url}/subscriptions")
    assert "/signin" in page.url


def test_filters_and_free_text_show_what_the_archive_answers(page: Page, archived: SeededConsole) -> None:
    signed_in(page, archived)
    page.get_by_label("Destination", exact=True).select_option(["EG"])
    submit(page, page.locator("#filter-submit"))
    assert "destination=EG" in page.url, "the filters are in the address: a search can be bookmarked"
    shown = alert_ids_shown(page)
    expected = [a["id"] for a in api(archived, "/v1/alerts", destination="EG").json()["alerts"]]
    assert shown and shown == expected
    assert all("EG" in row for row in page.locator("#alert-table tbody tr td:nth-child(4)").all_inner_texts())

    page.goto(f"{archived.url}/")
    page.get_by_label("Words to search for").fill("Predator")
    submit(page, page.locator("#filter-submit"))
    shown = alert_ids_shown(page)
    expected = [a["id"] for a in api(archived, "/v1/alerts", q="Predator").json()["alerts"]]
    assert shown and shown == expected
    assert page.locator("#results-heading").inner_text().startswith(f"{len(shown)} alerts found")
    assert page.locator("#count-destinations tbody tr").count() > 0
    assert page.locator("svg#chart rect.bar").count() > 0

    page.goto(f"{archived.url}/?destination=XX")
    assert page.locator("#filter-problems").is_visible(), "an unknown destination is explained, not ignored"


def test_an_alert_page_highlights_the_matched_words(page: Page, archived: SeededConsole) -> None:
    alert = next(a for a in archived.alerts if a.evidence and a.event_type == "news_article")
    signed_in(page, archived)
    page.goto(f"{archived.url}/?q=Predator")
    submit(page, page.locator("#alert-table a.alert-link").first)
    assert page.locator("#alert-title").is_visible() and page.locator("#evidence mark").count() > 0

    page.goto(f"{archived.url}{alert_path(alert.id)}")
    assert page.locator("#alert-title").inner_text() == alert.title
    assert page.locator("#alert-summary").inner_text() == alert.summary
    marked = [m.casefold() for m in page.locator("#evidence blockquote mark").all_inner_texts()]
    assert marked, "the matched words are highlighted"
    words = [e.text.casefold() for e in alert.evidence]
    assert all(any(m in w or w in m for w in words) for m in marked), (marked, words)
    assert page.locator("#story li").count() >= 1 and page.locator("#audit").is_visible()


def test_a_subscription_is_created_and_tested(page: Page, archived: SeededConsole, sink: WebhookSink) -> None:
    signed_in(page, archived)
    name = _unique("Spyware to anywhere")
    sub_id = create_subscription(page, archived, name, sink.url)
    assert page.locator("#notice").inner_text() == f"Subscription “{name}” created."
    row = page.locator(f"#sub-{sub_id}")
    assert HOOK_SECRET not in page.content(), "the signing key is never shown again"
    assert "spyware" in row.inner_text()

    submit(page, page.locator(f"#test-{sub_id}"))
    assert page.locator("#notice").inner_text() == f"A test message was sent to “{name}”."
    deadline = time.monotonic() + 10
    while not sink.received and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sink.received, "the test message reached the webhook receiver"
    assert all(entry["signature_valid"] for entry in sink.received)
    listed = api(archived, "/v1/subscriptions", owner="amnesty").json()
    assert sub_id in str(listed), "the API sees what the console made"


def test_a_silence_is_created_and_ended(page: Page, archived: SeededConsole) -> None:
    signed_in(page, archived)
    page.goto(f"{archived.url}/silences")
    why = _unique("Conference week: too many camera stories")
    form = page.locator("#silence-form")
    form.get_by_label("Technologies").select_option(["video-surveillance"])
    form.get_by_label("For how long").fill("3d")
    form.get_by_label("Why (others may see this)").fill(why)
    submit(page, page.locator("#silence-create"))
    assert page.locator("#notice").inner_text() == "Silence created."
    row = page.locator("#silence-table tbody tr", has_text=why)
    assert row.count() == 1 and "video-surveillance" in row.inner_text()
    submit(page, row.get_by_role("button", name="End it now"))
    assert page.locator("#notice").inner_text() == "Silence expired."

    form = page.locator("#silence-form")
    form.get_by_label("For how long").fill("forever-ish")
    form.get_by_label("Why (others may see this)").fill("bad duration")
    submit(page, page.locator("#silence-create"))
    assert page.locator("#silence-problems").is_visible(), "a wrong duration is explained"


def test_feedback_is_stored_for_its_researcher(page: Page, archived: SeededConsole) -> None:
    alert = archived.alerts[3]
    signed_in(page, archived, "pi")
    page.goto(f"{archived.url}{alert_path(alert.id)}")
    page.locator("#verdict-not-relevant").check()
    page.get_by_label("Why").select_option(index=1)
    reason = page.get_by_label("Why").input_value()
    page.get_by_label("A note (optional)").fill("The article is about a domestic contract.")
    submit(page, page.locator("#feedback-save"))
    assert "You said: not relevant" in page.locator("#feedback-current").inner_text()
    stored = api(archived, f"/v1/alerts/{alert.id}/feedback", owner="pi")
    assert stored.status_code == 200, stored.text
    assert stored.json()["relevant"] is False and stored.json()["reason"] == reason
    assert api(archived, f"/v1/alerts/{alert.id}/feedback", owner="amnesty").status_code == 404, (
        "feedback is its researcher's own"
    )


def test_a_personal_feed_is_valid_atom_and_dies_when_revoked(
    page: Page, archived: SeededConsole, sink: WebhookSink
) -> None:
    signed_in(page, archived)
    sub_id = create_subscription(page, archived, _unique("Spyware feed"), sink.url)
    submit(page, page.locator(f"#feed-create-{sub_id}"))
    url = page.locator("#new-feed-url").inner_text()
    assert url.startswith(f"{archived.url}/feeds/") and url.endswith(".atom")

    answer = page.request.get(url)
    assert answer.status == 200 and answer.headers["referrer-policy"] == "no-referrer"
    parsed = check_feed(answer.body())
    assert parsed.entries, "the feed has the subscription's alerts"

    page.goto(f"{archived.url}/subscriptions")
    submit(page, page.locator(f"#feed-revoke-{sub_id}"))
    assert httpx.get(url, timeout=10).status_code == 404


def test_another_researchers_subscriptions_and_feeds_are_invisible(
    browser_page_pair: tuple[Page, Page], archived: SeededConsole, sink: WebhookSink
) -> None:
    mine, theirs = browser_page_pair
    signed_in(mine, archived, "amnesty")
    name = _unique("Amnesty private")
    sub_id = create_subscription(mine, archived, name, sink.url)
    submit(mine, mine.locator(f"#feed-create-{sub_id}"))
    assert mine.locator("#new-feed-url").is_visible()

    signed_in(theirs, archived, "pi")
    theirs.goto(f"{archived.url}/subscriptions")
    assert name not in theirs.content() and theirs.locator(f"#sub-{sub_id}").count() == 0
    edit = theirs.goto(f"{archived.url}/subscriptions/{sub_id}/edit")
    assert edit is not None and edit.status == 404
    assert name not in theirs.content()
    csrf = theirs.locator("#signout-form input[name=csrf]").input_value()
    made = theirs.request.post(
        f"{archived.url}/subscriptions/{sub_id}/feed", form={"csrf": csrf, "action": "create"}
    )
    assert made.status == 404, "a researcher cannot make a feed of someone else's subscription"


def test_a_form_without_its_token_is_refused(page: Page, archived: SeededConsole) -> None:
    signed_in(page, archived)
    refused = page.request.post(
        f"{archived.url}/silences",
        form={"technologies": "video-surveillance", "duration": "2h", "comment": "no token"},
    )
    assert refused.status == 403
    wrong = page.request.post(
        f"{archived.url}/silences",
        form={
            "csrf": "forged",
            "technologies": "video-surveillance",
            "duration": "2h",
            "comment": "forged token",
        },
    )
    assert wrong.status == 403
    page.goto(f"{archived.url}/silences")
    assert "no token" not in page.content() and "forged token" not in page.content()


def test_html_in_an_article_title_is_shown_as_text(page: Page, archived: SeededConsole) -> None:
    hostile = archived.alerts[0].model_copy(
        update={
            "id": f"alert-hostile-{uuid.uuid4().hex[:8]}",
            "title": '<img id="injected" src="/x" onerror="document.title=\'owned\'"><b>Spyware</b> deal',
        }
    )
    run_async(publish(archived.bootstrap, [hostile]))
    _wait_for_alert(archived, hostile)
    signed_in(page, archived)
    page.goto(f"{archived.url}{alert_path(hostile.id)}")
    assert page.locator("#alert-title").inner_text() == hostile.title
    assert page.locator("#injected").count() == 0 and page.locator("#alert-title b").count() == 0
    assert page.title() != "owned"
    page.goto(f"{archived.url}/?q=Spyware")
    assert page.locator("#injected").count() == 0


def _wait_for_alert(console: SeededConsole, alert: Alert) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if api(console, f"/v1/alerts/{alert.id}").status_code == 200:
            return
        time.sleep(0.2)
    raise AssertionError(f"{alert.id} never reached the archive")


@pytest.mark.parametrize("path", ["/signin", "/", "/?q=Predator", "ALERT", "/subscriptions", "/silences"])
def test_the_main_pages_have_no_serious_accessibility_problem(
    page: Page, archived: SeededConsole, axe: str, path: str
) -> None:
    from tests.browser.accessibility import assert_accessible

    if path != "/signin":
        signed_in(page, archived)
    if path == "ALERT":
        path = alert_path(next(a for a in archived.alerts if a.evidence).id)
    page.goto(f"{archived.url}{path}")
    assert_accessible(page, axe)


def test_the_console_fits_a_phone(phone: Page, archived: SeededConsole, tmp_path: Path) -> None:
    signed_in(phone, archived)
    for path in ("/", alert_path(archived.alerts[0].id), "/subscriptions", "/silences"):
        phone.goto(f"{archived.url}{path}")
        width = phone.evaluate("() => window.innerWidth")
        overflow = phone.evaluate("() => document.documentElement.scrollWidth")
        assert overflow <= width, f"{path} is {overflow} px wide on a {width} px phone: it scrolls sideways"
    shot = save_screenshot(phone, tmp_path / "phone-silences.png")
    assert shot.stat().st_size > 1000
