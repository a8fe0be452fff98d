"""The researchers' console over real HTTP, with notify running in-process on the embedded broker and
a real SQLite database: sign-in and sign-out, cookie attributes, the security headers, forms refused
without their token, owners' subscriptions kept apart, hostile titles shown as text, filters that
round-trip and problems shown in words.

Feedback and feed URLs are the real stores; the archive is a small in-memory fake on the running store
(to see the queries the console sends; it calls only the archive's signatures)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from schemas import Alert
from schemas.events import Decision, LicenceFacts, LicenceItem
from services.common.settings import CommonSettings
from services.notify.app import create_service
from services.notify.core.archive import AlertPage, AlertQuery, ArchivedAlert, AuditEntry, Facets
from services.notify.settings import NotifySettings
from tests.alerts import make_alert
from tools.embedded import EmbeddedBroker, free_port

pytestmark = pytest.mark.broker
NOW = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)
HOSTILE = '<script>alert("x")</script> Cameras for <b>Cairo</b>'


class FakeArchive:
    def __init__(self, alerts: list[Alert]) -> None:
        self.alerts = {a.id: a for a in alerts}
        self.queries: list[AlertQuery] = []

    def _select(self, q: AlertQuery) -> list[Alert]:
        out = [
            a
            for a in self.alerts.values()
            if (not q.destinations or set(q.destinations) & set(a.destinations))
            and (not q.text or q.text.lower() in (a.title + a.summary).lower())
        ]
        return sorted(out, key=lambda a: a.created_at, reverse=True)

    async def search(self, query: AlertQuery) -> AlertPage:
        self.queries.append(query)
        return AlertPage(self._select(query)[: query.limit])

    async def facets(self, query: AlertQuery) -> Facets:
        found = self._select(query)
        return Facets(
            total=len(found),
            destinations=[("EG", len(found))],
            technologies=[("facial-recognition", len(found))],
            weeks=[(dt.date(2026, 2, 23), 1), (dt.date(2026, 3, 2), max(0, len(found) - 1))],
        )

    async def get(self, alert_id: str) -> ArchivedAlert | None:
        a = self.alerts.get(alert_id)
        return ArchivedAlert(a, NOW, [a]) if a else None

    async def audit(self, alert_id: str, owner: str | None = None) -> list[AuditEntry]:
        entry = AuditEntry("alice-sub", "Egypt watch", "alice", "webhook", "delivered", NOW, 1)
        return [e for e in [entry] if owner in (None, e.owner)]


@dataclass
class Console:
    base: str
    admin: str
    store: Any
    archive: FakeArchive

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base, timeout=10, follow_redirects=False)

    async def token(self, owner: str) -> str:
        async with self.client() as http:
            r = await http.post(
                "/v1/tokens", json={"owner": owner}, headers={"authorization": f"Bearer {self.admin}"}
            )
        assert r.status_code == 201, r.text
        token: str = r.json()["token"]
        return token


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no form token"
    return found.group(1)


async def sign_in(http: httpx.AsyncClient, token: str) -> httpx.Response:
    page = await http.get("/signin")
    return await http.post("/signin", data={"csrf": csrf_of(page.text), "token": token, "next": "/"})


@pytest.fixture
async def console(kafka: EmbeddedBroker, tmp_path: Path) -> AsyncIterator[Console]:
    run = uuid.uuid4().hex[:8]
    admin = f"admin-{uuid.uuid4().hex}"
    settings = NotifySettings(
        common=CommonSettings(kafka_bootstrap=kafka.bootstrap, kafka_embedded=True),
        http_port=free_port(),
        group_id=f"notify-console-{run}",
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
        admin_token=admin,
        allow_private_networks=["127.0.0.1/32"],
    )
    service = create_service(settings)
    store = service.state["store"]
    archive = FakeArchive(
        [
            make_alert("alert-cairo", title=HOSTILE, destinations=["EG"], created_at=NOW),
            make_alert(
                "alert-licence",
                title="Licence to Egypt",
                destinations=["EG"],
                created_at=NOW - dt.timedelta(days=1),
                licence=LicenceFacts(
                    authority="Test authority",
                    licensing_country="GB",
                    exporter="<i>Exporter</i> Ltd",
                    items=[LicenceItem(control_code="5A001.j", description="monitoring centre")],
                    value=125000.0,
                    currency="GBP",
                    decision=Decision.GRANTED,
                ),
            ),
            make_alert(
                "alert-old", title="Older story", destinations=["CN"], created_at=NOW - dt.timedelta(days=8)
            ),
        ]
    )
    store.archive = archive
    async with service.running():
        yield Console(f"http://127.0.0.1:{settings.http_port}", admin, store, archive)


async def test_sign_in_sets_a_safe_cookie_and_sign_out_ends_it(console: Console) -> None:
    alice = await console.token("alice")
    async with console.client() as http:
        # Not signed in: every page leads to the sign-in form.
        first = await http.get("/subscriptions")
        assert first.status_code == 303 and first.headers["location"].startswith("/signin")
        wrong = await sign_in(http, "ewt_not-a-token")
        assert wrong.status_code == 401
        assert "That token was not accepted" in wrong.text
        assert "ew_session" not in http.cookies
        done = await sign_in(http, alice)
        assert done.status_code == 303 and done.headers["location"] == "/"
        cookies = done.headers.get_list("set-cookie")
        session = next(c for c in cookies if c.startswith("ew_session="))
        lowered = session.lower()
        assert "httponly" in lowered and "samesite=lax" in lowered and "path=/" in lowered
        assert "secure" not in lowered.replace("samesite", "")  # plain http here: no Secure
        page = await http.get("/")
        assert page.status_code == 200 and "Signed in as alice" in page.text
        assert page.headers["cache-control"] == "no-store"
        # Only the hash of the cookie is stored.
        assert alice not in page.text
        out = await http.post("/signout", data={"csrf": csrf_of(page.text)})
        assert out.status_code == 303
        again = await http.get("/")
        assert again.status_code == 303


async def test_secure_cookie_behind_a_trusted_proxy_only_when_told(console: Console) -> None:
    alice = await console.token("alice")
    async with console.client() as http:
        page = await http.get("/signin")
        r = await http.post(
            "/signin",
            data={"csrf": csrf_of(page.text), "token": alice},
            headers={"x-forwarded-proto": "https"},
        )
        session = next(c for c in r.headers.get_list("set-cookie") if c.startswith("ew_session="))
        assert "secure" not in session.lower().replace("samesite", "")  # the header is not trusted by default


async def test_every_page_carries_the_security_headers(console: Console) -> None:
    alice = await console.token("alice")
    async with console.client() as http:
        signin = await http.get("/signin")
        await sign_in(http, alice)
        for response in (
            signin,
            await http.get("/"),
            await http.get("/subscriptions"),
            await http.get("/static/console.css"),
        ):
            csp = response.headers["content-security-policy"]
            assert (
                "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
            )
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "no-referrer"
        assert "<link" in signin.text and "http" not in re.sub(
            r'href="/[^"]*"', "", signin.text.split("<main")[0]
        )


async def test_forms_without_the_session_token_are_refused(console: Console) -> None:
    alice = await console.token("alice")
    async with console.client() as http:
        # The sign-in form itself needs its token.
        assert (await http.post("/signin", data={"token": alice})).status_code == 403
        await sign_in(http, alice)
        body = {"name": "Egypt", "channel_type": "console"}
        for form in (body, {**body, "csrf": "wrong"}):
            refused = await http.post("/subscriptions", data=form)
            assert refused.status_code == 403
            assert "security token" in refused.text
        assert await console.store.subscriptions.all("alice") == []


async def test_subscriptions_are_created_tested_and_kept_from_other_owners(console: Console) -> None:
    alice, bob = await console.token("alice"), await console.token("bob")
    async with console.client() as a, console.client() as b:
        await sign_in(a, alice)
        await sign_in(b, bob)
        csrf = csrf_of((await a.get("/subscriptions")).text)
        bad = await a.post(
            "/subscriptions",
            data={"csrf": csrf, "name": "Gulf", "channel_type": "webhook", "technologies": "spywar"},
        )
        assert bad.status_code == 422
        assert "did you mean" in bad.text and "error-technologies" in bad.text
        made = await a.post(
            "/subscriptions",
            data={
                "csrf": csrf,
                "name": "Egypt <cameras>",
                "channel_type": "webhook",
                "channel_url": "http://127.0.0.1:9/hook-secret-path",
                "channel_secret": "a-signing-secret-of-alice",
                "destinations": "EG",
                "min_severity": "high",
            },
        )
        assert made.status_code == 201, made.text
        assert "Egypt &lt;cameras&gt;" in made.text
        assert "hook-secret-path" not in made.text and "a-signing-secret-of-alice" not in made.text
        [sub] = await console.store.subscriptions.all("alice")
        # Bob neither sees it nor reaches it.
        bobs = await b.get("/subscriptions")
        assert sub.id not in bobs.text
        assert (await b.get(f"/subscriptions/{sub.id}/edit")).status_code == 404
        bob_csrf = csrf_of(bobs.text)
        assert (await b.post(f"/subscriptions/{sub.id}/delete", data={"csrf": bob_csrf})).status_code == 404
        assert (await b.post(f"/subscriptions/{sub.id}/feed", data={"csrf": bob_csrf})).status_code == 404
        # Editing with blank secrets keeps them.
        edit = await a.post(
            f"/subscriptions/{sub.id}/edit",
            data={"csrf": csrf, "name": "Egypt", "channel_type": "webhook", "destinations": "EG"},
        )
        assert edit.status_code == 200, edit.text
        [kept] = await console.store.subscriptions.all("alice")
        assert kept.name == "Egypt" and kept.channel.secret.get_secret_value() == "a-signing-secret-of-alice"
        # A test send to a receiver that is not there: the API's own message, in the page.
        tested = await a.post(f"/subscriptions/{sub.id}/test", data={"csrf": csrf})
        assert "was not delivered" in tested.text
        # A feed URL is shown once, then only its state.
        feed = await a.post(f"/subscriptions/{sub.id}/feed", data={"csrf": csrf, "action": "create"})
        assert "/feeds/" in feed.text and "new-feed-url" in feed.text
        url = re.search(r'id="new-feed-url">([^<]+)<', feed.text)
        assert url is not None
        assert "/feeds/" not in (await a.get("/subscriptions")).text
        # Bob's session opens no revoke of Alice's feed; Alice's revoke makes the URL answer 404.
        assert (
            await b.post(f"/subscriptions/{sub.id}/feed", data={"csrf": bob_csrf, "action": "revoke"})
        ).status_code == 404
        revoked = await a.post(f"/subscriptions/{sub.id}/feed", data={"csrf": csrf, "action": "revoke"})
        assert "revoked" in revoked.text
        assert (await a.get(url.group(1))).status_code == 404
        deleted = await a.post(f"/subscriptions/{sub.id}/delete", data={"csrf": csrf})
        assert deleted.status_code == 200 and await console.store.subscriptions.all("alice") == []


async def test_silences_are_created_and_expired_with_the_apis_rules(console: Console) -> None:
    alice = await console.token("alice")
    async with console.client() as http:
        await sign_in(http, alice)
        csrf = csrf_of((await http.get("/silences")).text)
        bad = await http.post("/silences", data={"csrf": csrf, "duration": "soon", "comment": ""})
        assert bad.status_code == 422 and "error-" in bad.text
        made = await http.post(
            "/silences", data={"csrf": csrf, "destinations": "EG", "duration": "2h", "comment": "Travelling"}
        )
        assert made.status_code == 201, made.text
        [silence] = await console.store.silences.all(owner="alice", now=NOW)
        assert "Travelling" in made.text
        ended = await http.post(f"/silences/{silence.id}/expire", data={"csrf": csrf})
        assert ended.status_code == 200 and "Silence expired" in ended.text


async def test_alert_list_filters_round_trip_and_problems_are_shown(console: Console) -> None:
    alice = await console.token("alice")
    async with console.client() as http:
        await sign_in(http, alice)
        page = await http.get("/", params=[("destination", "EG"), ("q", "cameras"), ("since", "2026-01-01")])
        assert page.status_code == 200
        query = console.archive.queries[-1]
        assert query.destinations == ("EG",) and query.text == "cameras"
        assert query.since == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        assert '<option value="EG" selected>' in page.text and 'value="cameras"' in page.text
        assert "<svg" in page.text and "count-weeks" in page.text
        assert "/alerts.csv?destination=EG" in page.text
        # The same query as a file, for the session (the API's export, no bearer token needed here).
        exported = await http.get("/alerts.csv", params={"destination": "EG"})
        assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
        assert "alert-cairo" in exported.text and "alert-old" not in exported.text
        atom = await http.get("/alerts.atom", params={"destination": "EG"})
        assert atom.status_code == 200 and "<feed" in atom.text
        # The hostile title is text, never markup.
        assert "<script>" not in page.text and "&lt;script&gt;" in page.text
        wrong = await http.get("/", params={"destination": "Egpyt", "since": "last week"})
        assert wrong.status_code == 400
        assert "not a date" in wrong.text and "error-destination" in wrong.text


async def test_an_alert_page_highlights_evidence_and_takes_feedback(console: Console) -> None:
    alice = await console.token("alice")
    async with console.client() as http:
        await sign_in(http, alice)
        page = await http.get("/alerts/alert-cairo")
        assert page.status_code == 200
        assert "<mark>" in page.text and "&lt;script&gt;" in page.text and "<script>" not in page.text
        assert "Egypt watch" in page.text  # the audit
        saved = await http.post(
            "/alerts/alert-cairo",
            data={
                "csrf": csrf_of(page.text),
                "verdict": "not_relevant",
                "reason": "domestic_use",
                "note": "n",
            },
        )
        assert "feedback was saved" in saved.text
        kept = await console.store.feedback.get("alert-cairo", "alice")
        assert kept is not None and kept.reason == "domestic_use" and not kept.relevant
        assert (await http.get("/alerts/nope")).status_code == 404


async def test_a_licence_alert_shows_its_codes_in_words(console: Console) -> None:
    alice = await console.token("alice")
    async with console.client() as http:
        await sign_in(http, alice)
        page = await http.get("/alerts/alert-licence")
        assert page.status_code == 200
        assert "5A001.j" in page.text and "internet traffic of a whole network" in page.text
        assert "125,000 GBP" in page.text and "&lt;i&gt;Exporter&lt;/i&gt; Ltd" in page.text


async def test_the_admin_sees_every_owners_subscriptions_and_the_whole_audit(console: Console) -> None:
    alice = await console.token("alice")
    async with console.client() as a, console.client() as admin:
        await sign_in(a, alice)
        csrf = csrf_of((await a.get("/subscriptions")).text)
        made = await a.post(
            "/subscriptions",
            data={"csrf": csrf, "name": "Alice's", "channel_type": "email", "channel_to": "a@example.org"},
        )
        assert made.status_code == 201, made.text
        await sign_in(admin, console.admin)
        assert "Alice&#39;s" in (await admin.get("/subscriptions")).text
        assert "Egypt watch" in (await admin.get("/alerts/alert-cairo")).text
        bob = await console.token("bob")
    async with console.client() as b:
        await sign_in(b, bob)
        assert "Egypt watch" not in (await b.get("/alerts/alert-cairo")).text


async def test_the_list_and_an_alert_page_read_the_real_archive(kafka: EmbeddedBroker, db_url: str) -> None:
    """No fake: alerts archived as intake does, then searched with free text and opened, on SQLite and
    PostgreSQL."""
    run = uuid.uuid4().hex[:8]
    admin = f"admin-{uuid.uuid4().hex}"
    settings = NotifySettings(
        common=CommonSettings(kafka_bootstrap=kafka.bootstrap, kafka_embedded=True),
        http_port=free_port(),
        group_id=f"notify-console-real-{run}",
        database_url=db_url,
        admin_token=admin,
    )
    service = create_service(settings)
    store = service.state["store"]
    async with service.running():
        hostile = make_alert(f"real-{run}", title=HOSTILE, destinations=["EG"], created_at=NOW)
        other = make_alert(f"other-{run}", title="Telescopes for Norway", destinations=["NO"], created_at=NOW)
        async with store.writing() as conn:
            await store.archive.add(conn, [hostile, other], NOW)
        console = Console(f"http://127.0.0.1:{settings.http_port}", admin, store, FakeArchive([]))
        alice = await console.token("alice")
        async with console.client() as http:
            await sign_in(http, alice)
            page = await http.get("/", params={"q": "Cairo"})
            assert page.status_code == 200, page.text
            assert f"/alerts/real-{run}" in page.text and f"other-{run}" not in page.text
            assert "&lt;script&gt;" in page.text and "<script>" not in page.text
            opened = await http.get(f"/alerts/real-{run}")
            assert opened.status_code == 200 and "<mark>" in opened.text
