"""Pictures of the researchers' console for the docs: the seeded console the browser tests use (notify on
the embedded broker and SQLite, the bundled matcher's alerts), signed in as a researcher, its main pages
saved as PNG files at desktop and phone size.

    exportwatch screenshots [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

import httpx

from tools.browser import DESKTOP, PHONE, NoChromium, chromium_path, launch, save_screenshot, sign_in
from tools.console_stack import ConsoleStartError, SeededConsole, seeded_console, wait_archived

RESEARCHER = "amnesty"
# What the researcher has made before the pictures are taken, so the pages show a row each rather
# than "nothing yet". The webhook points at a closed local port: only a test send would go there.
EXAMPLE_SUBSCRIPTION = {
    "name": "Spyware sold to Egypt",
    "filters": {"destinations": ["EG"], "technologies": ["spyware"]},
    "channel": {"type": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "example-signing-key-0123"},
}
EXAMPLE_SILENCE = {
    "filters": {"technologies": ["video-surveillance"]},
    "duration": "3d",
    "comment": "Conference week: camera stories are followed by the Tajikistan team",
}


def pages(console: SeededConsole) -> dict[str, str]:
    """The file name (without .png) and the path of each main page."""
    newest = console.alerts[0].id if console.alerts else ""
    return {
        "alerts": "/?q=Predator",  # a search a researcher makes: the list, its counts and chart
        "alert": f"/alerts/{quote(newest, safe='')}",
        "subscriptions": "/subscriptions",
        "silences": "/silences",
    }


def furnish(console: SeededConsole) -> None:
    """The example subscription and silence, made through the API with the researcher's token."""
    headers = {"Authorization": f"Bearer {console.tokens[RESEARCHER]}"}
    for path, body in (("/v1/subscriptions", EXAMPLE_SUBSCRIPTION), ("/v1/silences", EXAMPLE_SILENCE)):
        answer = httpx.post(f"{console.url}{path}", json=body, headers=headers, timeout=10)
        if answer.status_code != 201:
            raise ConsoleStartError(f"POST {path} answered {answer.status_code}: {answer.text[:500]}")


def take(console: SeededConsole, executable: str, out: Path) -> list[Path]:
    """Sign in at desktop and at phone size and save every main page; the files written."""
    from playwright.sync_api import sync_playwright

    written: list[Path] = []
    with sync_playwright() as playwright:
        browser = launch(playwright, executable)
        try:
            for suffix, options, wanted in (
                ("", DESKTOP, pages(console)),
                ("-phone", {**PHONE, "device_scale_factor": 2}, {"alerts": "/"}),
            ):
                context = browser.new_context(**options)
                page = context.new_page()
                sign_in(page, console.url, console.tokens[RESEARCHER])
                for name, path in wanted.items():
                    page.goto(f"{console.url}{path}")
                    # On a phone the whole list is very long: its first screen is enough.
                    whole = not suffix
                    written.append(save_screenshot(page, out / f"{name}{suffix}.png", full_page=whole))
                context.close()
        finally:
            browser.close()
    return written


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="exportwatch screenshots",
        description="PNG pictures of the researchers' console's main pages, desktop and phone size.",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("docs/screenshots"), help="folder for the PNG files (made if needed)"
    )
    args = parser.parse_args(argv)
    try:
        executable = chromium_path()
    except NoChromium as exc:
        print(f"exportwatch screenshots: {exc}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="exportwatch-screens-") as workdir:
        try:
            with seeded_console(Path(workdir)) as console:
                wait_archived(console, len(console.alerts))
                furnish(console)
                written = take(console, executable, args.out)
        except ConsoleStartError as exc:
            print(f"exportwatch screenshots: the console could not be started: {exc}", file=sys.stderr)
            return 1
    for path in written:
        print(path)
    print(f"{len(written)} screenshots in {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
