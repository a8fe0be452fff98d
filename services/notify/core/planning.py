"""Where one alert goes: the subscriptions that want it, whether a silence mutes it, and the group it
joins (its story for immediate subscriptions, the digest period for digest ones). Pure."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from schemas import Alert
from services.notify.core.model import Mode, Silence, Subscription
from services.notify.core.routing import routes, silencing, story_key
from services.notify.core.schedule import digest_period

# An immediate notification carries at most this many alerts of one story; the next alert of the story
# opens a new notification, so a story reported by hundreds of sources gives several bounded messages
# (issue 17 item 11: 40 alerts of 900 KB once made one 12.6 MB webhook body) and no alert is left out.
MAX_ALERTS_PER_NOTIFICATION = 20


def joins(kind: str, alert_count: int) -> bool:
    """Whether one more alert may join an open notification of ``kind`` that has ``alert_count``."""
    return kind != "alerts" or alert_count < MAX_ALERTS_PER_NOTIFICATION


@dataclass(frozen=True)
class Target:
    """One subscription an alert goes to, and how."""

    subscription_id: str
    channel: str
    kind: str  # alerts or digest
    group_key: str  # alerts with the same key (per subscription) go out together
    due_at: dt.datetime  # when a new notification for this group goes out
    period_start: dt.datetime | None = None
    period_end: dt.datetime | None = None
    silence_id: str | None = None


def plan(
    alert: Alert,
    subscriptions: Sequence[Subscription],
    silences: Sequence[Silence],
    now: dt.datetime,
    group_wait: float,
) -> list[Target]:
    """The targets of ``alert``; ``group_wait`` is the default wait of immediate subscriptions."""
    targets = []
    for sub in routes(subscriptions, alert):
        silence = silencing(silences, sub, alert, now)
        silence_id = silence.id if silence is not None else None
        if sub.mode is Mode.DIGEST and sub.digest is not None:
            start, end = digest_period(sub.digest, now)
            targets.append(
                Target(
                    sub.id,
                    sub.channel.type,
                    "digest",
                    f"digest:{end.isoformat()}",
                    end,
                    start,
                    end,
                    silence_id,
                )
            )
        else:
            wait = sub.group_wait_seconds if sub.group_wait_seconds is not None else group_wait
            targets.append(
                Target(
                    sub.id,
                    sub.channel.type,
                    "alerts",
                    story_key(alert),
                    now + dt.timedelta(seconds=wait),
                    silence_id=silence_id,
                )
            )
    return targets
