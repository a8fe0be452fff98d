"""Whether a service can do its work: the parts that touch a dependency (the database, mostly) report
each success and failure here, and /healthz answers 503 while one has kept failing beyond a threshold.

Pure logic: the time is passed in, so tests need no clock. A single failure is not an outage (a retry
usually succeeds), hence the threshold; a success clears the check at once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

DATABASE_CHECK = "database"  # the check of a service's own database (notify's queue, ingest's store)


@dataclass(frozen=True)
class Failing:
    """A check that has failed without a success since ``since``; ``reason`` is an error's class name,
    never its message (which may carry a database URL or a password)."""

    check: str
    since: dt.datetime
    reason: str

    def as_json(self) -> dict[str, str]:
        return {"check": self.check, "since": self.since.isoformat(), "reason": self.reason}


class Health:
    """The latest word of each named check: fine, or failing since the first failure of the run."""

    def __init__(self, threshold_seconds: float = 10.0) -> None:
        self.threshold = dt.timedelta(seconds=threshold_seconds)
        self._failing: dict[str, Failing] = {}

    def ok(self, check: str) -> None:
        self._failing.pop(check, None)

    def failed(self, check: str, began: dt.datetime, reason: str) -> None:
        """An attempt that ``began`` then failed (a database waits for its lock before it gives up, so
        the outage started when the attempt did, not when it ended)."""
        earlier = self._failing.get(check)
        since = earlier.since if earlier is not None else began
        self._failing[check] = Failing(check, since, reason)

    def is_failing(self, check: str) -> bool:
        """Whether ``check`` has failed without a success since, however briefly (for a service that
        must try again by itself to find out when its dependency is back)."""
        return check in self._failing

    def failing(self, now: dt.datetime) -> list[Failing]:
        """The checks that have failed for at least the threshold, by name."""
        return sorted(
            (f for f in self._failing.values() if now - f.since >= self.threshold),
            key=lambda f: f.check,
        )
