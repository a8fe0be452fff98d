"""The notify subscriptions API over real HTTP, with the service running in-process on the real broker
and database (SQLite and PostgreSQL): bearer tokens, owner isolation, the admin's view, secrets never
shown, validation problems people can read, file-managed subscriptions, test sends to a real local
receiver, silences, dead notifications, and a silence muting an alert published on the alerts topic."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from schemas import Alert, Notification, topics
from services.common.httpapi import PROBLEM_JSON
from services.common.settings import CommonSettings
from services.notify.app import create_service
from services.notify.settings import NotifySettings
from services.notify.store import tables
from services.notify.store.repository import NotifyStore
from tests.alerts import make_alert
from tests.conftest import eventually
from tests.problems import lines, problem
from tests.trickle import trickling_target
from tools.embedded import EmbeddedBroker, free_port
from tools.webhook_sink import Reply, WebhookSink

pytestmark = pytest.mark.broker

SECRET = "api-test-signing-secret-0001"
NEW_SECRET = "api-test-signing-secret-0002"
PATH_SECRET = "T0000-B0000-path-secret"
QUERY_SECRET = "query-secret-value"


@dataclass
class Notify:
    """The running service and a client that remembers every response body (to look for secrets)."""

    base: str
    admin: str
    run: str
    store: NotifyStore
    http: httpx.AsyncClient
    file_id: str
    bodies: list[str] = field(default_factory=list)

    async def call(
        self, method: str, path: str, token: str | None = None, body: Any = None, **kw: Any
    ) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token is not None else {}
        headers.update(kw.pop("headers", {}))
        response = await self.http.request(method, self.base + path, headers=headers, json=body, **kw)
        self.bodies.append(response.text)
        self.bodies.extend(f"{k}: {v}" for k, v in response.headers.items())
        return response

    async def token(self, owner: str) -> str:
        response = await self.call("POST", "/v1/tokens", self.admin, {"owner": owner, "label": "test"})
        assert response.status_code == 201, response.text
        assert response.json()["owner"] == owner
        token: str = response.json()["token"]
        return token

    def assert_no_secret(self, *secrets: str) -> None:
        text = "\n".join(self.bodies)
        for secret in (SECRET, NEW_SECRET, PATH_SECRET, QUERY_SECRET, *secrets):
            assert secret not in text


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    s = WebhookSink(secret=SECRET).start()
    yield s
    s.stop()


def secret_url(sink: WebhookSink) -> str:
    """The sink's address with a secret path and query, like a Slack or Zapier hook."""
    return f"{sink.url}/{PATH_SECRET}?token={QUERY_SECRET}"


def webhook(sink: WebhookSink, secret: str = SECRET) -> dict[str, str]:
    return {"type": "webhook", "url": secret_url(sink), "secret": secret}


@pytest.fixture
async def notify(kafka: EmbeddedBroker, db_url: str, tmp_path: Path) -> AsyncIterator[Notify]:
    run = uuid.uuid4().hex[:8]
    admin = f"admin-{uuid.uuid4().hex}"
    file_id = f"file-{run}"
    subscriptions = tmp_path / "subscriptions.yaml"
    subscriptions.write_text(
        f"""
subscriptions:
  - id: {file_id}
    owner: ops
    name: Managed in git
    filters: {{entities: [nobody-{run}]}}
    channel: {{type: webhook, url: "http://127.0.0.1:9/never", secret: "{"f" * 20}"}}
""",
        encoding="utf-8",
    )
    settings = NotifySettings(
        common=CommonSettings(kafka_bootstrap=kafka.bootstrap, kafka_embedded=True),
        http_port=free_port(),
        group_id=f"notify-api-{run}",
        database_url=db_url,
        admin_token=admin,
        subscriptions_file=subscriptions,
        # The run's own vendor ids, as an operator's additions to the watchlists would be: alerts that
        # other tests publish on the shared broker never name them.
        extra_vendors=[f"v-{run}", f"nobody-{run}", f"vendor-{run}"],
        allow_private_networks=["127.0.0.1/32"],
        group_wait_seconds=0.2,
        send_timeout_seconds=2.0,
        retry_base_seconds=0.05,
        retry_cap_seconds=0.2,
        retry_attempts=3,
        poll_seconds=0.1,
    )
    service = create_service(settings)
    async with service.running(), httpx.AsyncClient(timeout=10) as http:
        yield Notify(
            base=f"http://127.0.0.1:{settings.http_port}",
            admin=admin,
            run=run,
            store=service.state["store"],
            http=http,
            file_id=file_id,
        )


async def test_every_call_needs_a_known_bearer_token(notify: Notify) -> None:
    for headers in ({}, {"authorization": "Basic YWxpY2U6c2VjcmV0"}, {"authorization": "Bearer"}):
        response = await notify.call("GET", "/v1/subscriptions", headers=headers)
        assert "bearer token" in problem(response, 401, "missing-credentials")["detail"]
        assert response.headers["www-authenticate"] == "Bearer"
    for path in ("/v1/subscriptions", "/v1/silences", "/v1/dead"):
        response = await notify.call("GET", path, "ewt_not-a-real-token")
        assert problem(response, 401, "invalid-token")["detail"] == "unknown or revoked token"
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'

    # The admin makes owner tokens; owners cannot.
    alice = await notify.token("alice")
    assert alice.startswith("ewt_")
    assert (await notify.call("GET", "/v1/subscriptions", alice)).json() == {"subscriptions": []}
    refused = await notify.call("POST", "/v1/tokens", alice, {"owner": "mallory"})
    assert refused.status_code == 403
    bad_owner = await notify.call("POST", "/v1/tokens", notify.admin, {"owner": "not an id!"})
    assert bad_owner.status_code == 422
    assert (await notify.call("POST", "/v1/tokens", notify.admin, {})).status_code == 422
    # A token is only shown once, in the answer that created it; a second one is different.
    assert await notify.token("alice") != alice


