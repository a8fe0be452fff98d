"""What the console tests do again and again, as a researcher would: open a page signed in, fill the
forms by their labels, and ask the API (with the same researcher's token) what the page should show."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

import httpx

from tools.browser import sign_in
from tools.console_stack import SeededConsole

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

HOOK_SECRET = "browser-test-signing-key-0123"


def signed_in(page: Page, console: SeededConsole, owner: str = "amnesty") -> Page:
    sign_in(page, console.url, console.tokens[owner])
    assert page.locator("form#signout-form").is_visible(), page.content()[:2000]
    return page


def api(console: SeededConsole, path: str, owner: str | None = None, **params: Any) -> httpx.Response:
    """GET on notify's API as ``owner`` (the admin when None)."""
    token = console.admin_token if owner is None else console.tokens[owner]
    return httpx.get(
        f"{console.url}{path}", params=params, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


def alert_ids_shown(page: Page) -> list[str]:
    """The ids of the alerts the list shows, in order (from their links)."""
    hrefs = page.locator("#alert-table a.alert-link").evaluate_all("links => links.map(a => a.pathname)")
    return [unquote(h.removeprefix("/alerts/")) for h in hrefs]


def alert_path(alert_id: str) -> str:
    return f"/alerts/{quote(alert_id, safe='')}"


def submit(page: Page, control: Locator) -> None:
    """Click a control that submits a form or follows a link, and wait until the page it leads to has
    loaded: a bare click returns once the navigation has started, and what is read next could still be
    the old page, or an empty new one."""
    with page.expect_navigation(wait_until="load"):
        control.click()


def create_subscription(page: Page, console: SeededConsole, name: str, hook_url: str) -> str:
    """A webhook subscription to spyware alerts made through the form; its id."""
    page.goto(f"{console.url}/subscriptions")
    form = page.locator("#subscription-form")
    form.get_by_label("Name", exact=True).fill(name)
    form.get_by_label("Send by").select_option("webhook")
    form.get_by_label("Address (URL) of the Slack or webhook receiver").fill(hook_url)
    form.get_by_label("Signing key (webhooks, 16 characters or more)").fill(HOOK_SECRET)
    form.get_by_label("Technologies").select_option(["spyware"])
    submit(page, page.locator("#subscription-create"))
    row = page.locator("#subscription-table tbody tr", has_text=name)
    assert row.count() == 1, page.locator("main").inner_text()[:2000]
    row_id = row.get_attribute("id")
    assert row_id is not None
    return row_id.removeprefix("sub-")
