"""A local webhook receiver: records every POST it gets (to memory and a JSON Lines file), with its
headers and exact body bytes as well as the parsed body, so a signature can be checked again from it.

The local stack points notify at it so a newcomer sees exactly what an integrator would receive, and
the tests use it as the real HTTP server on the other end of the webhook channel. Given the signing
secret it checks each request's signature, as an integrator would. It can be scripted to answer the
first requests with failures (a status, headers such as Retry-After, or a delay past the sender's
timeout) to exercise retries. Given the secret, it refuses (401) a signed request that does not
verify, and a request cut off by a dying sender, or given up by a sender that timed out waiting for a
scripted delay, never counts as received. It is an asyncio server with a deep listen backlog, so that
under load no connection is refused and no send has to be retried (the load test's latencies are the
pipeline's, not the receiver's).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
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


# Connections waiting to be accepted. http.server's default of 5 overflowed under load: the kernel
# dropped connection attempts, 3-7% of sends failed and were retried, and those retries set the load
# test's p95/p99 (issue 20 item 5). The kernel caps it at net.core.somaxconn (4096 on current Linux).
BACKLOG = 2048
MAX_HEAD_BYTES = 64 * 1024
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 405: "Method Not Allowed"}


@dataclass
class Request:
    """One request as it arrived: method, path, headers as sent (names in their own case), body bytes."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def keep_alive(self) -> bool:
        return self.headers_lower().get("connection", "").lower() != "close"

    def headers_lower(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.headers.items()}


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """The next request on a connection, or None when the peer closed it, sent something that is not
    HTTP/1.x, or went away before its whole body arrived (a dying sender's request never counts)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip()] = value.strip()
    length = {k.lower(): v for k, v in headers.items()}.get("content-length", "0")
    if not length.isdigit():
        return None
    try:
        body = await reader.readexactly(int(length))
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    return Request(parts[0], parts[1], headers, body)


def response(status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    reason = REASONS.get(status, "Status")
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class WebhookSink:
    """The receiver: an asyncio HTTP/1.1 server (keep-alive, a listen backlog of ``BACKLOG``) on its own
    event loop in a background thread (``start``), or in the caller's thread (``serve_forever``). A
    scripted delay sleeps without holding up other requests."""

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
        # Bound here, so that ``url`` is known before the server runs.
        self._socket = socket.create_server((host, port), backlog=BACKLOG, reuse_port=False)
        self._address: tuple[str, int] = self._socket.getsockname()[:2]
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (request := await read_request(reader)) is not None:
                answer = await self._answer(request, reader)
                if answer is None:  # the sender gave up waiting: nothing to answer
                    break
                writer.write(answer)
                await writer.drain()
                if not request.keep_alive:
                    break
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, request: Request, reader: asyncio.StreamReader) -> bytes | None:
        if request.method != "POST":
            return response(405, {"allow": "POST"})
        headers = request.headers_lower()
        signature = headers.get("exportwatch-signature")
        forged = signature and not signature_valid(self.secret or "", signature, request.body)
        if self.secret is not None and forged:
            # As an integrator should: a request whose signature does not verify is refused.
            with self._lock:
                self.rejected += 1
            return response(401)
        with self._lock:
            self.requests += 1
            reply = self.script[self.requests - 1] if self.requests <= len(self.script) else self.default
        if reply.delay:
            await asyncio.sleep(reply.delay)
            if reader.at_eof():  # the sender timed out and closed the connection
                return None
        if reply.status >= 300:
            return response(reply.status, reply.headers)
        self._record(request.path, request.headers, request.body)
        return response(reply.status, {"content-type": "application/json"}, b"{}")

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        server = await asyncio.start_server(self._connection, sock=self._socket, backlog=BACKLOG)
        self._ready.set()
        async with server:
            await self._stopping.wait()

    @property
    def url(self) -> str:
        host, port = self._address
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
        self._thread = threading.Thread(target=self.serve_forever, name="webhook-sink", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the webhook sink did not start")
        return self

    def stop(self) -> None:
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop ended meanwhile
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(10)
        self._socket.close()

    def serve_forever(self) -> None:
        asyncio.run(self._serve())
