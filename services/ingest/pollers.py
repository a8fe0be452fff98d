"""Polling configured sources: URLs (feeds and licence data, with conditional requests and backoff) and
files or folders (new and changed files). State lives in the database, so a restart neither re-reads
what was ingested nor forgets a backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx

from services.common.outbound import ForbiddenAddress, ForbiddenScheme, Refused, Unresolvable
from services.ingest.core.caat import load_ratings
from services.ingest.core.results import Parsed
from services.ingest.core.schedule import next_delay, parse_retry_after
from services.ingest.core.sources import SUFFIXES, is_ratings_table, parse_source
from services.ingest.core.sources_file import SourceSpec
from services.ingest.ingestor import Ingestor
from services.ingest.metrics import IngestMetrics
from services.ingest.store.repository import IngestStore, SourceState

log = logging.getLogger("exportwatch.ingest")


@dataclass(frozen=True)
class PollPolicy:
    url_interval: float = 900.0
    folder_interval: float = 10.0
    backoff_base: float = 30.0
    backoff_ceiling: float = 3600.0
    timeout: float = 30.0
    max_bytes: int = 50_000_000
    max_item_bytes: int = 1_000_000
    settle_seconds: float = 1.0
    user_agent: str = "ExportWatch/0.1 (+https://github.com/exportwatch)"


class PollError(Exception):
    """A poll failed; ``outcome`` is the metric label, ``retry_after`` the server's wish in seconds."""

    def __init__(self, outcome: str, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail
        self.retry_after = retry_after


_TEMPORARY_SUFFIXES = (".tmp", ".part", ".partial", ".swp", ".crdownload", ".lock")


def _is_temporary(name: str) -> bool:
    """Hidden files and files still being written or edited by another program."""
    lower = name.lower()
    return name.startswith((".", "~")) or name.endswith("~") or lower.endswith(_TEMPORARY_SUFFIXES)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


ALLOW_SETTING = "EXPORTWATCH_INGEST_ALLOW_PRIVATE_NETWORKS"


def _host(url: httpx.URL) -> str:
    # The host only, as sent: a URL's path or query may carry an API key.
    return url.raw_host.decode("ascii", "replace") or "the source"


def refusal(refused: Refused, feed_url: str) -> PollError:
    """The poll error of a fetch the address guard stopped, at the feed's own host or at any host it
    redirected to: which one (by host, never the path or query), why, and for a forbidden address the
    setting that allows it. A host that cannot be resolved is a network error like any other; the rest
    is ``forbidden_target``, which persists until the feed or the setting changes."""
    feed = httpx.URL(feed_url)
    hop = refused.url or feed
    first = (hop.scheme, hop.raw_host, hop.port) == (feed.scheme, feed.raw_host, feed.port)
    where = f"the feed's host {_host(feed)}" if first else f"{_host(hop)}, where the feed redirected"
    if isinstance(refused, Unresolvable):
        return PollError("network_error", f"{refused.detail}: {where}")
    if isinstance(refused, ForbiddenAddress):
        who = f"the feed's host {_host(feed)}" if first else f"the feed redirected to {_host(hop)}, which"
        return PollError(
            "forbidden_target",
            f"{who} resolves to a {refused.kind} address, which is not allowed; allow its network "
            f"with {ALLOW_SETTING}",
        )
    if isinstance(refused, ForbiddenScheme):
        what = "the feed's URL is" if first else "the feed redirected to a URL that is"
        return PollError("forbidden_target", f"{what} not http or https")
    return PollError("forbidden_target", f"{refused.detail}: {where}")


class SourcePoller:
    """One configured source: polls it on its schedule until cancelled."""

    def __init__(
        self,
        spec: SourceSpec,
        ingestor: Ingestor,
        store: IngestStore,
        metrics: IngestMetrics,
        policy: PollPolicy,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.spec = spec
        self.ingestor = ingestor
        self.store = store
        self.metrics = metrics
        self.policy = policy
        self.http = http
        self.clock = clock
        self.kind = "http" if spec.url else "file"
        self.interval = spec.interval or (policy.url_interval if spec.url else policy.folder_interval)
        metrics.interval.labels(source=spec.name).set(self.interval)
        self._settling = False
        self.polled = asyncio.Event()  # set after every poll: tests and the stack wait on it

    async def run(self) -> None:
        state = await self.store.source_state(self.spec.name, self.kind)
        if state.last_success_at is not None:
            self.metrics.succeeded(self.spec.name, state.last_success_at)
        while True:
            now = self.clock()
            if state.next_attempt_at is not None and state.next_attempt_at > now:
                await asyncio.sleep((state.next_attempt_at - now).total_seconds())
            try:
                state = await self.poll_once(state)
            except Exception:
                # The database itself failed (a poll's own failures never raise): wait and go on.
                log.exception("polling a source failed", extra={"source": self.spec.name})
                await asyncio.sleep(self.policy.backoff_base)

    async def poll_once(self, state: SourceState | None = None) -> SourceState:
        """Poll now, record the outcome and the next attempt time; never raises for a failed poll."""
        state = state or await self.store.source_state(self.spec.name, self.kind)
        started = time.perf_counter()
        now = self.clock()
        state.last_attempt_at = now
        retry_after: float | None = None
        try:
            outcome = await (self._poll_url(state) if self.spec.url else self._poll_path())
        except PollError as exc:
            outcome, retry_after = exc.outcome, exc.retry_after
            state.failures += 1
            state.last_error = exc.detail[:1000]
            log.warning(
                "source poll failed",
                extra={
                    "source": self.spec.name,
                    "outcome": exc.outcome,
                    "error": exc.detail[:300],
                    "failures": state.failures,
                },
            )
        else:
            state.failures = 0
            state.last_error = None
            state.last_success_at = self.clock()
            self.metrics.succeeded(self.spec.name, state.last_success_at)
        delay = next_delay(
            self.interval,
            state.failures,
            base=self.policy.backoff_base,
            ceiling=self.policy.backoff_ceiling,
            retry_after=retry_after,
            jitter=random.uniform(-1, 1) if state.failures else 0.0,
        )
        if self._settling:
            delay = min(delay, self.policy.settle_seconds + 0.2)
            self._settling = False
        state.next_attempt_at = self.clock() + dt.timedelta(seconds=delay)
        await self.store.save_source(state)
        self.metrics.polls.labels(source=self.spec.name, outcome=outcome).inc()
        self.metrics.failures.labels(source=self.spec.name).set(state.failures)
        self.metrics.poll_seconds.labels(source=self.spec.name).observe(time.perf_counter() - started)
        self.polled.set()
        return state

    # --- URLs ---------------------------------------------------------------------------------------

    async def _fetch(self, state: SourceState) -> tuple[httpx.Response, bytes] | None:
        """GET with the stored validators, following at most 5 redirects, each hop checked by the
        address guard where it connects; None on 304. Raises PollError.

        Only the body of a 2xx answer of an allowed address is read and returned (and, when it does not
        parse, dead-lettered): a refused hop was never connected to, and the body of an error or of an
        unfollowed 3xx is neither read nor copied anywhere."""
        assert self.http is not None and self.spec.url is not None
        headers = {"User-Agent": self.policy.user_agent, "Accept-Encoding": "gzip, deflate"}
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        try:
            async with self.http.stream(
                "GET", self.spec.url, headers=headers, timeout=self.policy.timeout
            ) as response:
                code = response.status_code
                if code == 304:
                    return None
                if not 200 <= code < 300:
                    wait = parse_retry_after(response.headers.get("retry-after"), self.clock())
                    unfollowed = " (a redirect with no location to follow)" if 300 <= code < 400 else ""
                    raise PollError("http_error", f"HTTP {code} from {self._where()}{unfollowed}", wait)
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > self.policy.max_bytes:
                    raise PollError("too_large", f"{declared} bytes, above {self.policy.max_bytes}")
                body = bytearray()
                async for part in response.aiter_bytes():
                    body.extend(part)
                    if len(body) > self.policy.max_bytes:
                        raise PollError("too_large", f"more than {self.policy.max_bytes} bytes")
                return response, bytes(body)
        except Refused as refused:
            raise refusal(refused, self.spec.url) from None
        except httpx.HTTPError as exc:
            raise PollError("network_error", f"{type(exc).__name__} from {self._where()}: {exc}") from None

    def _where(self) -> str:
        return _host(httpx.URL(self.spec.url or ""))

    async def _poll_url(self, state: SourceState) -> str:
        fetched = await self._fetch(state)
        if fetched is None:
            return "not_modified"
        response, data = fetched
        digest = _sha256(data)
        validators = (response.headers.get("etag"), response.headers.get("last-modified"))
        if digest == state.content_hash:
            state.etag, state.last_modified = validators
            return "unchanged"
        name = self._name_for(response)
        parsed = parse_source(
            name,
            data,
            self.clock(),
            format=self.spec.format,
            language=self.spec.language,
            mapping=self.spec.mapping,
            ratings=self._ratings(),
            max_item_bytes=self.policy.max_item_bytes,
            feed_name=self.spec.name,
        )
        await self._ingest(parsed, self.spec.name)
        state.etag, state.last_modified = validators
        state.content_hash = digest
        return "ok"

    def _name_for(self, response: httpx.Response) -> str:
        """A file name whose suffix tells parse_source the format when the config says auto."""
        path = response.url.path.rsplit("/", 1)[-1] or "index"
        if Path(path).suffix.lower() in SUFFIXES:
            return path
        ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if "csv" in ctype:
            return path + ".csv"
        if "ndjson" in ctype or "jsonl" in ctype or "json-seq" in ctype:
            return path + ".jsonl"
        return path + ".xml"  # RSS, Atom, RDF and anything else XML-ish: feedparser is tolerant

    # --- files and folders --------------------------------------------------------------------------

    def _ratings(self) -> dict[str, str] | None:
        if self.spec.ratings is None:
            return None
        try:
            return load_ratings(self.spec.ratings.read_bytes())
        except OSError as exc:
            log.error("cannot read ratings", extra={"source": self.spec.name, "error": str(exc)})
            return None

    def _files(self) -> list[Path]:
        path = self.spec.path
        assert path is not None
        if path.is_dir():
            # Every file but hidden and temporary ones: a file nobody can parse is dead-lettered (once
            # per content), not silently ignored.
            return sorted(p for p in path.iterdir() if p.is_file() and not _is_temporary(p.name))
        if path.exists():
            return [path]
        raise PollError("read_error", f"{path} does not exist")

    async def _poll_path(self) -> str:
        try:
            files = await asyncio.to_thread(self._files)
        except OSError as exc:
            raise PollError("read_error", str(exc)) from None
        prefix = f"{self.spec.name}:"
        states = {st.key: st for st in await self.store.source_states(prefix)}  # one query per scan
        pending: list[tuple[Path, SourceState, bytes, str]] = []
        for file in files:
            key = prefix + str(file)
            state = states.get(key) or SourceState(key=key, kind="file")
            try:
                stat = file.stat()
            except OSError:
                continue  # removed between listing and reading
            if time.time() - stat.st_mtime < self.policy.settle_seconds:
                self._settling = True  # still being written: look again soon
                continue
            if state.content_hash and (state.size, state.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
                continue
            try:
                data = await asyncio.to_thread(file.read_bytes)
            except OSError as exc:
                raise PollError("read_error", f"{file.name}: {exc}") from None
            digest = _sha256(data)
            state.size, state.mtime_ns = stat.st_size, stat.st_mtime_ns
            if digest == state.content_hash:
                await self.store.save_source(state)
                continue
            pending.append((file, state, data, digest))
        if not pending:
            return "ok"
        # Reference tables (CAAT ratings) first, so the data files of the same scan use them.
        reference = {file for file, _, data, _ in pending if is_ratings_table(file.name, data)}
        ratings = self._ratings() or {}
        for file, _, data, _ in pending:
            if file in reference:
                ratings.update(load_ratings(data))
        for file, state, data, digest in pending:
            if file in reference:
                outcome_note = "reference"
            else:
                parsed = parse_source(
                    file.name,
                    data,
                    self.clock(),
                    format=self.spec.format,
                    language=self.spec.language,
                    mapping=self.spec.mapping,
                    ratings=ratings,
                    max_item_bytes=self.policy.max_item_bytes,
                    feed_name=file.stem,
                )
                outcome_note = await self._ingest(parsed, f"{self.spec.name}:{file.name}")
            state.content_hash = digest
            state.last_success_at = self.clock()
            state.last_error = None
            await self.store.save_source(state)
            log.info(
                "file ingested", extra={"source": self.spec.name, "file": file.name, "result": outcome_note}
            )
        return "ok"

    async def _ingest(self, parsed: Iterable[Parsed], where: str) -> str:
        try:
            tally, _ = await self.ingestor.ingest(parsed, where, label=self.spec.name)
        except Exception as exc:
            raise PollError("publish_error", f"publishing failed: {type(exc).__name__}: {exc}") from None
        return ", ".join(f"{k}={v}" for k, v in sorted(tally.counts.items())) or "empty"


async def run_pollers(pollers: list[SourcePoller], ingestor: Ingestor, prune_every: float = 3600.0) -> None:
    """Run every poller, and prune the near-duplicate index now and then, until cancelled."""
    tasks = [asyncio.create_task(p.run(), name=f"poll-{p.spec.name}") for p in pollers]
    try:
        while True:
            await asyncio.sleep(prune_every)
            with contextlib.suppress(Exception):
                await ingestor.prune()
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
