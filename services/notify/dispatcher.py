"""Sending what is due: claims notifications from the database, waits for each channel's rate limit,
sends, and records the outcome (delivered, retry later, dead). Runs in every notify replica; the
database's compare-and-set claims keep replicas from sending the same notification.

On SIGTERM it stops claiming, lets sends in flight finish and gives back the claims it has not sent,
so a graceful restart never sends anything twice. A process that dies outright leaves its claims to run
out (``lease_seconds``); they are then sent again with the same notification id.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from schemas import Notification
from schemas.bounds import bound_alert
from services.common.health import DATABASE_CHECK, Health
from services.notify.channels import build_channel, channel_rates
from services.notify.channels.base import Channel, ChannelContext, DeliveryError, Reason, utcnow
from services.notify.core.model import Subscription
from services.notify.core.outcome import INTERNAL_ERROR, Dead, Delivered, Failure, outcome, rate_limit_pause
from services.notify.core.ratelimit import RateLimiter
from services.notify.core.retry import RetryPolicy
from services.notify.metrics import NotifyMetrics
from services.notify.shares import Shares
from services.notify.store.repository import Claim, NotifyStore, Pending

log = logging.getLogger("exportwatch.notify.dispatch")


@dataclass(frozen=True)
class DispatchSettings:
    concurrency: int = 32  # sends at once
    # Claims that may wait for their target's rate limit at once, beside the sends. A claim waiting for
    # its turn holds no send slot, so a busy target (a thousand alerts for one Slack channel) never
    # holds up the notifications of other targets behind it.
    pacing: int = 512
    # Sends at once for one owner and for one target (0: a quarter of the concurrency each), so that
    # an owner with many subscriptions, or a target that answers slowly, cannot take every slot.
    per_owner: int = 0
    per_target: int = 0
    lease_seconds: float = 120.0
    poll_seconds: float = 0.5
    send_timeout_seconds: float = 10.0
    rates: tuple[tuple[str, float], ...] = channel_rates()  # each channel's default (the registry)


class Channels:
    """One channel object per subscription version (settings can change through the API)."""

    def __init__(self, ctx: ChannelContext) -> None:
        self.ctx = ctx
        self._cache: dict[str, tuple[dt.datetime, Channel]] = {}

    def get(self, sub: Subscription) -> Channel:
        cached = self._cache.get(sub.id)
        if cached is not None and cached[0] == sub.updated_at:
            return cached[1]
        channel = build_channel(sub.channel, self.ctx)
        self._cache[sub.id] = (sub.updated_at, channel)
        return channel


def notification_of(pending: Pending, sub: Subscription) -> Notification:
    return Notification(
        id=pending.id,
        kind="digest" if pending.kind == "digest" else "alerts",
        subscription_id=sub.id,
        subscription_name=sub.name,
        story=pending.group_key if pending.kind == "alerts" else None,
        period_start=pending.period_start,
        period_end=pending.period_end,
        alerts=[bound_alert(a) for a in pending.alerts],
        created_at=pending.created_at,
    )


class Dispatcher:
    def __init__(
        self,
        store: NotifyStore,
        channels: Channels,
        policy: RetryPolicy,
        metrics: NotifyMetrics,
        settings: DispatchSettings | None = None,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
        health: Health | None = None,
    ) -> None:
        self.store = store
        self.health = health or Health()
        self.channels = channels
        self.policy = policy
        self.metrics = metrics
        self.settings = settings or DispatchSettings()
        self.clock = clock
        self.holder = f"{socket.gethostname()[:30]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.rng = random.Random()
        self._limits = {kind: RateLimiter(rate) for kind, rate in self.settings.rates}
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._pacing: set[str] = set()  # claims in flight that wait for their target's rate limit
        self._send_slots = asyncio.Semaphore(self.settings.concurrency)
        share = max(1, self.settings.concurrency // 4)
        self._owners = Shares(self.settings.per_owner or share)
        self._targets = Shares(self.settings.per_target or share)
        self._delivered: list[tuple[str, asyncio.Future[bool]]] = []
        self._flushes: set[asyncio.Task[None]] = set()
        self._flushing = False
        self._cycle: asyncio.Task[int] | None = None

    def wake(self) -> None:
        """Look at the queue now (new notifications may be due)."""
        self._wake.set()

    async def run(self) -> None:
        """Claim and send until ``stop``.

        Cancelled (the service stops its background jobs that way), it stops as ``stop`` does before
        it ends: the look at the queue under way finishes and gives back what it claimed, sends in
        flight finish and are recorded, claims not yet sent are given back. A cancellation never cuts
        a claim in two (claimed in the database, but never sent nor given back)."""
        try:
            await self._loop()
        except asyncio.CancelledError:
            log.info("dispatcher cancelled: stopping gracefully", extra={"in_flight": len(self._inflight)})
            await self._stop_after_cancel()
            raise

    async def _loop(self) -> None:
        failures = 0
        tidied = time.monotonic()
        while not self._stopping.is_set():
            if time.monotonic() - tidied > 60:  # pacing state of targets gone quiet: memory stays bounded
                tidied = time.monotonic()
                for limiter in self._limits.values():
                    limiter.forget_idle(tidied)
            # Its own task, shielded: a cancellation of run() waits for it rather than cutting it off.
            began = self.clock()
            self._cycle = asyncio.create_task(self.dispatch_once(), name="notify-dispatch-once")
            try:
                await asyncio.shield(self._cycle)
                failures = 0
                self.health.ok(DATABASE_CHECK)
            except Exception as exc:  # the database may be briefly unreachable: keep trying
                failures += 1
                self.health.failed(DATABASE_CHECK, began, type(exc).__name__)
                log.error(
                    "cannot read the notification queue",
                    extra={"error": type(exc).__name__, "failures": failures},
                )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.poll_seconds * (min(failures, 10) + 1)):
                    await self._wake.wait()
            self._wake.clear()

    async def _stop_after_cancel(self) -> None:
        self._stopping.set()
        cycle = self._cycle
        if cycle is not None:
            # It sees the stop once its claim returns and gives back what it claimed; a database that
            # does not answer at all is not waited for longer than a send would be.
            await asyncio.wait([cycle], timeout=self.settings.send_timeout_seconds + 5)
            if not cycle.done():
                cycle.cancel()
            elif not cycle.cancelled():
                cycle.exception()  # logged by nobody else: the stop is what matters now
        await self.stop()

    async def dispatch_once(self) -> int:
        """Claim what is due (as far as free capacity goes) and start sending it."""
        sending = len(self._inflight) - len(self._pacing)
        free = min(
            self.settings.concurrency - sending,
            self.settings.concurrency + self.settings.pacing - len(self._inflight),
        )
        if free <= 0 or self._stopping.is_set():
            return 0
        now = self.clock()
        claims = await self.store.deliveries.claim(
            now,
            self.holder,
            now + dt.timedelta(seconds=self.settings.lease_seconds),
            free,
            exclude=list(self._inflight),
        )
        if self._stopping.is_set():  # stop() began while claiming: it waits for nothing claimed now
            await self._give_back(claims)
            return 0
        # What the sends need, in a few queries for the whole claim rather than a few per notification.
        try:
            pendings = await self.store.deliveries.load_many([c.id for c in claims]) if claims else {}
            subscriptions = {s.id: s for s in await self.store.subscriptions.all()} if claims else {}
        except Exception:
            await self._give_back(claims)  # nothing was sent: give them back rather than wait for the lease
            raise
        if self._stopping.is_set():  # stop() began while loading: nothing claimed now is sent
            await self._give_back(claims)
            return 0
        for claim in claims:
            pending = pendings.get(claim.id)
            sub = subscriptions.get(pending.subscription_id) if pending is not None else None
            task = asyncio.create_task(self._deliver(claim, pending, sub), name=f"notify-{claim.id}")
            self._inflight[claim.id] = task
            task.add_done_callback(functools.partial(self._forget, claim.id))
        return len(claims)

    async def _give_back(self, claims: list[Claim]) -> None:
        """Release claims that were not sent (a failure to release leaves them to their lease)."""
        for claim in claims:
            with contextlib.suppress(Exception):
                await self._release(claim)

    async def _record_delivered(self, notification_id: str) -> bool:
        """Record a delivery; deliveries finishing together share one transaction (group commit)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._delivered.append((notification_id, future))
        if not self._flushing:  # no writer under way: start one; a running one takes it next round
            self._flushing = True
            flush = asyncio.create_task(self._flush_delivered())
            self._flushes.add(flush)  # a strong reference until it is done
            flush.add_done_callback(self._flushes.discard)
        return await future

    async def _flush_delivered(self) -> None:
        """Write what finished, then what finished during that write, until nothing waits: the
        deliveries ending while one transaction runs share the next one, without a timer."""
        try:
            while True:
                await asyncio.sleep(0)  # let the sends finishing in this loop turn join the batch
                if not self._delivered:
                    return
                batch, self._delivered = self._delivered, []
                try:
                    ids = [i for i, _ in batch]
                    done = await self.store.deliveries.delivered_many(ids, self.holder, self.clock())
                except Exception as exc:  # the senders see it; their leases run out and they are sent again
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for notification_id, future in batch:
                    if not future.done():
                        future.set_result(notification_id in done)
        finally:
            self._flushing = False

    def _forget(self, claim_id: str, task: asyncio.Task[None]) -> None:
        # By its key: a scan of every task in flight at each send's end grew with the claims held.
        if self._inflight.get(claim_id) is task:
            del self._inflight[claim_id]
        self._wake.set()  # capacity is free: claim more at once rather than at the next poll

    async def stop(self, timeout: float | None = None) -> None:
        """Stop claiming; let sends in flight finish (up to ``timeout``), give back the rest."""
        self._stopping.set()
        self._wake.set()
        await self._owners.wake_all()  # those waiting for a turn give their claims back
        await self._targets.wake_all()
        tasks = list(self._inflight.values())
        if not tasks:
            return
        started = time.monotonic()
        limit = timeout if timeout is not None else self.settings.send_timeout_seconds + 5
        _done, pending = await asyncio.wait(tasks, timeout=limit)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        log.info(
            "sends in flight finished",
            extra={
                "in_flight": len(tasks),
                "cut_off": len(pending),
                "seconds": round(time.monotonic() - started, 2),
            },
        )

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait until nothing is in flight (tests and tools)."""
        deadline = time.monotonic() + timeout
        while self._inflight and time.monotonic() < deadline:
            await asyncio.wait(list(self._inflight.values()), timeout=deadline - time.monotonic())

    async def _wait_for_slot(self, claim: Claim, channel: Channel) -> bool:
        """Wait for the channel's rate limit. False when the claim was given back instead: the service
        is stopping, or the queue for this target is longer than a claim may be held (then it is due
        again when its turn would come, and another replica may take it)."""
        if self._stopping.is_set():  # claimed just before the stop: given back, not sent
            await self._release(claim)
            return False
        limiter = self._limits.get(channel.type)
        if limiter is None:
            return True
        mono = time.monotonic()
        ahead = limiter.next_free(channel.target, mono)
        if ahead > self.settings.lease_seconds / 3:
            later = self.clock() + dt.timedelta(seconds=ahead)
            await self._release(claim, later)
            return False
        delay = limiter.reserve(channel.target, mono)
        if delay <= 0:
            return True
        self.metrics.rate_limit_wait.labels(channel=channel.type).inc(delay)
        self._pacing.add(claim.id)
        self._wake.set()  # it holds no send slot while it waits: claim for the other targets meanwhile
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stopping.wait()
        finally:
            self._pacing.discard(claim.id)
        if self._stopping.is_set():
            await self._release(claim)
            return False
        return True

    async def _deliver(self, claim: Claim, pending: Pending | None, sub: Subscription | None) -> None:
        try:
            await self._deliver_claimed(claim, pending, sub)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._release(claim))
            raise
        except Exception as exc:  # a bug or the database: the lease runs out and it is tried again
            log.error(
                "notification could not be processed",
                extra={"notification_id": claim.id, "error": type(exc).__name__},
            )

    async def _release(self, claim: Claim, due_at: dt.datetime | None = None) -> bool:
        """Give back a claim that was not sent (an in-doubt claim counted no attempt of its own)."""
        return await self.store.deliveries.release(
            claim.id, self.holder, self.clock(), due_at, counted=not claim.in_doubt
        )

    async def _deliver_claimed(self, claim: Claim, pending: Pending | None, sub: Subscription | None) -> None:
        if pending is None:
            return
        if sub is None or not sub.enabled or not pending.alerts:
            why = "subscription gone or disabled" if pending.alerts else "no alerts left"
            if await self.store.deliveries.cancel(claim.id, self.holder, self.clock(), why):
                self.metrics.notifications.labels(channel=pending.channel, outcome="cancelled").inc()
            return
        channel = self.channels.get(sub)
        if claim.in_doubt:
            self.metrics.in_doubt.labels(channel=channel.type).inc()
            log.warning(
                "sending again a notification whose sender died before recording it",
                extra={"notification_id": claim.id, "subscription_id": sub.id, "channel": channel.type},
            )
        if not await self._wait_for_slot(claim, channel):
            return
        async with self._fair_turn(claim, sub.owner, channel.target) as turn:
            if not turn:  # the stop began while it waited for its owner's or target's turn
                await self._release(claim)
                return
            async with self._send_slots:
                if self._stopping.is_set():  # its turn came after the stop began: given back, not sent
                    await self._release(claim)
                    return
                await self._send(claim, pending, sub, channel)

    @contextlib.asynccontextmanager
    async def _fair_turn(self, claim: Claim, owner: str, target: str) -> AsyncIterator[bool]:
        """Wait until the owner and the target are each under their share of the sends; while it
        waits the claim holds no send slot (it counts as waiting, like one paced by a rate limit)."""
        stopping = self._stopping.is_set
        if (
            self._owners.busy(owner) >= self._owners.limit
            or self._targets.busy(target) >= self._targets.limit
        ):
            self._pacing.add(claim.id)
            self._wake.set()  # claim for other owners and targets meanwhile
        try:
            async with (
                self._owners.hold(owner, stopping) as by_owner,
                self._targets.hold(target, stopping) as by_target,
            ):
                self._pacing.discard(claim.id)
                yield by_owner and by_target
        finally:
            self._pacing.discard(claim.id)

    async def send(self, channel: Channel, notification: Notification) -> None:
        """One attempt within the overall deadline (``send_timeout_seconds``), however slowly the target
        answers: a target that trickles a byte at a time is cut off like one that does not answer."""
        deadline = self.settings.send_timeout_seconds
        try:
            async with asyncio.timeout(deadline):
                await channel.send(notification)
        except TimeoutError:
            raise DeliveryError(Reason.TIMEOUT, f"no complete answer within {deadline:g} s") from None

    async def _attempt(self, channel: Channel, notification: Notification) -> Failure | None:
        """Send once: None when delivered, else what failed (a bug in a channel must not lose the
        notification: it counts as a retryable internal error)."""
        try:
            await self.send(channel, notification)
        except DeliveryError as exc:
            return Failure(exc.reason.value, exc.detail, exc.reason.retryable, exc.retry_after)
        except Exception as exc:
            log.error(
                "channel failed unexpectedly", extra={"channel": channel.type, "error": type(exc).__name__}
            )
            return Failure(INTERNAL_ERROR, type(exc).__name__, True)
        return None

    async def _send(self, claim: Claim, pending: Pending, sub: Subscription, channel: Channel) -> None:
        kind = channel.type
        started = time.perf_counter()
        failure = await self._attempt(channel, notification_of(pending, sub))
        self.metrics.send_seconds.labels(channel=kind).observe(time.perf_counter() - started)
        self.metrics.attempts.labels(channel=kind, result=failure.reason if failure else "ok").inc()
        pause = rate_limit_pause(failure, self.policy)
        limiter = self._limits.get(kind)
        if pause is not None and limiter is not None:
            limiter.pause(channel.target, time.monotonic() + pause)
        now = self.clock()
        result = outcome(failure, pending.attempts, pending.first_attempt_at, self.policy, now, self.rng)
        if isinstance(result, Delivered):
            await self._record_delivered(claim.id)
            self._count_delivered(pending, kind, now)
            log.info(
                "notification delivered",
                extra={
                    "notification_id": claim.id,
                    "subscription_id": sub.id,
                    "channel": kind,
                    "alerts": len(pending.alerts),
                    "attempt": pending.attempts,
                },
            )
            return
        assert failure is not None  # only a delivery has none
        context = {
            "notification_id": claim.id,
            "subscription_id": sub.id,
            "channel": kind,
            "reason": failure.reason,
            "detail": failure.detail,
            "attempt": pending.attempts,
        }
        if isinstance(result, Dead):
            await self.store.deliveries.dead(claim.id, self.holder, now, result.reason, result.detail)
            self.metrics.notifications.labels(channel=kind, outcome="dead").inc()
            log.error("notification dead", extra=context)
            return
        await self.store.deliveries.retry_later(
            claim.id, self.holder, result.at, result.reason, result.detail
        )
        self.metrics.notifications.labels(channel=kind, outcome="retried").inc()
        log.warning("notification failed, will retry", extra={**context, "delay_s": round(result.delay, 2)})

    def _count_delivered(self, pending: Pending, kind: str, now: dt.datetime) -> None:
        self.metrics.notifications.labels(channel=kind, outcome="delivered").inc()
        self.metrics.notified_alerts.labels(channel=kind).inc(len(pending.alerts))
        for alert in pending.alerts:
            self.metrics.alert_age.labels(channel=kind).observe(
                max(0.0, (now - alert.created_at).total_seconds())
            )
            if alert.event_ingested_at is not None:
                self.metrics.end_to_end.labels(channel=kind).observe(
                    max(0.0, (now - alert.event_ingested_at).total_seconds())
                )
