"""Watchlist changes without a restart: the match service holds its current Matcher here, polls the
operator watchlist folders for changes (and reloads on SIGHUP), compiles a new Matcher off the event
loop and swaps it in at once. An invalid file never replaces good lists: the error (naming the file,
the line and the problem) is logged and counted once, and the folders are tried again only when they
change again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import stat
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge

from services.match.core.engine import Matcher, WatchlistError

log = logging.getLogger("exportwatch.match.reload")

OUTCOMES = ("success", "error")

FileStamp = tuple[str, int, int, int]  # name, mtime_ns, size, inode
FolderStamp = tuple[str, tuple[int, int] | None, tuple[FileStamp, ...]]  # path, (dev, inode) of a folder
Fingerprint = tuple[FolderStamp, ...]


def fingerprint(dirs: Sequence[Path]) -> Fingerprint:
    """A cheap stamp of the operator folders: for each folder whether it is one, and the name, mtime,
    size and inode of each ``*.yaml``/``*.yml`` file in it (the same files the loader reads). It changes
    when a file is edited, added, removed or replaced; it reads no file contents."""
    stamps: list[FolderStamp] = []
    for d in dirs:
        folder = Path(d)
        try:
            st = folder.stat()
        except OSError:
            stamps.append((str(folder), None, ()))
            continue
        if not stat.S_ISDIR(st.st_mode):
            stamps.append((str(folder), None, ()))
            continue
        files: list[FileStamp] = []
        try:
            paths = sorted({*folder.glob("*.yaml"), *folder.glob("*.yml")})
        except OSError:
            paths = []
        for path in paths:
            try:
                fs = path.stat()
            except OSError:  # vanished meanwhile, or a dangling link: the loader will say so
                files.append((path.name, -1, -1, -1))
                continue
            files.append((path.name, fs.st_mtime_ns, fs.st_size, fs.st_ino))
        stamps.append((str(folder), (st.st_dev, st.st_ino), tuple(files)))
    return tuple(stamps)


def note_beyond_vocabulary(matcher: Matcher) -> None:
    """Log the ids the operator folders add beyond the shared vocabulary: alerts carry them, but notify
    refuses subscriptions naming them until its settings list them too."""
    beyond = matcher.lists.beyond_vocabulary
    if beyond:
        log.warning(
            "watchlist ids beyond the shared vocabulary: for subscriptions to name them, list them in "
            "notify's EXPORTWATCH_NOTIFY_EXTRA_TECHNOLOGIES, _DESTINATIONS or _VENDORS",
            extra={section: ",".join(ids) for section, ids in beyond.items()},
        )


class WatchlistMetrics:
    """Reload outcomes and what the current lists hold, on the service's registry."""

    def __init__(self, registry: CollectorRegistry, info: Gauge | None = None) -> None:
        self.info = info or Gauge(
            "exportwatch_match_watchlist_info", "Watchlist version in use.", ["version"], registry=registry
        )
        self.reloads = Counter(
            "exportwatch_match_watchlist_reloads_total",
            "Watchlist reloads after a change or SIGHUP, by outcome (an error keeps the previous lists).",
            ["outcome"],
            registry=registry,
        )
        self.entries = Gauge(
            "exportwatch_match_watchlist_entries",
            "Enabled entries in the watchlists in use, by list.",
            ["list"],
            registry=registry,
        )
        self.loaded_at = Gauge(
            "exportwatch_match_watchlist_loaded_timestamp_seconds",
            "Unix time the watchlists in use were loaded.",
            registry=registry,
        )
        self.failing = Gauge(
            "exportwatch_match_watchlist_reload_failing",
            "1 while the watchlist files on disk cannot be loaded (the previous lists stay in use), "
            "0 once they load.",
            registry=registry,
        )
        for outcome in OUTCOMES:
            self.reloads.labels(outcome=outcome)

    def in_use(self, matcher: Matcher, previous: Matcher | None, at: float) -> None:
        """Point the gauges at ``matcher`` (the previous version's info series is removed)."""
        if previous is not None and previous.version != matcher.version:
            with contextlib.suppress(KeyError):
                self.info.remove(previous.version)
        self.info.labels(version=matcher.version).set(1)
        lists = matcher.lists
        counts = {
            "technologies": len(lists.technologies),
            "destinations": len(lists.destinations),
            "vendors": len(lists.vendors),
            "codes": len(lists.codes),
        }
        for name, count in counts.items():
            self.entries.labels(list=name).set(count)
        self.loaded_at.set(at)