async def test_owners_see_and_change_only_their_own_subscriptions(notify: Notify, sink: WebhookSink) -> None:
    run = notify.run
    alice, bob = await notify.token("alice"), await notify.token("bob")
    slack = await notify.call(
        "POST",
        "/v1/subscriptions",
        alice,
        {
            "id": f"alice-slack-{run}",
            "name": "Spyware to the Gulf",
            "filters": {"technologies": ["spyware"], "destinations": ["ae", "SA"], "entities": [f"v-{run}"]},
            "channel": {"type": "slack", "url": secret_url(sink)},
        },
    )
    assert slack.status_code == 201, slack.text
    assert slack.headers["location"] == f"/v1/subscriptions/alice-slack-{run}"
    created = slack.json()
    assert created["owner"] == "alice" and created["origin"] == "api"
    assert created["filters"]["destinations"] == ["AE", "SA"]
    assert created["channel"] == {"type": "slack", "url": "http://127.0.0.1/… (hidden)"}

    hook = await notify.call(
        "POST",
        "/v1/subscriptions",
        alice,
        {"name": "Everything of mine", "filters": {"entities": [f"v-{run}"]}, "channel": webhook(sink)},
    )
    assert hook.status_code == 201, hook.text
    hook_id = hook.json()["id"]
    assert hook_id.startswith("sub-")
    assert hook.json()["channel"]["secret"] == "(hidden)"
    bobs = await notify.call(
        "POST",
        "/v1/subscriptions",
        bob,
        {
            "id": f"bob-{run}",
            "name": "Bob's",
            "filters": {"entities": [f"v-{run}"]},
            "channel": webhook(sink),
        },
    )
    assert bobs.status_code == 201, bobs.text

    listed = (await notify.call("GET", "/v1/subscriptions", alice)).json()["subscriptions"]
    assert sorted(s["id"] for s in listed) == sorted([f"alice-slack-{run}", hook_id])
    # ?owner= is the admin's; an owner asking for someone else's still gets only their own.
    sneaky = (await notify.call("GET", "/v1/subscriptions?owner=bob", alice)).json()["subscriptions"]
    assert {s["owner"] for s in sneaky} == {"alice"}
    fetched = await notify.call("GET", f"/v1/subscriptions/{hook_id}", alice)
    assert fetched.status_code == 200 and fetched.json()["name"] == "Everything of mine"

    # Someone else's subscription is exactly like a missing one.
    missing = await notify.call("GET", "/v1/subscriptions/no-such-thing", bob)
    for method, body in (
        ("GET", None),
        ("PATCH", {"name": "mine now"}),
        ("PUT", {"name": "mine now", "channel": webhook(sink)}),
        ("DELETE", None),
    ):
        response = await notify.call(method, f"/v1/subscriptions/{hook_id}", bob, body)
        assert response.status_code == 404, (method, response.text)
        assert response.json()["detail"] == f"no subscription {hook_id!r}"
    assert missing.status_code == 404
    assert (await notify.call("POST", f"/v1/subscriptions/{hook_id}/test", bob)).status_code == 404
    assert (await notify.store.subscriptions.get(hook_id)) is not None
    assert (await notify.store.subscriptions.get(hook_id)).name == "Everything of mine"  # type: ignore[union-attr]
    assert sink.requests == 0, "bob's test send reached alice's receiver"

    # An owner cannot create for someone else; the admin can.
    for_bob = {"owner": "bob", "name": "x", "filters": {"entities": [f"v-{run}"]}, "channel": webhook(sink)}
    assert (await notify.call("POST", "/v1/subscriptions", alice, for_bob)).status_code == 403
    by_admin = await notify.call("POST", "/v1/subscriptions", notify.admin, for_bob)
    assert by_admin.status_code == 201 and by_admin.json()["owner"] == "bob"
    everyone = await notify.call("POST", "/v1/subscriptions", notify.admin, {**for_bob, "owner": "*"})
    assert everyone.status_code == 422, "'*' is for silences, a subscription needs a real owner"

    # The admin sees everyone's (the file-managed one too) and can filter by owner.
    everything = (await notify.call("GET", "/v1/subscriptions", notify.admin)).json()["subscriptions"]
    ids = {s["id"] for s in everything}
    assert {f"alice-slack-{run}", hook_id, f"bob-{run}", by_admin.json()["id"], notify.file_id} <= ids
    only_alice = (await notify.call("GET", "/v1/subscriptions?owner=alice", notify.admin)).json()
    assert sorted(s["id"] for s in only_alice["subscriptions"]) == sorted([f"alice-slack-{run}", hook_id])
    assert (await notify.call("GET", f"/v1/subscriptions/{hook_id}", notify.admin)).status_code == 200

    # Deleting one's own.
    assert (await notify.call("DELETE", f"/v1/subscriptions/{hook_id}", alice)).status_code == 204
    assert (await notify.call("GET", f"/v1/subscriptions/{hook_id}", alice)).status_code == 404
    assert (await notify.call("DELETE", f"/v1/subscriptions/{hook_id}", alice)).status_code == 404
    notify.assert_no_secret(sink.url)


