"""The local webhook receiver's file keeps what an integrator would need to check a delivery again: every
header as sent and the exact body, from which the README's verify() accepts the signature."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from services.notify.core.signing import sign
from tests.unit.test_notify_signing import readme_verify
from tools.webhook_sink import WebhookSink


def test_the_file_keeps_headers_and_the_raw_body(tmp_path: Path) -> None:
    secret = "local-stack-signing-key"
    out = tmp_path / "deliveries.jsonl"
    sink = WebhookSink(out=out, secret=secret).start()
    # Bytes a parse-and-dump would change: key order, spacing, an escaped and a raw non-ASCII character.
    body = (
        '{"specversion": "1.0",  "id": "ntf-1", "data": {"z": 1, "a": "G\\u00e9n\\u00e8ve", "b": "Genève"}}'
    )
    raw = body.encode("utf-8")
    stamp = int(time.time())
    headers = {
        "content-type": "application/cloudevents+json; charset=utf-8",
        "ExportWatch-Signature": sign(secret, stamp, raw),
        "Idempotency-Key": "ntf-1",
    }
    try:
        assert httpx.post(sink.url, content=raw, headers=headers, timeout=5).status_code == 200
    finally:
        sink.stop()
    (entry,) = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert entry["raw_body"] == body
    assert entry["signature_valid"] is True
    recorded = {k.lower(): v for k, v in entry["headers"].items()}
    assert recorded["idempotency-key"] == "ntf-1"
    assert recorded["content-type"].startswith("application/cloudevents+json")
    verify = readme_verify()
    assert verify(secret.encode(), recorded["exportwatch-signature"], entry["raw_body"].encode("utf-8"))
    # the parsed body would not do: dumped again, it is other bytes and the signature fails
    dumped = json.dumps(entry["body"]).encode("utf-8")
    assert not verify(secret.encode(), recorded["exportwatch-signature"], dumped)


def test_a_body_that_is_not_utf8_is_kept_in_base64(tmp_path: Path) -> None:
    out = tmp_path / "deliveries.jsonl"
    sink = WebhookSink(out=out).start()
    try:
        assert httpx.post(sink.url, content=b"\xff\xfe not utf-8", timeout=5).status_code == 200
    finally:
        sink.stop()
    (entry,) = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert entry["raw_body_base64"] == "//4gbm90IHV0Zi04"
    assert "raw_body" not in entry


def test_a_burst_of_connections_is_accepted_and_recorded() -> None:
    # 600 senders connect at once, each on its own connection: with http.server's listen queue of 5 some
    # were refused or reset and had to be retried (issue 20 item 5); every one must now get its 200.
    import asyncio

    from tools.webhook_sink import BACKLOG

    sink = WebhookSink().start()

    host, port = sink.url.split("/")[2].split(":")

    async def one(i: int) -> int:
        # A bare connection per sender (an httpx client each would cost more than the server).
        reader, writer = await asyncio.open_connection(host, int(port))
        body = json.dumps({"data": {"alerts": [{"id": f"a-{i}"}]}}).encode()
        head = (
            f"POST /hook HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode() + body)
        status = int((await reader.readline()).split()[1])
        writer.close()
        return status

    async def burst() -> list[int]:
        return await asyncio.gather(*(one(i) for i in range(600)))

    try:
        statuses = asyncio.run(burst())
    finally:
        sink.stop()
    assert BACKLOG >= 2048
    assert statuses == [200] * 600
    assert sorted(sink.alert_ids()) == sorted(f"a-{i}" for i in range(600))


def test_keep_alive_requests_on_one_connection_are_each_recorded() -> None:
    sink = WebhookSink().start()
    try:
        with httpx.Client(timeout=5) as client:
            codes = [client.post(sink.url, content=b'{"n": %d}' % i).status_code for i in range(5)]
            assert client.get(sink.url).status_code == 405
    finally:
        sink.stop()
    assert codes == [200] * 5
    assert [e["body"]["n"] for e in sink.entries()] == [0, 1, 2, 3, 4]
    assert sink.requests == 5


def test_a_request_the_sender_gave_up_on_is_not_received() -> None:
    from tools.webhook_sink import Reply

    sink = WebhookSink(script=[Reply(200, delay=1.0)]).start()
    try:
        try:
            httpx.post(sink.url, content=b"{}", timeout=0.2)
        except httpx.TimeoutException:
            pass
        else:
            raise AssertionError("the delayed answer came before the sender's timeout")
        assert httpx.post(sink.url, content=b'{"second": true}', timeout=5).status_code == 200
        time.sleep(1.5)  # past the first request's delay
    finally:
        sink.stop()
    assert sink.requests == 2
    assert [e["body"] for e in sink.entries()] == [{"second": True}]
