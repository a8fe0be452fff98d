"""Tables of the notify state (prefixed ``notify_`` so ingest and notify can share one database).

The heart is ``notify_deliveries``: its primary key (alert id, subscription id) is what makes a
redelivered alert or a restarted service never notify a subscriber twice. Alerts that go out together
(one story, or one digest) hang off one ``notify_notifications`` row, which carries the retry state.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, MetaData, String, Table, Text

from services.common.dbtypes import UTCDateTime

metadata = MetaData()

subscriptions = Table(
    "notify_subscriptions",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("owner", String(128), nullable=False, index=True),
    Column("origin", String(16), nullable=False),  # file, api or builtin
    Column("spec", Text, nullable=False),  # SubscriptionSpec as JSON, secrets included
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

tokens = Table(
    "notify_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),  # SHA-256 of the bearer token; never the token
    Column("owner", String(128), nullable=False, index=True),
    Column("admin", Boolean, nullable=False, default=False),
    Column("label", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)

silences = Table(
    "notify_silences",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("owner", String(128), nullable=False, index=True),  # "*": everyone's subscriptions
    Column("created_by", String(128), nullable=False),
    Column("spec", Text, nullable=False),  # filters, comment, subscription_id as JSON
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
)

alerts = Table(
    "notify_alerts",
    metadata,
    Column("id", String(300), primary_key=True),
    Column("payload", Text, nullable=False),  # the Alert as JSON, as consumed
    Column("received_at", UTCDateTime, nullable=False, index=True),
)

notifications = Table(
    "notify_notifications",
    metadata,
    Column("id", String(64), primary_key=True),  # also the receivers' idempotency key
    Column("subscription_id", String(128), nullable=False),
    Column("channel", String(16), nullable=False),  # channel type, for listings and metrics
    Column("kind", String(16), nullable=False),  # alerts or digest
    Column("group_key", String(320), nullable=False),  # story id, or digest:<period end>
    Column("period_start", UTCDateTime, nullable=True),
    Column("period_end", UTCDateTime, nullable=True),
    # open: still collecting alerts until due_at; sending: claimed (lease_owner until lease_until);
    # retry: waiting until due_at; delivered, dead, cancelled: final.
    Column("status", String(16), nullable=False),
    Column("alert_count", Integer, nullable=False, default=0),
    Column("due_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("in_doubt", Integer, nullable=False, default=0),  # sends interrupted by a crash
    Column("first_attempt_at", UTCDateTime, nullable=True),
    Column("last_attempt_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("reason", String(32), nullable=True),  # last failure reason (fixed list)
    Column("detail", Text, nullable=True),  # last failure, readable, never a secret
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_notify_notifications_status_due", "status", "due_at"),
    Index("ix_notify_notifications_group", "subscription_id", "group_key", "status"),
)

deliveries = Table(
    "notify_deliveries",
    metadata,
    Column("alert_id", String(300), primary_key=True),
    Column("subscription_id", String(128), primary_key=True),
    Column("notification_id", String(64), nullable=True, index=True),
    Column("status", String(16), nullable=False),  # queued (in a notification) or silenced
    Column("silence_id", String(64), nullable=True),
    Column("created_at", UTCDateTime, nullable=False, index=True),
)

# Test sends (POST /v1/subscriptions/{id}/test) paced per owner across every replica: the owner's GCRA
# theoretical arrival time (services.notify.core.ratelimit). A row whose time has passed means the same
# as no row, so the hourly purge deletes those.
test_send_pacing = Table(
    "notify_test_send_pacing",
    metadata,
    Column("owner", String(128), primary_key=True),
    Column("tat", UTCDateTime, nullable=False),
)

# Console sign-ins (services/notify/console/): a researcher's API token exchanged for a session cookie.
# Only hashes are kept: of the cookie's session id and of the form token (CSRF) bound to it.
sessions = Table(
    "notify_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),  # SHA-256 of the cookie's value; never the value
    Column("owner", String(128), nullable=False, index=True),
    Column("admin", Boolean, nullable=False, default=False),
    Column("csrf_hash", String(64), nullable=False),  # SHA-256 of the session's form token
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
)

# Researchers' judgement of an alert: relevant or not, and why (one row per alert and owner; a new
# judgement replaces the old). The alert's rule and language are copied so precision per rule and
# language is counted without the archive.
feedback = Table(
    "notify_feedback",
    metadata,
    Column("alert_id", String(300), primary_key=True),
    Column("owner", String(128), primary_key=True),
    Column("relevant", Boolean, nullable=False),
    Column("reason", String(32), nullable=True),  # fixed list (services/notify/core/feedback.py)
    Column("note", Text, nullable=True),
    Column("rule", String(64), nullable=False, index=True),
    Column("language", String(8), nullable=True),
    Column("event_type", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False, index=True),
)

# Personal Atom feeds: a secret URL per subscription (feed readers cannot send bearer tokens). Only the
# secret's hash is kept; deleting the row revokes the URL.
feeds = Table(
    "notify_feeds",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("subscription_id", String(128), nullable=False, index=True),
    Column("owner", String(128), nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
)

# The alert archive (issue 19): every alert notify consumed, routed or not, queried newest first under
# filters. ``week`` (the Monday of the alert's ISO week, YYYY-MM-DD) is computed once at insert so the
# counts per week are one GROUP BY on both databases. Full text lives outside this metadata because
# each database has its own engine (migration 0004): SQLite's FTS5 table ``notify_archive_fts`` and on
# PostgreSQL a GIN index over ``to_tsvector('simple', title || summary || evidence)`` of
# ``notify_archive_texts``.
archive = Table(
    "notify_archive",
    metadata,
    Column("id", String(300), primary_key=True),
    Column("story_key", String(320), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("week", String(10), nullable=False),
    Column("severity_rank", Integer, nullable=False),
    Column("rule", String(64), nullable=False),
    Column("event_type", String(16), nullable=False),
    Column("source", String(128), nullable=True),
    Column("language", String(8), nullable=True),
    Column("received_at", UTCDateTime, nullable=False),
    # The alert's destinations and technologies in one short string (``archive_counts.encode``), so a
    # live count of many matches groups the matching rows alone instead of looking up their terms.
    Column("counted", Text, nullable=True),
    Index("ix_notify_archive_created", "created_at", "id"),
    Index("ix_notify_archive_story", "story_key", "created_at"),
    Index("ix_notify_archive_rule", "rule", "created_at"),
    Index("ix_notify_archive_severity", "severity_rank", "created_at"),
    Index("ix_notify_archive_source", "source", "created_at"),
    Index("ix_notify_archive_received", "received_at"),
    Index("ix_notify_archive_week", "week"),  # counts per week read the index, not the rows
)

# The archive's texts, apart from the narrow rows above: a query walks and filters narrow rows (about
# 200 bytes each, 100,000 of them fit in memory) and reads the payload of the page's alerts only.
# PostgreSQL's full-text index is on this table.
archive_texts = Table(
    "notify_archive_texts",
    metadata,
    Column("id", String(300), primary_key=True),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("evidence", Text, nullable=False),  # the evidence snippets, one per line, for full text
    Column("url", Text, nullable=True),
    Column("payload", Text, nullable=False),  # the Alert as JSON, as consumed (bounded)
)

# The archive's multi-valued filters: one row per (alert, kind, value) with kind destination,
# technology, vendor or control_code. ``created_at`` is copied so a filter on one value walks its index
# newest first without touching the archive table.
archive_terms = Table(
    "notify_archive_terms",
    metadata,
    Column("alert_id", String(300), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("value", String(128), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_notify_archive_terms_lookup", "kind", "value", "created_at", "alert_id"),
)

# Who was told, once the hourly purge has forgotten the notifications and deliveries themselves: one
# compact row per (alert, subscription), written by the purge just before it deletes them. Live
# outcomes are read from the queue tables; purged ones from here.
archive_audit = Table(
    "notify_archive_audit",
    metadata,
    Column("alert_id", String(300), primary_key=True),
    Column("subscription_id", String(128), primary_key=True),
    Column("owner", String(128), nullable=False),
    Column("subscription_name", Text, nullable=True),
    Column("channel", String(16), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("detail", Text, nullable=True),
    Index("ix_notify_archive_audit_at", "at"),
)

# The facet counts kept ahead (migration 0005, vocabulary in ``services/notify/core/facets.py``): per
# ISO week, how many alerts with one filter value (``filter_kind`` destination, technology, vendor,
# control_code, severity (its rank), rule, event_type, source or language; '' for every alert) have one
# counted value (``count_kind`` destination or technology; '' for the total). Kept in the same
# transaction as the archive's inserts and retention, so a one-filter query's counts are a few hundred
# rows rather than a count over every match.
archive_counts = Table(
    "notify_archive_counts",
    metadata,
    Column("filter_kind", String(16), primary_key=True),
    Column("filter_value", String(128), primary_key=True),
    Column("week", String(10), primary_key=True),
    Column("count_kind", String(16), primary_key=True),
    Column("count_value", String(128), primary_key=True),
    Column("alerts", Integer, nullable=False),
)