async def test_someone_elses_id_answers_exactly_like_a_missing_one_on_create_too(
    notify: Notify, sink: WebhookSink
) -> None:
    run = notify.run
    alice, bob = await notify.token("alice"), await notify.token("bob")
    body: dict[str, Any] = {"name": "x", "filters": {"entities": [f"v-{run}"]}, "channel": webhook(sink)}
    taken = f"alice-mine-{run}"
    assert (await notify.call("POST", "/v1/subscriptions", alice, {**body, "id": taken})).status_code == 201

    # Bob choosing alice's id, or an id nobody has (in alice's range or anywhere else): one answer.
    answers = []
    for chosen in (taken, f"alice-nothing-{run}", f"nothing-{run}"):
        response = await notify.call("POST", "/v1/subscriptions", bob, {**body, "id": chosen})
        answers.append((response.status_code, response.json()))
    assert answers[0] == answers[1] == answers[2], answers
    status, problem = answers[0]
    assert status == 422 and lines(problem) == [
        "id: an id you choose must start with 'bob-' (or leave it out for one made for you)"
    ], problem
    # The admin acting for bob is held to bob's range too; for itself it may choose any id.
    for_bob = await notify.call(
        "POST", "/v1/subscriptions", notify.admin, {**body, "owner": "bob", "id": taken}
    )
    assert (for_bob.status_code, for_bob.json()) == answers[0]
    assert (
        await notify.call("POST", "/v1/subscriptions", bob, {**body, "id": f"bob-{run}"})
    ).status_code == 201

    # PUT and PATCH do not create: alice's id and a missing one answer alike, but for the id itself.
    for method, change in (("PUT", body), ("PATCH", {"name": "mine now"})):
        other = await notify.call(method, f"/v1/subscriptions/{taken}", bob, change)
        missing = await notify.call(method, f"/v1/subscriptions/alice-nothing-{run}", bob, change)
        assert other.status_code == missing.status_code == 404, (method, other.text, missing.text)
        assert other.json()["detail"] == f"no subscription {taken!r}"
        assert missing.json()["detail"] == f"no subscription 'alice-nothing-{run}'"
    stored = await notify.store.subscriptions.get(taken)
    assert stored is not None and stored.owner == "alice" and stored.name == "x"
    assert (await notify.store.subscriptions.get(f"alice-nothing-{run}")) is None


async def test_the_admin_identity_is_reserved(notify: Notify, sink: WebhookSink) -> None:
    run = notify.run
    body: dict[str, Any] = {
        "name": "the admin's",
        "filters": {"entities": [f"v-{run}"]},
        "channel": webhook(sink),
    }
    own = await notify.call("POST", "/v1/subscriptions", notify.admin, body)
    assert own.status_code == 201 and own.json()["owner"] == "admin", own.text
    for owner in ("admin", "Admin", "ADMIN"):
        refused = await notify.call("POST", "/v1/tokens", notify.admin, {"owner": owner})
        assert refused.status_code == 422, (owner, refused.text)
        assert "'admin' is reserved for the admin token" in refused.json()["detail"], refused.text
        for_it = await notify.call("POST", "/v1/subscriptions", notify.admin, {**body, "owner": owner})
        assert for_it.status_code == (201 if owner == "admin" else 422), (owner, for_it.text)
    # A token given the name before it was reserved acts as nobody.
    legacy = await notify.store.tokens.add("admin", dt.datetime.now(dt.UTC), label="before the rule")
    for method, path, change in (
        ("GET", "/v1/subscriptions", None),
        ("GET", f"/v1/subscriptions/{own.json()['id']}", None),
        ("PATCH", f"/v1/subscriptions/{own.json()['id']}", {"name": "taken over"}),
    ):
        response = await notify.call(method, path, legacy, change)
        assert response.status_code == 401, (method, path, response.text)
    stored = await notify.store.subscriptions.get(own.json()["id"])
    assert stored is not None and stored.name == "the admin's"


async def test_patch_keeps_the_stored_secret_and_put_replaces_everything(
    notify: Notify, sink: WebhookSink
) -> None:
    run = notify.run
    alice = await notify.token("alice")
    created = await notify.call(
        "POST",
        "/v1/subscriptions",
        alice,
        {
            "id": f"alice-hook-{run}",
            "name": "China",
            "filters": {"destinations": ["CN"], "entities": [f"v-{run}"], "min_severity": "medium"},
            "group_wait_seconds": 5,
            "channel": webhook(sink),
        },
    )
    assert created.status_code == 201, created.text

    patched = await notify.call(
        "PATCH",
        f"/v1/subscriptions/{created.json()['id']}",
        alice,
        {"filters": {"destinations": ["RU", "by"]}, "name": "Russia and Belarus"},
    )
    assert patched.status_code == 200, patched.text
    view = patched.json()
    assert view["name"] == "Russia and Belarus"
    assert view["filters"]["destinations"] == ["BY", "RU"]
    assert view["filters"]["entities"] == [f"v-{run}"], "a PATCH keeps the filters it does not name"
    assert view["filters"]["min_severity"] == "medium"
    assert view["group_wait_seconds"] == 5
    assert view["channel"] == {"type": "webhook", "url": "http://127.0.0.1/… (hidden)", "secret": "(hidden)"}
    assert view["updated_at"] > created.json()["updated_at"]
    assert view["created_at"] == created.json()["created_at"]
    stored = await notify.store.subscriptions.get(f"alice-hook-{run}")
    assert stored is not None and stored.channel.secret.get_secret_value() == SECRET  # type: ignore[union-attr]

    # The test send is still signed with the secret given at creation.
    sent = await notify.call("POST", f"/v1/subscriptions/alice-hook-{run}/test", alice)
    assert sent.status_code == 200, sent.text
    assert sent.json()["delivered"] is True
    [received] = sink.received
    assert received["signature_valid"] is True
    assert received["path"] == f"/hook/{PATH_SECRET}?token={QUERY_SECRET}"
    assert received["notification_id"] == sent.json()["notification_id"]
    test = Notification.model_validate(received["body"]["data"])
    assert test.kind == "test" and test.subscription_id == f"alice-hook-{run}"
    assert test.subscription_name == "Russia and Belarus"

    # PATCHing the channel with the same type keeps the secret unless a new one is given.
    rotated = await notify.call(
        "PATCH", f"/v1/subscriptions/alice-hook-{run}", alice, {"channel": {"secret": NEW_SECRET}}
    )
    assert rotated.status_code == 200, rotated.text
    stored = await notify.store.subscriptions.get(f"alice-hook-{run}")
    assert stored is not None and stored.channel.secret.get_secret_value() == NEW_SECRET  # type: ignore[union-attr]
    assert stored.channel.url.get_secret_value() == secret_url(sink)  # type: ignore[union-attr]

    # PUT replaces the whole subscription: what it leaves out is back to the defaults.
    put = await notify.call(
        "PUT",
        f"/v1/subscriptions/alice-hook-{run}",
        alice,
        {
            "name": "Now on Slack",
            "filters": {"entities": [f"v-{run}"]},
            "channel": {"type": "slack", "url": secret_url(sink)},
        },
    )
    assert put.status_code == 200, put.text
    replaced = (await notify.call("GET", f"/v1/subscriptions/alice-hook-{run}", alice)).json()
    assert replaced["name"] == "Now on Slack"
    assert replaced["channel"] == {"type": "slack", "url": "http://127.0.0.1/… (hidden)"}
    assert replaced["filters"]["destinations"] == [] and replaced["filters"]["entities"] == [f"v-{run}"]
    assert replaced["filters"]["min_severity"] == "low"
    assert replaced["group_wait_seconds"] is None
    assert replaced["id"] == f"alice-hook-{run}" and replaced["owner"] == "alice"
    # A PUT without what a full subscription needs is refused.
    partial = await notify.call("PUT", f"/v1/subscriptions/alice-hook-{run}", alice, {"name": "no channel"})
    assert partial.status_code == 422
    assert any(p.startswith("channel:") for p in lines(partial.json()))
    # The owner cannot be changed by the body.
    moved = await notify.call(
        "PATCH", f"/v1/subscriptions/alice-hook-{run}", alice, {"owner": "bob", "id": "other"}
    )
    assert (
        moved.status_code == 200
        and moved.json()["owner"] == "alice"
        and moved.json()["id"] == f"alice-hook-{run}"
    )
    notify.assert_no_secret(sink.url)


