"""Fair shares of the sending capacity: at most ``limit`` sends at once per key (an owner, a target).

A send waiting for its key's turn holds no send slot, so one owner with a hundred subscriptions to a
target that answers slowly holds at most its share of the slots, and everyone else's notifications go
out beside it. Keys with nothing in flight are forgotten, so memory follows what is in flight."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable


class Shares:
    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a share is at least one send")
        self.limit = limit
        self._busy: dict[str, int] = {}
        self._freed = asyncio.Condition()

    def busy(self, key: str) -> int:
        return self._busy.get(key, 0)

    @contextlib.asynccontextmanager
    async def hold(self, key: str, give_up: Callable[[], bool] = lambda: False) -> AsyncIterator[bool]:
        """Wait until ``key`` is under its share, then hold one place for the block. Yields False, holding
        nothing, when ``give_up()`` became true while waiting (``wake_all`` makes waiters look)."""
        async with self._freed:
            await self._freed.wait_for(lambda: give_up() or self._busy.get(key, 0) < self.limit)
            if give_up():
                yielded = False
            else:
                self._busy[key] = self._busy.get(key, 0) + 1
                yielded = True
        try:
            yield yielded
        finally:
            if yielded:
                async with self._freed:
                    left = self._busy[key] - 1
                    if left:
                        self._busy[key] = left
                    else:
                        del self._busy[key]
                    self._freed.notify_all()

    async def wake_all(self) -> None:
        """Make every waiter look at its ``give_up`` again (the dispatcher is stopping)."""
        async with self._freed:
            self._freed.notify_all()
