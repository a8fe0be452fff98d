"""Stamping a rule's finding into an alert: the deterministic id, the time, the watchlist version
and the event's own id, link, dates and context (source, language, licence facts). Done once, here,
for every rule."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from schemas.bounds import bound_alert
from schemas.events import Alert, LicenceFacts, LicenceRecord, NewsArticle
from services.match.core.rules.base import Finding


def alert_id(event_type: str, event_id: str, rule: str, revision: int = 1) -> str:
    """Deterministic: a redelivered event never makes a second alert, while a corrected revision of an
    event (a new release of a licence row, say) makes a new one that notify will deliver."""
    key = f"{event_type}|{event_id}|{rule}" + (f"|r{revision}" if revision > 1 else "")
    return "alert-" + hashlib.sha256(key.encode()).hexdigest()[:24]


def licence_facts(record: LicenceRecord) -> LicenceFacts:
    """What the licence said, for its alert: the record's own facts, without its ids and dates of
    ingestion (the alert carries those once already)."""
    return LicenceFacts(
        authority=record.authority,
        licensing_country=record.licensing_country,
        destination_name=record.destination_name,
        exporter=record.exporter,
        end_user=record.end_user,
        items=list(record.items),
        value=record.value,
        currency=record.currency,
        decision=record.decision,
        decided_on=record.decided_on,
    )


@dataclass(frozen=True, slots=True)
class Stamp:
    """What every alert of one evaluation carries besides its content."""

    now: dt.datetime
    version: str

    def alert(self, event: NewsArticle | LicenceRecord, finding: Finding) -> Alert:
        """The alert of ``finding`` on ``event``, bounded in size."""
        if isinstance(event, NewsArticle):
            title = event.title.strip() or event.url
            url: str | None = event.url
            duplicate_of = event.duplicate_of
            source, language, licence = event.source, event.language, None
        else:
            title, url, duplicate_of = "", event.source_url, None
            source, language, licence = event.authority, None, licence_facts(event)
        alert = Alert(
            id=alert_id(event.type, event.id, finding.rule, event.revision),
            event_type=event.type,
            event_id=event.id,
            event_revision=event.revision,
            duplicate_of=duplicate_of,
            title=finding.title if finding.title is not None else title,
            url=url,
            severity=finding.severity,
            score=finding.score,
            technologies=finding.technologies,
            destinations=finding.destinations,
            entities=finding.entities,
            control_codes=finding.control_codes,
            evidence=finding.evidence,
            rule=finding.rule,
            summary=finding.summary,
            watchlist_version=self.version,
            created_at=self.now,
            event_ingested_at=event.ingested_at,
            source=source,
            language=language,
            licence=licence,
        )
        return bound_alert(alert)
