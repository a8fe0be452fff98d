"""A real HTTP server on loopback serving feeds and files for the tests: ETag/Last-Modified with 304,
scripted failures (500, 429 with Retry-After, hanging), and a log of the requests it got."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Resource:
    body: bytes
    content_type: str = "application/rss+xml; charset=utf-8"
    validators: bool = True  # send ETag and Last-Modified, answer 304 to conditional requests
    failures: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # answered first, in order
    delay: float = 0.0

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    status: int


class FeedServer:
    def __init__(self) -> None:
        self.resources: dict[str, Resource] = {}
        self.requests: list[Seen] = []
        self.last_modified = "Mon, 23 Nov 2026 08:00:00 GMT"
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                res = server.resources.get(self.path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                if res is None:
                    self._answer(404, b"not found", {})
                    return
                if res.delay:
                    time.sleep(res.delay)
                if res.failures:
                    status, extra = res.failures.pop(0)
                    self._answer(status, b"failure", extra)
                    return
                if res.validators and (
                    headers.get("if-none-match") == res.etag
                    or headers.get("if-modified-since") == server.last_modified
                ):
                    self._answer(304, b"", {"ETag": res.etag})
                    return
                extra = {"Content-Type": res.content_type}
                if res.validators:
                    extra |= {"ETag": res.etag, "Last-Modified": server.last_modified}
                self._answer(200, res.body, extra)

            def _answer(self, status: int, body: bytes, extra: dict[str, str]) -> None:
                server.requests.append(
                    Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, status)
                )
                self.send_response(status)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def statuses(self, path: str) -> list[int]:
        return [r.status for r in self.requests if r.path == path]


@contextmanager
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
