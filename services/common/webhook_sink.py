"""A local webhook receiver: records every POST it gets (to memory and a JSON Lines file).

The local stack points notify at it so a newcomer sees exactly what an integrator would receive, and
the tests use it as the real HTTP server on the other end of the webhook channel. It can be told to
fail the first N requests to exercise retries.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class WebhookSink:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        out: Path | None = None,
        fail_first: int = 0,
        fail_status: int = 503,
    ) -> None:
        self.out = out
        self.received: list[dict[str, Any]] = []
        self.requests = 0
        self.fail_first = fail_first
        self.fail_status = fail_status
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                with sink._lock:
                    sink.requests += 1
                    failing = sink.requests <= sink.fail_first
                if failing:
                    self.send_response(sink.fail_status)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                sink._record(self.path, dict(self.headers.items()), body)
                self.send_response(200)
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
        entry = {
            "received_at": time.time(),
            "path": path,
            "alert_id": headers.get("X-Exportwatch-Alert-Id") or headers.get("x-exportwatch-alert-id"),
            "body": payload,
        }
        with self._lock:
            self.received.append(entry)
            if self.out is not None:
                with self.out.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def start(self) -> WebhookSink:
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-sink", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def serve_forever(self) -> None:
        self._server.serve_forever()