async def test_invalid_subscriptions_are_refused_with_readable_problems(
    notify: Notify, sink: WebhookSink
) -> None:
    alice = await notify.token("alice")

    async def problems(body: Any, token: str = alice) -> list[str]:
        response = await notify.call("POST", "/v1/subscriptions", token, body)
        assert response.status_code == 422, response.text
        found: list[str] = lines(response.json()) or [response.json()["detail"]]
        return found

    base: dict[str, Any] = {
        "name": "x",
        "filters": {"entities": [f"v-{notify.run}"]},
        "channel": webhook(sink),
    }
    typo = await problems({**base, "filtres": {"destinations": ["CN"]}})
    assert any("unknown key 'filtres'" in p and "did you mean 'filters'" in p for p in typo), typo
    nested = await problems({**base, "filters": {"destination": ["CN"]}})
    assert any("did you mean 'destinations'" in p for p in nested), nested
    countries = await problems({**base, "filters": {"destinations": ["China", "CN"]}})
    assert countries == [
        "filters.destinations[0]: unknown destination 'China'; did you mean 'CN' (China)?"
    ], countries
    zone = await problems(
        {
            **base,
            "mode": "digest",
            "digest": {"every": "daily", "at": "08:00", "timezone": "Europe/Amstredam"},
        }
    )
    assert any(p.startswith("digest.timezone:") and "unknown time zone" in p for p in zone), zone
    at = await problems({**base, "mode": "digest", "digest": {"every": "daily", "at": "25:00"}})
    assert any("HH:MM" in p for p in at), at
    short = await problems({**base, "channel": {**webhook(sink), "secret": "short"}})
    assert any("at least 16 characters" in p for p in short), short
    for url, why in (
        ("http://10.1.2.3/x", "private"),
        ("http://169.254.169.254/latest/meta-data/", "address, which is not allowed"),
        ("http://[::1]:8080/hook", "address, which is not allowed"),
        ("ftp://127.0.0.1/x", "https://"),
    ):
        for channel in ({"type": "slack", "url": url}, {**webhook(sink), "url": url}):
            found = await problems({**base, "channel": channel})
            assert any(p.startswith("channel.url:") and why in p for p in found), (url, found)
            assert all(url not in p for p in found)

    # Console and file channels write on the server: only the admin may use them.
    for channel in ({"type": "console"}, {"type": "file", "path": "/tmp/x.jsonl"}):
        [problem] = await problems({**base, "channel": channel})
        assert "only the admin" in problem
    console = await notify.call(
        "POST",
        "/v1/subscriptions",
        notify.admin,
        {
            "name": "ops console",
            "filters": {"entities": [f"nobody-{notify.run}"]},
            "channel": {"type": "console"},
        },
    )
    assert console.status_code == 201, console.text

    # The same checks on PATCH and PUT.
    ok = await notify.call("POST", "/v1/subscriptions", alice, base)
    assert ok.status_code == 201
    path = f"/v1/subscriptions/{ok.json()['id']}"
    bad_patch = await notify.call("PATCH", path, alice, {"channel": {"url": "http://10.1.2.3/x"}})
    assert bad_patch.status_code == 422 and "private" in lines(bad_patch.json())[0]
    bad_put = await notify.call("PUT", path, alice, {**base, "filters": {"destinations": ["XYZ"]}})
    assert bad_put.status_code == 422
    assert (await notify.call("PATCH", path, alice, {"channel": {"type": "console"}})).status_code == 422

    # Bodies and ids.
    raw = await notify.http.post(
        notify.base + "/v1/subscriptions",
        content=b"{not json",
        headers={"authorization": f"Bearer {alice}", "content-type": "application/json"},
    )
    assert raw.status_code == 400 and raw.json()["detail"] == "the body is not valid JSON"
    assert (await notify.call("POST", "/v1/subscriptions", alice, ["a list"])).status_code == 400
    bad_id = await notify.call("POST", "/v1/subscriptions", alice, {**base, "id": "../etc"})
    assert bad_id.status_code == 422
    nothing = await notify.call("GET", "/v1/subscriptions", alice)
    assert [s["id"] for s in nothing.json()["subscriptions"]] == [ok.json()["id"]]
    notify.assert_no_secret(sink.url)


