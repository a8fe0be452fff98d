"""Debian's chromium driven by Playwright for Python, as the browser tests and ``exportwatch screenshots``
use it: no browser download, a fresh profile every launch, nothing fetched from the network by chromium
itself; the viewports they look at, signing in to the console, and saving a screenshot."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

DEFAULT_CHROMIUM = "/usr/bin/chromium"
# Headless, and quiet: no sandbox (containers and root), no GPU, no QUIC, none of chromium's own
# background traffic (updates, sync, first-run pages), so a test only ever talks to our servers.
CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 900}}
# A common phone: 390 CSS pixels wide, touch, scaled three times.
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
}


class NoChromium(RuntimeError):
    """chromium is not where it was looked for; the message says how to install it."""


def chromium_path(environ: os._Environ[str] | dict[str, str] | None = None) -> str:
    """The chromium to drive: ``EXPORTWATCH_CHROMIUM`` or /usr/bin/chromium (or ``chromium`` on the
    PATH). NoChromium, saying how to get it, when there is none."""
    environ = os.environ if environ is None else environ
    given = environ.get("EXPORTWATCH_CHROMIUM")
    if given:
        if Path(given).is_file():
            return given
        raise NoChromium(f"EXPORTWATCH_CHROMIUM names {given}, which does not exist")
    found = DEFAULT_CHROMIUM if Path(DEFAULT_CHROMIUM).is_file() else shutil.which("chromium")
    if found is None:
        raise NoChromium(
            f"no chromium at {DEFAULT_CHROMIUM} or on the PATH: install Debian's package `chromium` "
            "(`python3 tasks.py test` does as root) or set EXPORTWATCH_CHROMIUM to a chromium binary"
        )
    return found


def launch(playwright: Playwright, executable: str) -> Browser:
    """A headless chromium of the machine. Playwright gives each launch a new, empty profile in a
    temporary folder (the fresh user-data dir) and deletes it when the browser closes."""
    return playwright.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS), headless=True)


def sign_in(page: Page, base_url: str, token: str) -> None:
    """Sign in to the console with an API token through its form, as a researcher does."""
    page.goto(f"{base_url}/signin")
    page.get_by_label("Your API token").fill(token)
    with page.expect_navigation(wait_until="load"):  # the page after sign-in, not the form still
        page.locator("#signin").click()


def save_screenshot(page: Page, path: Path, *, full_page: bool = True) -> Path:
    """The page as a PNG at ``path`` (folders made as needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page)
    return path
