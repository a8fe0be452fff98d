"""Counts the SQL statements and commits a store sends, for tests and benchmarks of statements per
delivery (issue 20): one count per statement handed to the driver (an executemany is one), whatever
engine of the store (writer or reader) sends it."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


class StatementCounter:
    """Listens on the given engines until :meth:`close`; ``statements``, ``commits`` and ``by_kind``
    (the first word of each statement: SELECT, INSERT, UPDATE, BEGIN…) count what was sent."""

    def __init__(self, *engines: AsyncEngine) -> None:
        self._engines = list(dict.fromkeys(e.sync_engine for e in engines))
        self.statements = 0
        self.commits = 0
        self.by_kind: Counter[str] = Counter()
        for engine in self._engines:
            event.listen(engine, "before_cursor_execute", self._statement)
            event.listen(engine, "commit", self._commit)

    def _statement(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements += 1
        self.by_kind[statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "?"] += 1

    def _commit(self, conn: Any) -> None:
        self.commits += 1

    def reset(self) -> None:
        self.statements = 0
        self.commits = 0
        self.by_kind.clear()

    def close(self) -> None:
        for engine in self._engines:
            event.remove(engine, "before_cursor_execute", self._statement)
            event.remove(engine, "commit", self._commit)