class WatchlistReloader:
    """Holds the Matcher in use (``.matcher``; read it once per batch so a batch uses one version) and
    replaces it when the operator folders change.

    ``reload()`` is serialised; the new Matcher is built in a worker thread and swapped in with a single
    assignment, so events are never evaluated against half-loaded lists.
    """

    def __init__(
        self,
        matcher: Matcher,
        dirs: Sequence[Path],
        metrics: WatchlistMetrics,
        *,
        stamp: Fingerprint | None = None,
        loader: Callable[[Sequence[Path]], Matcher] = Matcher.load,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.dirs = [Path(d) for d in dirs]
        self.metrics = metrics
        self._matcher = matcher
        self._loader = loader
        self._clock = clock
        # The folders as last tried (successfully or not): a change is acted on once.
        self._seen = stamp if stamp is not None else fingerprint(self.dirs)
        self._lock = asyncio.Lock()
        self._wake: asyncio.Event | None = None
        self._forced = False
        self._previous_sighup: signal.Handlers | int | None = None
        metrics.in_use(matcher, None, clock())
        note_beyond_vocabulary(matcher)

    @classmethod
    def load(
        cls, dirs: Sequence[Path], metrics: WatchlistMetrics, matcher: Matcher | None = None
    ) -> WatchlistReloader:
        """Load the lists now (raising WatchlistError when they are invalid), unless ``matcher`` is given.
        The folders are stamped before loading, so a change made during the load is reloaded later."""
        stamp = fingerprint([Path(d) for d in dirs])
        return cls(matcher or Matcher.load(dirs), dirs, metrics, stamp=stamp)

    @property
    def matcher(self) -> Matcher:
        return self._matcher

    @property
    def version(self) -> str:
        return self._matcher.version

    async def reload(self, *, force: bool = False) -> bool:
        """Reload when the folders changed since last tried (always when ``force``). True when a new
        Matcher is now in use; False when nothing changed or the new files are invalid."""
        async with self._lock:
            before = await asyncio.to_thread(fingerprint, self.dirs)
            if before == self._seen and not force:
                return False
            try:
                new = await asyncio.to_thread(self._loader, self.dirs)
                error: Exception | None = None
            except Exception as exc:  # WatchlistError, or anything the loader did not expect
                error = exc
            after = await asyncio.to_thread(fingerprint, self.dirs)
            if after != before:
                # Files changed while we read them (an editor still writing): neither use nor report
                # what we read; the next poll sees a change and reads them again.
                log.debug("watchlist files changed during reload; trying again on the next poll")
                return False
            self._seen = before
            old = self._matcher
            if error is not None:
                self.metrics.reloads.labels(outcome="error").inc()
                self.metrics.failing.set(1)
                if isinstance(error, WatchlistError):
                    log.error(
                        "watchlist reload failed; the previous lists stay in use",
                        extra={"error": str(error), "version": old.version},
                    )
                else:
                    log.error(
                        "watchlist reload failed unexpectedly; the previous lists stay in use",
                        exc_info=error,
                        extra={"error": f"{type(error).__name__}: {error}", "version": old.version},
                    )
                return False
            self._matcher = new
            self.metrics.in_use(new, old, self._clock())
            note_beyond_vocabulary(new)
            self.metrics.reloads.labels(outcome="success").inc()
            self.metrics.failing.set(0)
            log.info(
                "watchlists reloaded",
                extra={"old_version": old.version, "new_version": new.version, "forced": force},
            )
            return True

    def request_reload(self) -> None:
        """Reload at once, even if the folders look unchanged (SIGHUP). Call on the running loop."""
        self._forced = True
        if self._wake is not None:
            self._wake.set()

    async def run(self, interval: float, *, sighup: bool = True) -> None:
        """Poll every ``interval`` seconds (0: never; SIGHUP still reloads) until cancelled."""
        self._wake = asyncio.Event()
        if self._forced:
            self._wake.set()
        installed = self._install_sighup() if sighup else False
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(interval if interval > 0 else None):
                        await self._wake.wait()
                self._wake.clear()
                force, self._forced = self._forced, False
                try:
                    await self.reload(force=force)
                except Exception:  # the poller must outlive any surprise
                    log.exception("watchlist reload check failed")
        finally:
            if installed:
                self._remove_sighup()

    def _install_sighup(self) -> bool:
        """SIGHUP reloads, where the platform has it and nobody in this process handles it yet (a second
        service in the same process, or a test harness, keeps its own handler)."""
        sighup = getattr(signal, "SIGHUP", None)
        if sighup is None:
            return False
        try:
            current = signal.getsignal(sighup)
        except ValueError:
            return False
        if callable(current):
            log.info("SIGHUP is handled elsewhere in this process; watchlists reload by polling only")
            return False
        try:
            asyncio.get_running_loop().add_signal_handler(sighup, self.request_reload)
        except (ValueError, RuntimeError, NotImplementedError):  # not the main thread, or no support
            return False
        self._previous_sighup = current
        return True

    def _remove_sighup(self) -> None:
        """Give SIGHUP back as it was (the loop would leave the default, even where it was ignored)."""
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            if self._previous_sighup is not None:
                signal.signal(signal.SIGHUP, self._previous_sighup)
