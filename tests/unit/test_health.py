"""The health registry: a check fails /healthz only once it has failed for the threshold without a
success in between, counted from when the failing attempt began, and a success clears it at once."""

from __future__ import annotations

import datetime as dt

from services.common.health import DATABASE_CHECK, Health

T0 = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def test_a_fresh_registry_has_nothing_failing() -> None:
    assert Health(10).failing(at(0)) == []


def test_a_failure_counts_only_after_the_threshold() -> None:
    health = Health(10)
    health.failed(DATABASE_CHECK, at(0), "OperationalError")
    assert health.failing(at(9.9)) == []
    [failing] = health.failing(at(10))
    assert failing.as_json() == {
        "check": "database",
        "since": "2026-12-07T12:00:00+00:00",
        "reason": "OperationalError",
    }


def test_repeated_failures_keep_the_first_start_and_the_latest_reason() -> None:
    health = Health(10)
    health.failed(DATABASE_CHECK, at(0), "OperationalError")
    health.failed(DATABASE_CHECK, at(8), "TimeoutError")
    [failing] = health.failing(at(11))
    assert (failing.since, failing.reason) == (at(0), "TimeoutError")


def test_a_success_clears_the_check_and_a_later_failure_starts_again() -> None:
    health = Health(10)
    health.failed(DATABASE_CHECK, at(0), "OperationalError")
    health.ok(DATABASE_CHECK)
    assert health.failing(at(30)) == []
    health.failed(DATABASE_CHECK, at(30), "OperationalError")
    assert health.failing(at(35)) == []
    assert [f.since for f in health.failing(at(40))] == [at(30)]


def test_checks_are_independent_and_listed_by_name() -> None:
    health = Health(1)
    health.failed("queue", at(0), "OperationalError")
    health.failed(DATABASE_CHECK, at(0), "OperationalError")
    health.ok("queue")
    assert [f.check for f in health.failing(at(5))] == ["database"]
    health.failed("queue", at(1), "OperationalError")
    assert [f.check for f in health.failing(at(5))] == ["database", "queue"]


def test_is_failing_tells_at_once_what_failing_tells_after_the_threshold() -> None:
    health = Health(10)
    assert not health.is_failing(DATABASE_CHECK)
    health.failed(DATABASE_CHECK, at(0), "OperationalError")
    assert health.is_failing(DATABASE_CHECK) and health.failing(at(1)) == []
    health.ok(DATABASE_CHECK)
    assert not health.is_failing(DATABASE_CHECK)