HOSTILE_URLS = [
    ("http://xn--ls8h.example/", "not valid IDNA"),  # punycode of a code point IDNA does not allow
    ("https://xn--zz.example/hook", "not valid IDNA"),  # not punycode at all
    ("http://\u2603\ufffd.example/", "not valid IDNA"),  # Unicode that cannot be encoded
    (f"http://{'a' * 64}.example/", "longer than 63 characters"),
    (f"http://{'a.' * 127}example/", "longer than 253 characters"),
    ("http://a..example/", "empty label"),
    ("http://.example/", "empty label"),
    ("http://h:99999/", "invalid port"),
    ("http://[::1/", "not valid"),
    ("http://[::zz]/", "not valid"),
]


async def test_hostile_host_names_ports_and_literals_are_422_problems_never_500(
    notify: Notify, sink: WebhookSink
) -> None:
    alice = await notify.token("alice")
    base: dict[str, Any] = {
        "name": "x",
        "filters": {"entities": [f"v-{notify.run}"]},
        "channel": webhook(sink),
    }
    ok = await notify.call("POST", "/v1/subscriptions", alice, base)
    assert ok.status_code == 201, ok.text
    path = f"/v1/subscriptions/{ok.json()['id']}"
    for url, why in HOSTILE_URLS:
        for method, where, body in (
            ("POST", "/v1/subscriptions", {**base, "channel": {"type": "slack", "url": url}}),
            ("POST", "/v1/subscriptions", {**base, "channel": {**webhook(sink), "url": url}}),
            ("PUT", path, {**base, "channel": {"type": "slack", "url": url}}),
            ("PATCH", path, {"channel": {"url": url}}),
        ):
            response = await notify.call(method, where, alice, body)
            assert response.status_code == 422, (url, method, response.status_code, response.text)
            assert response.headers["content-type"] == PROBLEM_JSON, (url, response.text)
            problems = lines(response.json())
            found = [p for p in problems if p.startswith("channel.") and "url:" in p and why in p]
            assert found, (url, problems)
            assert all(url not in p for p in problems)
    unchanged = await notify.call("GET", path, alice)
    assert unchanged.json()["channel"]["type"] == "webhook"


async def test_unknown_ids_are_refused_all_at_once_with_the_closest_known_ones(
    notify: Notify, sink: WebhookSink
) -> None:
    alice = await notify.token("alice")
    body: dict[str, Any] = {
        "name": "Spyware to the Gulf",
        "filters": {
            "technologies": ["spyware", "spywar"],
            "destinations": ["AE", "XX", "Rusia"],
            "entities": ["nso", f"v-{notify.run}"],
        },
        "mode": "digest",
        "digest": {"timezone": "Europe/Amstredam"},
        "channel": {"type": "slack", "url": "http://10.1.2.3/hook"},
    }
    response = await notify.call("POST", "/v1/subscriptions", alice, body)
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["detail"] == "invalid subscription"
    xx = (
        "unknown destination 'XX': use the ISO alpha-2 code of a country the watchlists know, such as CN "
        "or AE"
    )
    assert answer["errors"] == [
        {
            "location": "filters.technologies[1]",
            "value": "spywar",
            "message": "unknown technology 'spywar'; did you mean 'spyware'?",
            "suggestion": "spyware",
        },
        {"location": "filters.destinations[1]", "value": "XX", "message": xx, "suggestion": None},
        {
            "location": "filters.destinations[2]",
            "value": "Rusia",
            "message": "unknown destination 'Rusia'; did you mean 'RU' (Russia)?",
            "suggestion": "RU",
        },
        {
            "location": "filters.entities[0]",
            "value": "nso",
            "message": "unknown vendor 'nso'; did you mean 'nso-group'?",
            "suggestion": "nso-group",
        },
        answer["errors"][4],
        answer["errors"][5],
    ]
    assert answer["errors"][4]["location"] == "digest.timezone"
    assert answer["errors"][5]["location"] == "channel.url" and "private" in answer["errors"][5]["message"]
    assert lines(answer) == [f"{d['location']}: {d['message']}" for d in answer["errors"]]
    assert "10.1.2.3" not in response.text

    # The same on PUT and PATCH; a vendor the operator added (the run's own) is known.
    good = {**body, "filters": {"entities": [f"v-{notify.run}"]}, "channel": webhook(sink)}
    del good["mode"], good["digest"]
    created = await notify.call("POST", "/v1/subscriptions", alice, good)
    assert created.status_code == 201, created.text
    path = f"/v1/subscriptions/{created.json()['id']}"
    put = await notify.call("PUT", path, alice, {**good, "filters": {"technologies": ["Spyware ", "drones"]}})
    assert put.status_code == 422
    [drones] = put.json()["errors"]
    assert drones["location"] == "filters.technologies[1]" and drones["suggestion"] is None
    assert drones["message"].startswith("unknown technology 'drones'; known: biometric-identification, ")
    patch = await notify.call("PATCH", path, alice, {"filters": {"destinations": ["UK", "Turky"]}})
    assert patch.status_code == 422
    assert [(d["location"], d["suggestion"]) for d in patch.json()["errors"]] == [
        ("filters.destinations[0]", "GB"),
        ("filters.destinations[1]", "TR"),
    ]
    unchanged = await notify.call("GET", path, alice)
    assert unchanged.json()["filters"]["entities"] == [f"v-{notify.run}"]
    assert unchanged.json()["filters"]["destinations"] == []

    # Silences name the same ids.
    silence = await notify.call(
        "POST",
        "/v1/silences",
        alice,
        {"filters": {"technologies": ["spywar"]}, "duration": "2h", "comment": "typo"},
    )
    assert silence.status_code == 422 and silence.json()["detail"] == "invalid silence"
    assert lines(silence.json()) == [
        "filters.technologies[0]: unknown technology 'spywar'; did you mean 'spyware'?"
    ]
    notify.assert_no_secret()


