"""tasks.py fetches axe-core the way npm would, without npm: the registry's metadata names the tarball
and its sha512; a tarball that does not match is refused; only axe.min.js and its licence are kept;
a cached copy is reused without asking the registry. Against a local registry on a real socket."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import tasks

VERSION = "9.9.9"


def _tarball() -> bytes:
    members = {
        "package/axe.min.js": b"window.axe = {version: '9.9.9'};",
        "package/LICENSE": b"a licence",
        "package/package.json": b"{}",
        "package/../../escape.js": b"never written",
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


class Registry:
    """A registry serving one version's metadata and tarball; ``integrity`` can be made to lie."""

    def __init__(self) -> None:
        self.tarball = _tarball()
        self.integrity = "sha512-" + base64.b64encode(hashlib.sha512(self.tarball).digest()).decode()
        self.requests: list[str] = []
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                registry.requests.append(self.path)
                if self.path == f"/axe-core/{VERSION}":
                    dist = {"tarball": f"{registry.url}/axe-core/-/axe-core-{VERSION}.tgz"}
                    body = json.dumps({"dist": {**dist, "integrity": registry.integrity}}).encode()
                elif self.path == f"/axe-core/-/axe-core-{VERSION}.tgz":
                    body = registry.tarball
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def registry() -> Iterator[Registry]:
    served = Registry()
    threading.Thread(target=served.server.serve_forever, daemon=True).start()
    yield served
    served.server.shutdown()
    served.server.server_close()


def test_fetches_checks_and_keeps_only_the_script_and_licence(registry: Registry, tmp_path: Path) -> None:
    target = tmp_path / "cache" / VERSION
    assert tasks.ensure_axe_core(target, VERSION, registry.url)
    assert sorted(p.name for p in target.iterdir()) == ["LICENSE", "axe.min.js"]
    assert (target / "axe.min.js").read_bytes().startswith(b"window.axe")
    assert not list(tmp_path.rglob("escape.js"))
    asked = len(registry.requests)
    assert tasks.ensure_axe_core(target, VERSION, registry.url), "the cached copy is reused"
    assert len(registry.requests) == asked, "without asking the registry again"


def test_a_tarball_that_does_not_match_its_sha512_is_refused(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.integrity = "sha512-" + base64.b64encode(hashlib.sha512(b"something else").digest()).decode()
    target = tmp_path / "cache" / VERSION
    assert not tasks.ensure_axe_core(target, VERSION, registry.url)
    assert not target.exists()
    said = capsys.readouterr().err
    assert "does not match the registry's sha512" in said and "accessibility tests" in said


def test_an_unreachable_registry_is_said_plainly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert not tasks.ensure_axe_core(tmp_path / VERSION, VERSION, "http://127.0.0.1:9")
    assert "could not fetch axe-core 9.9.9" in capsys.readouterr().err
