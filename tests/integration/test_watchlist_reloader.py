"""Watchlist reload: the folder fingerprint, swapping in a new Matcher, and invalid files that keep the
previous lists (counted and logged once, retried only after another change)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import signal
from collections.abc import Sequence
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from schemas.events import NewsArticle
from services.match.core.engine import Matcher
from services.match.reload import WatchlistMetrics, WatchlistReloader, fingerprint
from tests.conftest import eventually

NOW = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
# Mongolia is on no list (Chile, say, is listed at tier none): the operator's file adds it.
MONGOLIA = NewsArticle(
    id="mn-1",
    source="test",
    url="https://example.org/mn-1",
    title="Surveillance exports",
    body="The company delivered facial recognition systems to the police in Mongolia.",
    language="en",
    published_at=NOW,
)
ADD_MONGOLIA = "destinations:\n  - {id: MN, tier: core, rationale: test entry}\n"
BAD_VENDOR = "vendors:\n  - id: acme\n    name: Acme\n    rationale: test\n    colour: red\n"


class Loads:
    """Matcher.load, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, dirs: Sequence[Path]) -> Matcher:
        self.calls += 1
        return Matcher.load(dirs)


def make(folder: Path, loader: Loads | None = None) -> tuple[WatchlistReloader, CollectorRegistry]:
    registry = CollectorRegistry()
    reloader = WatchlistReloader(
        Matcher.load([folder]),
        [folder],
        WatchlistMetrics(registry),
        loader=loader or Loads(),
        clock=lambda: 1234.5,
    )
    return reloader, registry


def reloads(registry: CollectorRegistry, outcome: str) -> float | None:
    return registry.get_sample_value("exportwatch_match_watchlist_reloads_total", {"outcome": outcome})