async def test_duplicate_ids_and_file_managed_subscriptions_are_conflicts(
    notify: Notify, sink: WebhookSink
) -> None:
    alice = await notify.token("alice")
    body = {
        "id": f"alice-dup-{notify.run}",
        "name": "first",
        "filters": {"entities": [f"v-{notify.run}"]},
        "channel": webhook(sink),
    }
    assert (await notify.call("POST", "/v1/subscriptions", alice, body)).status_code == 201
    again = await notify.call("POST", "/v1/subscriptions", alice, {**body, "name": "second"})
    assert again.status_code == 409 and "exists already" in again.json()["detail"]
    bob = await notify.token("bob")  # someone else's id is no conflict of bob's: see the isolation test
    assert (await notify.call("POST", "/v1/subscriptions", bob, body)).status_code == 422
    mine = await notify.call("GET", f"/v1/subscriptions/alice-dup-{notify.run}", alice)
    assert mine.json()["name"] == "first"

    path = f"/v1/subscriptions/{notify.file_id}"
    managed = await notify.call("GET", path, notify.admin)
    assert managed.status_code == 200 and managed.json()["origin"] == "file"
    assert managed.json()["owner"] == "ops"
    taken = await notify.call("POST", "/v1/subscriptions", notify.admin, {**body, "id": notify.file_id})
    assert taken.status_code == 409
    for method, change in (
        ("PATCH", {"name": "renamed"}),
        ("PUT", {"name": "renamed", "channel": webhook(sink)}),
        ("DELETE", None),
    ):
        response = await notify.call(method, path, notify.admin, change)
        assert response.status_code == 409, (method, response.text)
        assert "file configuration" in response.json()["detail"]
    ops = await notify.token("ops")
    assert (await notify.call("PATCH", path, ops, {"name": "renamed"})).status_code == 409
    still = await notify.store.subscriptions.get(notify.file_id)
    assert still is not None and still.name == "Managed in git"


async def test_test_send_reaches_the_receiver_or_says_why_not(notify: Notify, sink: WebhookSink) -> None:
    alice = await notify.token("alice")
    mine = {"entities": [f"v-{notify.run}"]}  # never an alert of another test
    refusing = WebhookSink(script=[Reply(404)], secret=SECRET).start()
    try:
        good = await notify.call(
            "POST", "/v1/subscriptions", alice, {"name": "ok", "filters": mine, "channel": webhook(sink)}
        )
        bad = await notify.call(
            "POST",
            "/v1/subscriptions",
            alice,
            {
                "name": "gone",
                "filters": mine,
                "channel": {**webhook(refusing), "url": refusing.url + "?token=" + QUERY_SECRET},
            },
        )
        slack = await notify.call(
            "POST",
            "/v1/subscriptions",
            alice,
            {"name": "slack", "filters": mine, "channel": {"type": "slack", "url": sink.url}},
        )
        assert good.status_code == bad.status_code == slack.status_code == 201

        sent = await notify.call("POST", f"/v1/subscriptions/{good.json()['id']}/test", alice)
        assert sent.status_code == 200
        assert sent.json() == {"delivered": True, "notification_id": sent.json()["notification_id"]}
        [received] = sink.received
        assert received["signature_valid"] is True
        assert received["body"]["type"] == "org.exportwatch.notification.v1"
        assert received["body"]["data"]["kind"] == "test"
        assert received["body"]["data"]["subscription_id"] == good.json()["id"]

        failed = await notify.call("POST", f"/v1/subscriptions/{bad.json()['id']}/test", alice)
        assert problem(failed, 502, "delivery-failed") == {
            "type": "urn:exportwatch:problem:delivery-failed",
            "title": "Delivery failed",
            "status": 502,
            "instance": f"/v1/subscriptions/{bad.json()['id']}/test",
            "delivered": False,
            "reason": "client_error",
            "detail": "HTTP 404",
            "retryable": False,
        }
        assert refusing.requests == 1

        on_slack = await notify.call("POST", f"/v1/subscriptions/{slack.json()['id']}/test", alice)
        assert on_slack.status_code == 200 and on_slack.json()["delivered"] is True
        assert len(sink.received) == 2
        assert "ExportWatch test" in str(sink.received[1]["body"])

        # A test send is not a notification: nothing is queued or listed as dead.
        counts, _ = await notify.store.deliveries.queue_stats()
        assert counts == {}
        assert (await notify.call("GET", "/v1/dead", alice)).json() == {"dead": []}
    finally:
        refusing.stop()
    notify.assert_no_secret(sink.url, refusing.url)


