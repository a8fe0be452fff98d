"""axe-core in a page: inject the cached axe.min.js and fail on every violation of impact serious or
critical, listed so a researcher-facing page's problem can be found and fixed without the tool."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tasks import AXE_DIR

if TYPE_CHECKING:
    from playwright.sync_api import Page

BLOCKING = ("serious", "critical")
# axe's own tags for the WCAG 2.1 A and AA rules and its best practices.
RUN_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}
}


def axe_source(folder: Path = AXE_DIR) -> str:
    """The cached axe.min.js; a failure naming it (and how to get it) when it is not there."""
    script = folder / "axe.min.js"
    if not script.is_file():
        pytest.fail(
            f"axe-core is missing: no {script}. `python3 tasks.py test` fetches it from the npm registry "
            "(or run `python3 -c 'import tasks; tasks.ensure_axe_core()'`)",
            pytrace=False,
        )
    return script.read_text(encoding="utf-8")


def violations(page: Page, source: str) -> list[dict[str, Any]]:
    """axe's violations on the page as it is now. The script is evaluated through the DevTools protocol,
    which the page's Content-Security-Policy (script-src 'self') does not govern, so the console is
    checked with its real headers."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(source)
    found: list[dict[str, Any]] = page.evaluate(
        "async (options) => (await window.axe.run(document, options)).violations", RUN_OPTIONS
    )
    return found


def describe(found: list[dict[str, Any]]) -> str:
    """One paragraph per violation: its impact, rule, what it means, and the elements concerned."""
    lines = []
    for violation in found:
        lines.append(
            f"- {violation['impact']}: {violation['id']}: {violation['help']} ({violation['helpUrl']})"
        )
        for node in violation.get("nodes", [])[:5]:
            lines.append(f"    at {' '.join(map(str, node.get('target', [])))}: {node.get('html', '')[:160]}")
    return "\n".join(lines)


def assert_accessible(page: Page, source: str) -> None:
    """No violation of impact serious or critical on the page; otherwise fail listing them all."""
    blocking = [v for v in violations(page, source) if v.get("impact") in BLOCKING]
    assert not blocking, (
        f"{page.url}: {len(blocking)} serious or critical accessibility problem(s):\n" + describe(blocking)
    )