def test_fingerprint_changes_on_edit_add_and_remove(tmp_path: Path) -> None:
    empty = fingerprint([tmp_path])
    (tmp_path / "notes.txt").write_text("not a watchlist", encoding="utf-8")
    assert fingerprint([tmp_path]) == empty, "only *.yaml and *.yml count"

    (tmp_path / "vendors.yaml").write_text("vendors: []\n", encoding="utf-8")
    added = fingerprint([tmp_path])
    assert added != empty
    assert fingerprint([tmp_path]) == added, "stable while nothing changes"

    (tmp_path / "vendors.yaml").write_text("vendors: []  # longer\n", encoding="utf-8")
    edited = fingerprint([tmp_path])
    assert edited != added

    stat = (tmp_path / "vendors.yaml").stat()  # same size, only the mtime moves
    os.utime(tmp_path / "vendors.yaml", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    touched = fingerprint([tmp_path])
    assert touched != edited

    (tmp_path / "extra.yml").write_text("", encoding="utf-8")
    assert fingerprint([tmp_path]) != touched
    (tmp_path / "extra.yml").unlink()
    assert fingerprint([tmp_path]) == touched

    (tmp_path / "vendors.yaml").unlink()
    assert fingerprint([tmp_path]) == empty
    assert fingerprint([tmp_path / "missing"]) != fingerprint([tmp_path])


async def test_unchanged_folders_are_not_reloaded(tmp_path: Path) -> None:
    loads = Loads()
    reloader, registry = make(tmp_path, loads)
    first = reloader.matcher
    assert not await reloader.reload()
    assert loads.calls == 0 and reloader.matcher is first
    assert reloads(registry, "success") == 0 and reloads(registry, "error") == 0


async def test_a_change_swaps_in_a_new_matcher_with_a_new_version(tmp_path: Path) -> None:
    reloader, registry = make(tmp_path)
    old = reloader.matcher
    assert old.evaluate(MONGOLIA, NOW) == []
    assert registry.get_sample_value("exportwatch_match_watchlist_info", {"version": old.version}) == 1

    (tmp_path / "destinations.yaml").write_text(ADD_MONGOLIA, encoding="utf-8")
    assert await reloader.reload()

    new = reloader.matcher
    assert new.version != old.version and reloader.version == new.version
    (alert,) = new.evaluate(MONGOLIA, NOW)
    assert alert.destinations == ["MN"] and alert.watchlist_version == new.version
    assert reloads(registry, "success") == 1 and reloads(registry, "error") == 0
    assert registry.get_sample_value("exportwatch_match_watchlist_info", {"version": new.version}) == 1
    assert registry.get_sample_value("exportwatch_match_watchlist_info", {"version": old.version}) is None
    for name in ("technologies", "destinations", "vendors", "codes"):
        count = registry.get_sample_value("exportwatch_match_watchlist_entries", {"list": name})
        assert count == len(getattr(new.lists, name)) and count > 0
    assert registry.get_sample_value(
        "exportwatch_match_watchlist_entries", {"list": "destinations"}
    ) == 1 + len(old.lists.destinations)
    assert registry.get_sample_value("exportwatch_match_watchlist_loaded_timestamp_seconds") == 1234.5


async def test_ids_beyond_the_shared_vocabulary_are_logged_at_load_and_reload(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Mongolia alerts, but notify refuses subscriptions to MN until its settings list it: say so."""
    with caplog.at_level(logging.WARNING, logger="exportwatch.match.reload"):
        make(tmp_path)
        assert not caplog.records, "the bundled lists are the vocabulary"
        (tmp_path / "destinations.yaml").write_text(ADD_MONGOLIA, encoding="utf-8")
        reloader, _ = make(tmp_path)
        (tmp_path / "vendors.yaml").write_text(
            "vendors:\n  - {id: acme, name: Acme, rationale: test}\n", encoding="utf-8"
        )
        assert await reloader.reload()
    loaded, reloaded = caplog.records
    assert "EXPORTWATCH_NOTIFY_EXTRA_TECHNOLOGIES, _DESTINATIONS or _VENDORS" in loaded.getMessage()
    assert loaded.levelno == logging.WARNING and loaded.__dict__["destinations"] == "MN"
    assert "vendors" not in loaded.__dict__
    assert (reloaded.__dict__["destinations"], reloaded.__dict__["vendors"]) == ("MN", "acme")


async def test_an_invalid_file_keeps_the_old_matcher_and_counts_one_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    loads = Loads()
    reloader, registry = make(tmp_path, loads)
    good = reloader.matcher
    (tmp_path / "vendors.yaml").write_text(BAD_VENDOR, encoding="utf-8")

    with caplog.at_level(logging.ERROR, logger="exportwatch.match.reload"):
        assert not await reloader.reload()
        for _ in range(3):  # polls with nothing new: no retry, no new error, no new log line
            assert not await reloader.reload()

    assert reloader.matcher is good
    assert loads.calls == 1
    assert reloads(registry, "error") == 1 and reloads(registry, "success") == 0
    (record,) = [r for r in caplog.records if r.name == "exportwatch.match.reload"]
    error = record.__dict__["error"]
    assert "vendors.yaml" in error and "line 5" in error and "colour" in error, error
    assert record.__dict__["version"] == good.version
    assert registry.get_sample_value("exportwatch_match_watchlist_info", {"version": good.version}) == 1
    assert registry.get_sample_value("exportwatch_match_watchlist_reload_failing") == 1

    (tmp_path / "vendors.yaml").write_text("vendors: []\n", encoding="utf-8")  # fixed
    assert await reloader.reload()
    assert reloader.version != good.version
    assert loads.calls == 2
    assert reloads(registry, "error") == 1 and reloads(registry, "success") == 1
    assert registry.get_sample_value("exportwatch_match_watchlist_reload_failing") == 0


async def test_a_forced_reload_reads_unchanged_folders(tmp_path: Path) -> None:
    loads = Loads()
    reloader, registry = make(tmp_path, loads)
    assert await reloader.reload(force=True)
    assert loads.calls == 1 and reloads(registry, "success") == 1


async def test_files_changing_during_a_reload_are_read_again(tmp_path: Path) -> None:
    class Racing(Loads):
        def __call__(self, dirs: Sequence[Path]) -> Matcher:
            matcher = super().__call__(dirs)
            if self.calls == 1:  # an editor finishes writing while we compile
                (tmp_path / "destinations.yaml").write_text(ADD_MONGOLIA, encoding="utf-8")
            return matcher

    loads = Racing()
    reloader, registry = make(tmp_path, loads)
    first = reloader.matcher
    (tmp_path / "destinations.yaml").write_text("destinations: []\n", encoding="utf-8")
    assert not await reloader.reload()
    assert reloader.matcher is first and reloads(registry, "success") == 0
    assert await reloader.reload()
    assert loads.calls == 2 and reloader.matcher.evaluate(MONGOLIA, NOW)


async def test_an_unexpected_loader_failure_keeps_the_old_matcher(tmp_path: Path) -> None:
    def broken(dirs: Sequence[Path]) -> Matcher:
        raise RuntimeError("compiler bug")

    registry = CollectorRegistry()
    first = Matcher.load([tmp_path])
    reloader = WatchlistReloader(first, [tmp_path], WatchlistMetrics(registry), loader=broken)
    (tmp_path / "vendors.yaml").write_text("vendors: []\n", encoding="utf-8")
    assert not await reloader.reload()
    assert reloader.matcher is first and reloads(registry, "error") == 1


async def test_the_poller_picks_up_a_change(tmp_path: Path) -> None:
    reloader, _ = make(tmp_path)
    old = reloader.version
    task = asyncio.create_task(reloader.run(0.05, sighup=False))
    try:
        (tmp_path / "destinations.yaml").write_text(ADD_MONGOLIA, encoding="utf-8")
        await eventually(lambda: reloader.version != old, timeout=10)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_sighup_reloads_and_the_handler_is_removed_on_stop(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGHUP)
    assert before in (signal.SIG_DFL, signal.SIG_IGN), f"SIGHUP is already handled here: {before!r}"
    reloader, registry = make(tmp_path)
    other, _ = make(tmp_path)
    old = reloader.version
    task = asyncio.create_task(reloader.run(0, sighup=True))  # no polling: only SIGHUP reloads
    await eventually(lambda: callable(signal.getsignal(signal.SIGHUP)), timeout=5)
    second = asyncio.create_task(other.run(0, sighup=True))  # SIGHUP is taken: it leaves it alone
    try:
        (tmp_path / "destinations.yaml").write_text(ADD_MONGOLIA, encoding="utf-8")
        await asyncio.sleep(0.2)
        assert reloader.version == old, "polling is off"
        os.kill(os.getpid(), signal.SIGHUP)
        await eventually(lambda: reloader.version != old, timeout=10)
        assert reloads(registry, "success") == 1
        assert other.version == old
    finally:
        for t in (second, task):
            t.cancel()
            with pytest.raises(asyncio.CancelledError):
                await t
    assert signal.getsignal(signal.SIGHUP) == before