async def test_silences_are_created_listed_and_expired_by_their_owner(
    notify: Notify, sink: WebhookSink
) -> None:
    alice, bob = await notify.token("alice"), await notify.token("bob")
    now = dt.datetime.now(dt.UTC)
    soon = (now + dt.timedelta(hours=2)).isoformat()
    created = await notify.call(
        "POST",
        "/v1/silences",
        alice,
        {"filters": {"destinations": ["RU"]}, "ends_at": soon, "comment": "known story, being handled"},
    )
    assert created.status_code == 201, created.text
    silence = created.json()
    assert silence["state"] == "active" and silence["owner"] == "alice" and silence["created_by"] == "alice"
    assert silence["filters"]["destinations"] == ["RU"]
    later = await notify.call(
        "POST",
        "/v1/silences",
        alice,
        {
            "filters": {"keyword": "maintenance"},
            "starts_at": (now + dt.timedelta(hours=1)).isoformat(),
            "ends_at": (now + dt.timedelta(hours=3)).isoformat(),
            "comment": "planned",
        },
    )
    assert later.status_code == 201 and later.json()["state"] == "pending"

    listed = (await notify.call("GET", "/v1/silences", alice)).json()["silences"]
    assert {(s["id"], s["state"]) for s in listed} == {
        (silence["id"], "active"),
        (later.json()["id"], "pending"),
    }
    assert (await notify.call("GET", "/v1/silences", bob)).json() == {"silences": []}
    admin_view = (await notify.call("GET", "/v1/silences", notify.admin)).json()["silences"]
    assert {silence["id"], later.json()["id"]} <= {s["id"] for s in admin_view}

    # Someone else's silence is not there for them.
    assert (await notify.call("DELETE", f"/v1/silences/{silence['id']}", bob)).status_code == 404
    assert (await notify.call("DELETE", "/v1/silences/sil-missing", alice)).status_code == 404
    expired = await notify.call("DELETE", f"/v1/silences/{silence['id']}", alice)
    assert expired.status_code == 204
    current = (await notify.call("GET", "/v1/silences", alice)).json()["silences"]
    assert [s["id"] for s in current] == [later.json()["id"]]
    everything = (await notify.call("GET", "/v1/silences?expired=1", alice)).json()["silences"]
    assert {(s["id"], s["state"]) for s in everything} == {
        (silence["id"], "expired"),
        (later.json()["id"], "pending"),
    }

    # Validation.
    past = await notify.call(
        "POST",
        "/v1/silences",
        alice,
        {"filters": {}, "ends_at": (now - dt.timedelta(minutes=1)).isoformat(), "comment": "late"},
    )
    assert past.status_code == 422
    assert lines(past.json()) == ["ends_at: must be after starts_at and in the future"]
    backwards = await notify.call(
        "POST",
        "/v1/silences",
        alice,
        {
            "filters": {},
            "starts_at": (now + dt.timedelta(hours=5)).isoformat(),
            "ends_at": (now + dt.timedelta(hours=4)).isoformat(),
            "comment": "backwards",
        },
    )
    assert backwards.status_code == 422
    naive = await notify.call(
        "POST", "/v1/silences", alice, {"filters": {}, "ends_at": "2099-01-01T00:00:00", "comment": "x"}
    )
    assert naive.status_code == 422 and lines(naive.json())[0].startswith("ends_at:")
    # A duration instead of a time (what the README's example uses: it works whenever it is pasted).
    week = await notify.call(
        "POST", "/v1/silences", alice, {"filters": {}, "duration": "7d", "comment": "for a week"}
    )
    assert week.status_code == 201, week.text
    ends = dt.datetime.fromisoformat(week.json()["ends_at"])
    assert abs((ends - dt.datetime.now(dt.UTC)) - dt.timedelta(days=7)) < dt.timedelta(minutes=1)
    assert (await notify.call("DELETE", f"/v1/silences/{week.json()['id']}", alice)).status_code in (200, 204)
    both = await notify.call(
        "POST", "/v1/silences", alice, {"filters": {}, "duration": "2h", "ends_at": soon, "comment": "x"}
    )
    neither = await notify.call("POST", "/v1/silences", alice, {"filters": {}, "comment": "x"})
    bad = await notify.call(
        "POST", "/v1/silences", alice, {"filters": {}, "duration": "soon", "comment": "x"}
    )
    assert both.status_code == neither.status_code == bad.status_code == 422
    assert any("exactly one of ends_at" in p for p in lines(both.json()) + lines(neither.json()))
    assert any("is not a duration" in p for p in lines(bad.json()))
    typo = await notify.call("POST", "/v1/silences", alice, {"filter": {}, "ends_at": soon, "comment": "x"})
    assert typo.status_code == 422 and any("did you mean 'filters'" in p for p in lines(typo.json()))
    no_comment = await notify.call("POST", "/v1/silences", alice, {"filters": {}, "ends_at": soon})
    assert no_comment.status_code == 422 and any(p.startswith("comment:") for p in lines(no_comment.json()))
    bobs = await notify.call(
        "POST",
        "/v1/subscriptions",
        bob,
        {"name": "b", "filters": {"entities": [f"v-{notify.run}"]}, "channel": webhook(sink)},
    )
    theirs = await notify.call(
        "POST",
        "/v1/silences",
        alice,
        {"filters": {}, "ends_at": soon, "comment": "x", "subscription_id": bobs.json()["id"]},
    )
    assert theirs.status_code == 404
    for_bob = await notify.call(
        "POST", "/v1/silences", alice, {"owner": "bob", "filters": {}, "ends_at": soon, "comment": "x"}
    )
    assert for_bob.status_code == 403
    assert (await notify.call("GET", "/v1/silences", bob)).json() == {"silences": []}

    # The admin may silence for an owner, or for everyone ("*"), but not one owner's subscription for
    # another owner: that silence would never mute anything.
    mismatch = await notify.call(
        "POST",
        "/v1/silences",
        notify.admin,
        {
            "owner": "alice",
            "filters": {},
            "ends_at": soon,
            "comment": "x",
            "subscription_id": bobs.json()["id"],
        },
    )
    assert mismatch.status_code == 422, mismatch.text
    assert lines(mismatch.json()) == ["subscription_id: the subscription is not 'alice''s"]
    for_everyone = await notify.call(
        "POST",
        "/v1/silences",
        notify.admin,
        {
            "owner": "*",
            "filters": {},
            "ends_at": soon,
            "comment": "incident",
            "subscription_id": bobs.json()["id"],
        },
    )
    assert for_everyone.status_code == 201 and for_everyone.json()["owner"] == "*"
    seen_by_bob = (await notify.call("GET", "/v1/silences", bob)).json()["silences"]
    assert [s["id"] for s in seen_by_bob] == [for_everyone.json()["id"]]
    assert (await notify.call("DELETE", f"/v1/silences/{for_everyone.json()['id']}", bob)).status_code == 404
    assert (
        await notify.call("DELETE", f"/v1/silences/{for_everyone.json()['id']}", notify.admin)
    ).status_code == 204


