"""Researchers' feedback in the notify database (SQLite and PostgreSQL): one judgement per alert and
researcher, replaced when judged again, withdrawn, listed, counted for the metric; and the export
(`exportwatch feedback export`) of real matcher alerts as draft eval cases that the eval loader reads
and the matcher scores as the researchers judged."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from schemas import Alert
from schemas.events import LicenceFacts, LicenceRecord, NewsArticle
from services.match.core.engine import Matcher
from services.notify.core.feedback import DRAFT_MARK
from services.notify.store import tables
from services.notify.store.repository import NotifyStore
from tests.alerts import make_alert
from tools.cli import main
from tools.evaluation import evaluate, load_cases

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)

# Our own text, shaped like a news report: a technology delivered to a high-risk destination.
ARTICLE = NewsArticle(
    id="news-feedback-1",
    source="eval",
    url="https://news.example.org/feedback-1",
    title="Police in Egypt get a new camera network",
    body=(
        "A European supplier has delivered a facial recognition system to the Egyptian interior "
        "ministry, according to procurement records seen by reporters.\n\n"
        "The cameras went live in Cairo last month. The company declined to comment."
    ),
    language="en",
    published_at=NOW - 24 * HOUR,
)
LICENCE = LicenceRecord(
    id="licence-feedback-1",
    authority="Export Control Joint Unit",
    licensing_country="GB",
    destination_country="AE",
    destination_name="United Arab Emirates",
    items=[{"control_code": "5A001j", "description": "IP network communications surveillance systems"}],
    decision="granted",
)


@pytest.fixture
async def store(db_url: str) -> NotifyStore:
    s = await NotifyStore.open(db_url)
    yield s  # type: ignore[misc]
    await s.close()


def export(*args: str) -> int:
    """The CLI, as a researcher runs it (in a thread: it runs its own event loop)."""
    return main(["feedback", "export", *args])


async def keep(store: NotifyStore, *alerts: Alert) -> None:
    """Hold the alerts as notify does once it routed them (the archive's own tables are another
    branch's: the export falls back on them for alerts nobody was sent)."""
    async with store.writing() as conn:
        await conn.execute(
            tables.alerts.insert(),
            [{"id": a.id, "payload": a.model_dump_json(), "received_at": NOW} for a in alerts],
        )


async def test_a_judgement_is_recorded_replaced_and_withdrawn(store: NotifyStore) -> None:
    alert = make_alert("alert-1", language="en")
    first = await store.feedback.put(alert, "alice", False, "duplicate", "seen yesterday", NOW)
    assert (first.relevant, first.reason, first.note, first.rule, first.language) == (
        False,
        "duplicate",
        "seen yesterday",
        alert.rule,
        "en",
    )
    assert first.created_at == first.updated_at == NOW
    again = await store.feedback.put(alert, "alice", True, None, None, NOW + HOUR)
    assert (again.relevant, again.reason, again.note) == (True, None, None)
    assert again.created_at == NOW and again.updated_at == NOW + HOUR
    assert await store.feedback.get("alert-1", "alice") == again
    assert await store.feedback.get("alert-1", "bob") is None
    assert await store.feedback.delete("alert-1", "bob") is False
    assert await store.feedback.delete("alert-1", "alice") is True
    assert await store.feedback.get("alert-1", "alice") is None
    assert await store.feedback.delete("alert-1", "alice") is False


async def test_listing_is_per_owner_newest_first_and_counts_per_rule_and_language(store: NotifyStore) -> None:
    a1 = make_alert("alert-1", language="en")
    a2 = make_alert("alert-2", language="fr")
    a3 = make_alert("alert-3", rule="news.vendor_destination")
    await store.feedback.put(a1, "alice", True, None, None, NOW)
    await store.feedback.put(a2, "alice", False, "old_news", None, NOW + HOUR)
    await store.feedback.put(a1, "bob", False, "wrong_destination", None, NOW + 2 * HOUR)
    await store.feedback.put(a3, "bob", True, "new_deal", None, NOW + 3 * HOUR)
    assert [f.alert_id for f in await store.feedback.of_owner("alice")] == ["alert-2", "alert-1"]
    assert [(f.alert_id, f.owner) for f in await store.feedback.of_owner(None)] == [
        ("alert-3", "bob"),
        ("alert-1", "bob"),
        ("alert-2", "alice"),
        ("alert-1", "alice"),
    ]
    assert len(await store.feedback.of_owner(None, limit=2)) == 2
    assert await store.feedback.counts() == {
        (a1.rule, "en", True): 1,
        (a1.rule, "en", False): 1,
        (a1.rule, "fr", False): 1,
        ("news.vendor_destination", None, True): 1,
    }


async def test_judged_alerts_come_with_the_alert_notify_holds(store: NotifyStore) -> None:
    held, gone = make_alert("alert-held"), make_alert("alert-gone")
    await keep(store, held)
    await store.feedback.put(held, "alice", True, None, None, NOW)
    await store.feedback.put(gone, "alice", False, "other", "never sent", NOW + HOUR)
    judged = await store.feedback.judged()
    assert [(f.alert_id, a) for f, a in judged] == [("alert-held", held), ("alert-gone", None)]
    assert [f.alert_id for f, _ in await store.feedback.judged(relevant=False)] == ["alert-gone"]
    assert [f.alert_id for f, _ in await store.feedback.judged(since=NOW + HOUR)] == ["alert-gone"]


async def test_the_export_loads_as_eval_cases_and_scores_as_judged(
    store: NotifyStore, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    matcher = Matcher.load()
    [news] = matcher.evaluate(ARTICLE, NOW)
    [licence] = matcher.evaluate(LICENCE, NOW)
    facts = LicenceFacts.model_validate(LICENCE.model_dump(include=set(LicenceFacts.model_fields)))
    licence = licence.model_copy(update={"licence": facts})
    await keep(store, news, licence)
    await store.feedback.put(news, "alice", True, "new_deal", None, NOW)
    await store.feedback.put(news, "bob", False, "domestic_use", "internal police matter", NOW + HOUR)
    await store.feedback.put(licence, "alice", True, None, None, NOW + 2 * HOUR)

    out = tmp_path / "drafts" / "feedback.yaml"
    assert await asyncio.to_thread(export, "--database-url", db_url, "-o", str(out)) == 0
    assert "3 draft case(s) written" in capsys.readouterr().err
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Draft evaluation cases") and "own words" in text.splitlines()[3]
    loaded = load_cases(out)
    assert [c.case.kind for c in loaded] == ["news", "news", "licence"]
    assert all(c.case.why.startswith(DRAFT_MARK) for c in loaded)
    report = evaluate(matcher, loaded)
    ok = {r.case.id: r.decision_ok for r in report.results}
    # The snippets still make the matcher alert: right for the relevant judgements, and a known
    # disagreement (the case the researchers want the engine to learn) for bob's.
    assert ok == {
        f"feedback-{news.id.lower().replace(':', '-')}": True,
        f"feedback-{news.id.lower().replace(':', '-')}-1": False,
        f"feedback-{licence.id.lower().replace(':', '-')}": True,
    }, [r.problems for r in report.results]
    assert all(not r.problems for r in report.results if r.case.expect.alert)

    # Only the ones found not relevant, since a day: bob's.
    assert await asyncio.to_thread(export, "--database-url", db_url, "--not-relevant", "-o", str(out)) == 0
    [only] = load_cases(out)
    assert only.case.expect.alert is False and "internal police matter" in only.case.why
    assert (
        await asyncio.to_thread(export, "--database-url", db_url, "--since", "2026-11-24", "-o", str(out))
        == 0
    )
    assert load_cases(out) == []
