"""The browser layer: Debian's chromium driven by Playwright (never downloaded), a real notify on real
sockets with the embedded broker and SQLite, seeded with the bundled matcher's alerts, and two
researchers' tokens. A missing chromium, axe-core or service is a failure, never a skip."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.accessibility import axe_source
from tools.browser import DESKTOP, PHONE, NoChromium, chromium_path, launch, save_screenshot
from tools.console_stack import ConsoleStartError, SeededConsole, seeded_console, wait_archived
from tools.embedded import EmbeddedBroker

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


@pytest.fixture(scope="session")
def chromium() -> str:
    """The chromium binary (EXPORTWATCH_CHROMIUM or /usr/bin/chromium)."""
    try:
        return chromium_path()
    except NoChromium as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def axe() -> str:
    """axe.min.js, fetched by tasks.py into .cache/axe-core/<version>/."""
    return axe_source()


@pytest.fixture(scope="package")
def browser(chromium: str, kafka: EmbeddedBroker) -> Iterator[Browser]:
    """One chromium for this layer. Playwright's sync API keeps an event loop running in the main thread
    while it is open, so it must be closed when the browser tests end (package scope, not session):
    the asyncio tests of the other layers, run after these in the same process, start loops of their
    own and fail on a running one. It asks for the broker first, as the session broker is started with
    ``asyncio.run`` in the main thread."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = launch(playwright, chromium)
        yield launched
        launched.close()


def _page(
    browser: Browser, options: dict[str, object], request: pytest.FixtureRequest, shots: Path
) -> Iterator[Page]:
    context = browser.new_context(**options)  # type: ignore[arg-type]
    context.set_default_timeout(10_000)  # a missing element fails in seconds, not half a minute
    page = context.new_page()
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        # What the browser showed when the test failed, next to the test's temporary files.
        save_screenshot(page, shots / f"{request.node.name}.png")
    context.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Page]:
    """A desktop-sized page in a context of its own (no cookies shared between tests)."""
    yield from _page(browser, DESKTOP, request, tmp_path)


@pytest.fixture
def phone(browser: Browser, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Page]:
    """A phone-sized page (390 x 844 CSS pixels, touch) in a context of its own."""
    yield from _page(browser, PHONE, request, tmp_path)


@pytest.fixture
def browser_page_pair(
    browser: Browser, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Page, Page]]:
    """Two desktop pages with separate cookies: two researchers signed in side by side."""
    first = _page(browser, DESKTOP, request, tmp_path / "first")
    second = _page(browser, DESKTOP, request, tmp_path / "second")
    yield next(first), next(second)
    for pages in (first, second):
        next(pages, None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def console(kafka: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeededConsole]:
    """notify as its own process on a free port, its own SQLite database, researchers' tokens for
    'amnesty' and 'pi', and the seeded alerts published to the alerts topic."""
    try:
        with seeded_console(tmp_path_factory.mktemp("console"), kafka) as running:
            yield running
    except ConsoleStartError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def archived(console: SeededConsole) -> SeededConsole:
    """The console once its archive answers the seeded alerts (GET /v1/alerts with the admin token)."""
    try:
        wait_archived(console, len(console.alerts))
    except ConsoleStartError as exc:
        pytest.fail(str(exc), pytrace=False)
    return console