async def _publish(kafka: EmbeddedBroker, alerts: list[Alert]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
    await producer.start()
    try:
        for alert in alerts:
            await producer.send_and_wait(
                topics.ALERTS, alert.model_dump_json().encode(), key=alert.id.encode()
            )
    finally:
        await producer.stop()


async def test_a_silenced_alert_is_not_delivered_and_dead_ones_are_listed_per_owner(
    kafka: EmbeddedBroker, notify: Notify, sink: WebhookSink
) -> None:
    run = notify.run
    vendor = f"vendor-{run}"  # the broker is shared by the session: only this run's alerts match
    alice, bob = await notify.token("alice"), await notify.token("bob")
    refusing = WebhookSink(script=[Reply(400)] * 5, secret=SECRET).start()
    try:
        mine = await notify.call(
            "POST",
            "/v1/subscriptions",
            alice,
            {
                "id": f"alice-{run}",
                "name": "mine",
                "filters": {"entities": [vendor]},
                "channel": webhook(sink),
            },
        )
        broken = await notify.call(
            "POST",
            "/v1/subscriptions",
            bob,
            {
                "id": f"bob-{run}",
                "name": "broken receiver",
                "filters": {"entities": [vendor], "destinations": ["CN"]},
                "channel": webhook(refusing),
            },
        )
        assert mine.status_code == broken.status_code == 201
        muted = await notify.call(
            "POST",
            "/v1/silences",
            alice,
            {
                "filters": {"destinations": ["RU"]},
                "ends_at": (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat(),
                "comment": "the Russia story is handled",
            },
        )
        assert muted.status_code == 201

        silenced = make_alert(
            f"alert-{run}-ru", event_id=f"news-{run}-ru", destinations=["RU"], entities=[vendor]
        )
        loud = make_alert(
            f"alert-{run}-cn", event_id=f"news-{run}-cn", destinations=["CN"], entities=[vendor]
        )
        await _publish(kafka, [silenced, loud])

        await eventually(lambda: len(sink.received) >= 1, timeout=30)

        async def silenced_recorded() -> bool:
            d = tables.deliveries.c
            async with notify.store.engine.connect() as conn:
                rows = (
                    await conn.execute(
                        select(d.status, d.silence_id).where(
                            d.alert_id == silenced.id, d.subscription_id == f"alice-{run}"
                        )
                    )
                ).all()
            return [tuple(r) for r in rows] == [("silenced", muted.json()["id"])]

        await eventually(silenced_recorded, timeout=15)

        async def bob_dead() -> bool:
            return len((await notify.call("GET", "/v1/dead", bob)).json()["dead"]) == 1

        await eventually(bob_dead, timeout=15)
        await notify_settled(notify)
        assert sink.alert_ids() == [loud.id], "the silenced alert was sent"
        assert sink.received[0]["signature_valid"] is True

        [dead] = (await notify.call("GET", "/v1/dead", bob)).json()["dead"]
        assert dead["subscription_id"] == f"bob-{run}" and dead["alerts"] == [loud.id]
        assert dead["reason"] == "client_error" and dead["attempts"] == 1
        assert dead["channel"] == "webhook" and "HTTP 400" in dead["detail"]
        assert (await notify.call("GET", "/v1/dead", alice)).json() == {"dead": []}
        sneaky = await notify.call("GET", f"/v1/dead?subscription=bob-{run}", alice)
        assert sneaky.json() == {"dead": []}
        admin_dead = (await notify.call("GET", f"/v1/dead?subscription=bob-{run}", notify.admin)).json()
        assert [d["id"] for d in admin_dead["dead"]] == [dead["id"]]
        assert refusing.requests == 1
    finally:
        refusing.stop()
    notify.assert_no_secret(sink.url, refusing.url)


async def notify_settled(notify: Notify) -> None:
    """Nothing waiting or being sent."""

    async def settled() -> bool:
        counts, _ = await notify.store.deliveries.queue_stats()
        return not any(counts.get(s) for s in ("open", "retry", "sending"))

    await eventually(settled, timeout=15)


async def test_a_test_send_to_a_target_that_trickles_its_answer_ends_at_the_send_deadline(
    notify: Notify,
) -> None:
    """`/test` sends within the same overall deadline as every delivery (2 s here): a target that
    answers a byte every 0.3 s (13 s in all) gets a 502 timeout after 2 s, not a request held open."""
    alice = await notify.token("alice")
    async with trickling_target() as url:
        made = await notify.call(
            "POST",
            "/v1/subscriptions",
            alice,
            {
                "name": "slow",
                "filters": {"entities": [f"v-{notify.run}"]},
                "channel": {"type": "webhook", "url": url, "secret": SECRET},
            },
        )
        assert made.status_code == 201, made.text
        started = time.monotonic()
        sent = await notify.call("POST", f"/v1/subscriptions/{made.json()['id']}/test", alice)
        took = time.monotonic() - started
    assert sent.status_code == 502, sent.text
    assert sent.json()["reason"] == "timeout"
    assert took < 3.5, f"/test took {took:.1f} s against a 2 s deadline"


async def test_a_path_with_a_line_break_gets_a_problem_404(notify: Notify) -> None:
    """No route takes a path with an encoded line break (the catch-all's pattern stops at it); the
    answer is still JSON, as for every other unknown path."""
    for path in ("/v1/a%0Ab/c", "/nowhere%0A"):
        answer = await notify.call("POST", path, notify.admin)
        assert problem(answer, 404, "not-found")["detail"] == "no such endpoint"
