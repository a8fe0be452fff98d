"""Fair shares of the sending capacity: at most ``limit`` sends at once per key (an owner, a target).

A send waiting for its key's turn holds no send slot, so one owner with a hundred subscriptions to a
target that answers slowly holds at most its share of the slots, and everyone else's notifications go
out beside it. Keys with nothing in flight are forgotten, so memory follows what is in flight."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable


class Shares:
    """Each key has its own queue of waiters, and a freed place wakes one of them: with hundreds of
    claims waiting for one busy target, waking them all at every send cost notify more CPU per
    delivery than the send itself (issue 20)."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a share is at least one send")
        self.limit = limit
        self._busy: dict[str, int] = {}
        self._waiting: dict[str, int] = {}
        self._lock = asyncio.Lock()
        self._turns: dict[str, asyncio.Condition] = {}

    def busy(self, key: str) -> int:
        return self._busy.get(key, 0)

    def _turn(self, key: str) -> asyncio.Condition:
        turn = self._turns.get(key)
        if turn is None:
            turn = self._turns[key] = asyncio.Condition(self._lock)
        return turn

    def _forget(self, key: str) -> None:
        if not self._busy.get(key) and not self._waiting.get(key):
            self._turns.pop(key, None)

    @contextlib.asynccontextmanager
    async def hold(self, key: str, give_up: Callable[[], bool] = lambda: False) -> AsyncIterator[bool]:
        """Wait until ``key`` is under its share, then hold one place for the block. Yields False, holding
        nothing, when ``give_up()`` became true while waiting (``wake_all`` makes waiters look)."""
        async with self._lock:
            turn = self._turn(key)
            self._waiting[key] = self._waiting.get(key, 0) + 1
            try:
                await turn.wait_for(lambda: give_up() or self._busy.get(key, 0) < self.limit)
            except asyncio.CancelledError:
                turn.notify(1)  # a place it may have been woken for goes to the next waiter
                raise
            finally:
                left = self._waiting[key] - 1
                if left:
                    self._waiting[key] = left
                else:
                    del self._waiting[key]
            yielded = not give_up()
            if yielded:
                self._busy[key] = self._busy.get(key, 0) + 1
            else:
                self._forget(key)
        try:
            yield yielded
        finally:
            if yielded:
                async with self._lock:
                    left = self._busy[key] - 1
                    if left:
                        self._busy[key] = left
                    else:
                        del self._busy[key]
                    self._turn(key).notify(1)
                    self._forget(key)

    async def wake_all(self) -> None:
        """Make every waiter look at its ``give_up`` again (the dispatcher is stopping)."""
        async with self._lock:
            for turn in self._turns.values():
                turn.notify_all()
