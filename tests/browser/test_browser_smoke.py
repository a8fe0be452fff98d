"""The browser layer's own machinery, proven without the console: chromium opens pages notify serves
on real sockets, axe-core runs in a page that forbids inline and foreign scripts and names what it
finds, a phone-sized page is phone-sized, and a screenshot is a PNG."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.accessibility import assert_accessible, violations
from tools.browser import save_screenshot
from tools.console_stack import SeededConsole

if TYPE_CHECKING:
    from playwright.sync_api import Page

# The console's own policy: scripts only from the page's origin, nothing inline, nothing from elsewhere.
STRICT_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; frame-ancestors 'none'"
GOOD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Alerts</title></head>
<body><header><a href="#main">Skip to the alerts</a></header>
<main id="main"><h1>Alerts</h1>
<form action="/" method="get"><label for="q">Words to look for</label><input id="q" name="q">
<button type="submit">Search</button></form>
<p>Nothing found yet.</p></main></body></html>
"""
# Two problems axe calls critical: an image with no text alternative, a field with no label.
BAD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Broken</title></head>
<body><main><h1>Broken</h1><img src="/chart.png"><form><input name="q"></form></main></body></html>
"""
PAGES = {"/good": GOOD, "/bad": BAD}


@pytest.fixture(scope="module")
def static_site() -> Iterator[str]:
    """A small site on a free port that sends the console's strict Content-Security-Policy."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = PAGES.get(self.path, "").encode()
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Security-Policy", STRICT_CSP)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_chromium_opens_what_notify_serves(page: Page, console: SeededConsole) -> None:
    answer = page.goto(f"{console.url}/metrics")
    assert answer is not None and answer.status == 200
    assert "exportwatch_notify_" in page.content()
    health = page.goto(f"{console.url}/healthz")
    assert health is not None and health.status == 200


def test_axe_runs_under_a_strict_csp_and_passes_a_good_page(page: Page, static_site: str, axe: str) -> None:
    answer = page.goto(f"{static_site}/good")
    assert answer is not None and answer.headers["content-security-policy"] == STRICT_CSP
    assert_accessible(page, axe)
    assert page.evaluate("() => typeof window.axe.version") == "string", "axe ran in the page itself"


def test_axe_names_serious_problems_and_fails(page: Page, static_site: str, axe: str) -> None:
    page.goto(f"{static_site}/bad")
    found = {v["id"]: v["impact"] for v in violations(page, axe)}
    assert found.get("image-alt") == "critical"
    assert found.get("label") == "critical"
    with pytest.raises(AssertionError) as failure:
        assert_accessible(page, axe)
    message = str(failure.value)
    assert "image-alt" in message and "label" in message and "<img" in message


def test_a_phone_page_is_phone_sized_and_a_screenshot_is_a_png(
    phone: Page, static_site: str, tmp_path: Path
) -> None:
    phone.goto(f"{static_site}/good")
    assert phone.evaluate("() => window.innerWidth") == 390
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= 390, "nothing wider than the phone"
    shot = save_screenshot(phone, tmp_path / "phone" / "good.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
