"""A local webhook receiver: records every POST it gets (to memory and a JSON Lines file), with its
headers and exact body bytes as well as the parsed body, so a signature can be checked again from it.

The local stack points notify at it so a newcomer sees exactly what an integrator would receive, and
the tests use it as the real HTTP server on the other end of the webhook channel. Given the signing
secret it checks each request's signature, as an integrator would. It can be scripted to answer the
first requests with failures (a status, headers such as Retry-After, or a delay past the sender's
timeout) to exercise retries. Given the secret, it refuses (401) a signed request that does not
verify, and a request cut off by a dying sender never counts as received.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One scripted answer: ``status`` with ``headers``, after ``delay`` seconds."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def signature_valid(secret: str, header: str, body: bytes, tolerance: float = 300.0) -> bool:
    """ExportWatch's webhook signature: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "t." + body>``."""
    fields = [part.split("=", 1) for part in header.split(",") if "=" in part]
    stamps = [v for k, v in fields if k.strip() == "t"]
    if len(stamps) != 1 or not stamps[0].strip().isdigit():
        return False
    if abs(time.time() - int(stamps[0])) > tolerance:
        return False
    expected = hmac.new(secret.encode(), stamps[0].strip().encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, v.strip()) for k, v in fields if k.strip() == "v1")


def raw_body(body: bytes) -> dict[str, str]:
    """The exact request body for the record: ``raw_body`` as text when it is UTF-8 (a signature check
    encodes it back to the same bytes), else ``raw_body_base64``."""
    try:
        return {"raw_body": body.decode("utf-8")}
    except UnicodeDecodeError:
        return {"raw_body_base64": base64.b64encode(body).decode("ascii")}


class WebhookSink:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        out: Path | None = None,
        fail_first: int = 0,
        fail_status: int = 503,
        *,
        script: Sequence[Reply] = (),
        secret: str | None = None,
        default: Reply | None = None,
    ) -> None:
        self.out = out
        self.received: list[dict[str, Any]] = []
        self.requests = 0
        self.rejected = 0  # requests refused because their signature did not verify
        self.script = list(script) or [Reply(fail_status)] * fail_first
        self.secret = secret
        self.default = default or Reply()
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                if len(body) < length:  # the sender went away mid-request (killed): nothing arrived
                    return
                signature = self.headers.get("exportwatch-signature")
                forged = signature and not signature_valid(sink.secret or "", signature, body)
                if sink.secret is not None and forged:
                    # As an integrator should: a request whose signature does not verify is refused.
                    with sink._lock:
                        sink.rejected += 1
                    self.send_response(401)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                with sink._lock:
                    sink.requests += 1
                    reply = (
                        sink.script[sink.requests - 1] if sink.requests <= len(sink.script) else sink.default
                    )
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.status >= 300:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                sink._record(self.path, dict(self.headers.items()), body)
                self.send_response(reply.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def _record(self, path: str, headers: dict[str, str], body: bytes) -> None:
        try:
            payload: Any = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            payload = body.decode("utf-8", "replace")
        lower = {k.lower(): v for k, v in headers.items()}
        data = payload.get("data") if isinstance(payload, dict) else None
        alerts = data.get("alerts", []) if isinstance(data, dict) else []
        entry: dict[str, Any] = {
            "received_at": time.time(),
            "path": path,
            "notification_id": lower.get("idempotency-key"),
            "alert_ids": [a.get("id") for a in alerts if isinstance(a, dict)],
            # What an integrator needs to check the request again: every header as sent, and the body's
            # exact bytes (the signature covers those, not the parsed JSON below).
            "headers": headers,
            **raw_body(body),
            "body": payload,
        }
        if self.secret is not None:
            entry["signature_valid"] = signature_valid(
                self.secret, lower.get("exportwatch-signature", ""), body
            )
        with self._lock:
            self.received.append(entry)
            if self.out is not None:
                with self.out.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def entries(self) -> list[dict[str, Any]]:
        """A copy of what was received so far."""
        with self._lock:
            return list(self.received)

    def alert_ids(self) -> list[str]:
        """Every alert id received, once per notification that carried it (repeats stay visible)."""
        with self._lock:
            return [a for entry in self.received for a in entry["alert_ids"]]

    def start(self) -> WebhookSink:
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-sink", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def serve_forever(self) -> None:
        self._server.serve_forever()
