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
