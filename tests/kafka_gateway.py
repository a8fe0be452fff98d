"""A TLS and SASL front for the embedded broker, for tests. Tansu 0.6 offers neither: its ``--cert`` and
``--key`` options leave the listener plaintext (a TLS handshake to it times out), so the client side of
TLS and SASL cannot be tried against it directly.

The gateway listens on loopback, with TLS when given a server context (which may require a client
certificate signed by a given CA), and relays every Kafka request to the broker over plaintext, except
the login: it answers SaslHandshake and SaslAuthenticate itself, for PLAIN and for SCRAM-SHA-256/512 with
the server side of RFC 5802 (salted password, stored and server keys, the client's proof checked, the
server signature sent back for the client to check). Before a SASL login only ApiVersions is relayed,
and a refused login ends the connection, as Kafka does.

Metadata and FindCoordinator responses name the broker's own host and port; the gateway writes its own
there, so clients come back through it and never reach the plaintext broker directly. It reads the
versions aiokafka uses (Metadata up to v8, FindCoordinator up to v2, SaslAuthenticate v0 and v1); a
request in a newer version ends the connection and is recorded in ``problems``.

It runs its own event loop in a thread, so that a test can use it from async code and from a
subprocess alike.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import os
import ssl
import struct
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

PRODUCE, FETCH, METADATA, FIND_COORDINATOR = 0, 1, 3, 10
SASL_HANDSHAKE, API_VERSIONS, SASL_AUTHENTICATE = 17, 18, 36
UNSUPPORTED_SASL_MECHANISM, ILLEGAL_SASL_STATE, SASL_AUTHENTICATION_FAILED = 33, 34, 58
SCRAM_HASHES: dict[str, Callable[..., Any]] = {
    "SCRAM-SHA-256": hashlib.sha256,
    "SCRAM-SHA-512": hashlib.sha512,
}
SCRAM_ITERATIONS = 4096  # Kafka's minimum
MAX_VERSIONS = {METADATA: 8, FIND_COORDINATOR: 2, SASL_AUTHENTICATE: 1, SASL_HANDSHAKE: 1}


class LoginFailed(Exception):
    """The SASL exchange failed; the message is what Kafka would answer."""


# --- Kafka's non-flexible encoding ----------------------------------------------------------------------


def _string(value: str | None) -> bytes:
    if value is None:
        return struct.pack(">h", -1)
    data = value.encode("utf-8")
    return struct.pack(">h", len(data)) + data


def _read_string(data: bytes, offset: int) -> tuple[str | None, int]:
    (size,) = struct.unpack_from(">h", data, offset)
    offset += 2
    if size < 0:
        return None, offset
    return data[offset : offset + size].decode("utf-8"), offset + size


def _bytes(value: bytes) -> bytes:
    return struct.pack(">i", len(value)) + value


def rewrite_metadata(payload: bytes, version: int, host: str, port: int) -> bytes:
    """A Metadata response (v0-v8) with every broker's address replaced by ``host:port``."""
    offset = 4 + (4 if version >= 3 else 0)  # correlation id, then throttle_time_ms from v3
    start = offset
    (count,) = struct.unpack_from(">i", payload, offset)
    offset += 4
    brokers = []
    for _ in range(count):
        (node_id,) = struct.unpack_from(">i", payload, offset)
        _, offset = _read_string(payload, offset + 4)
        offset += 4  # the port
        entry = struct.pack(">i", node_id) + _string(host) + struct.pack(">i", port)
        if version >= 1:
            rack, offset = _read_string(payload, offset)
            entry += _string(rack)
        brokers.append(entry)
    return payload[:start] + struct.pack(">i", count) + b"".join(brokers) + payload[offset:]


def rewrite_coordinator(payload: bytes, version: int, host: str, port: int) -> bytes:
    """A FindCoordinator response (v0-v2) naming ``host:port`` as the coordinator."""
    offset = 4 + (4 if version >= 1 else 0)
    (error,) = struct.unpack_from(">h", payload, offset)
    offset += 2
    if version >= 1:
        _, offset = _read_string(payload, offset)  # error message
    if error:
        return payload
    start = offset + 4  # after the node id
    _, offset = _read_string(payload, start)
    return payload[:start] + _string(host) + struct.pack(">i", port) + payload[offset + 4 :]


# --- SASL, the server side -------------------------------------------------------------------------------


def _scram_unescape(name: str) -> str:
    return name.replace("=2C", ",").replace("=3D", "=")


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


class ScramServer:
    """One SCRAM exchange (RFC 5802, RFC 7677): ``first`` answers the client-first message, ``final`` checks
    the client's proof and returns the server signature."""

    def __init__(self, mechanism: str, users: Mapping[str, str]) -> None:
        self.hash = SCRAM_HASHES[mechanism]
        self.mechanism = mechanism
        self.users = users
        self.user = ""

    def _hmac(self, key: bytes, message: bytes) -> bytes:
        return hmac.new(key, message, self.hash).digest()

    def first(self, message: bytes) -> bytes:
        text = message.decode("utf-8")
        flag, authzid, bare = text.split(",", 2)
        if flag != "n":
            raise LoginFailed("channel binding is not supported")
        self.gs2_header = f"{flag},{authzid},"
        attributes = dict(part.split("=", 1) for part in bare.split(","))
        self.user = _scram_unescape(attributes["n"])
        # An unknown user gets a made-up password, so that the exchange fails only at the proof.
        password = self.users.get(self.user, base64.b64encode(os.urandom(24)).decode())
        salt = os.urandom(16)
        salted = hashlib.pbkdf2_hmac(self.hash().name, password.encode("utf-8"), salt, SCRAM_ITERATIONS)
        self.stored_key = self.hash(self._hmac(salted, b"Client Key")).digest()
        self.server_key = self._hmac(salted, b"Server Key")
        self.nonce = attributes["r"] + base64.b64encode(os.urandom(18)).decode()
        self.server_first = f"r={self.nonce},s={base64.b64encode(salt).decode()},i={SCRAM_ITERATIONS}"
        self.client_first_bare = bare
        return self.server_first.encode("utf-8")

    def final(self, message: bytes) -> bytes:
        text = message.decode("utf-8")
        without_proof, _, proof = text.rpartition(",p=")
        attributes = dict(part.split("=", 1) for part in without_proof.split(","))
        if base64.b64decode(attributes["c"]) != self.gs2_header.encode() or attributes["r"] != self.nonce:
            raise LoginFailed("SCRAM channel binding or nonce mismatch")
        auth_message = f"{self.client_first_bare},{self.server_first},{without_proof}".encode()
        signature = self._hmac(self.stored_key, auth_message)
        client_key = _xor(base64.b64decode(proof), signature)
        if not hmac.compare_digest(self.hash(client_key).digest(), self.stored_key):
            raise LoginFailed(
                "Authentication failed during authentication due to invalid credentials with SASL "
                f"mechanism {self.mechanism}"
            )
        return b"v=" + base64.b64encode(self._hmac(self.server_key, auth_message))


def check_plain(message: bytes, users: Mapping[str, str]) -> str:
    """The user of a PLAIN login (RFC 4616: authzid NUL user NUL password), if the password is right."""
    try:
        _, user, password = message.decode("utf-8").split("\0")
    except ValueError:
        raise LoginFailed("malformed PLAIN message") from None
    expected = users.get(user)
    if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
        raise LoginFailed("Authentication failed: Invalid username or password")
    return user


# --- the gateway -----------------------------------------------------------------------------------------


class KafkaGateway:
    """Listens on ``bootstrap`` (loopback, a free port), TLS if ``tls`` is a server context, SASL login
    required if ``users`` is given (user -> password) with the ``mechanisms`` offered; relays to
    ``upstream`` (the embedded broker). Use ``start()``/``stop()`` or ``with``."""

    def __init__(
        self,
        upstream: str,
        *,
        tls: ssl.SSLContext | None = None,
        users: Mapping[str, str] | None = None,
        mechanisms: tuple[str, ...] = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"),
    ) -> None:
        host, _, port = upstream.rpartition(":")
        self.upstream = (host, int(port))
        self.tls = tls
        self.users = dict(users) if users is not None else None
        self.mechanisms = mechanisms
        self.host = "127.0.0.1"
        self.port = 0
        self.relayed: Counter[int] = Counter()  # requests relayed to the broker, by API key
        self.logins: Counter[str] = Counter()  # successful logins, by mechanism
        self.refused: Counter[str] = Counter()  # refused logins, by mechanism
        self.problems: list[str] = []  # what the gateway could not handle
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> KafkaGateway:
        loop = asyncio.new_event_loop()
        self._loop = loop
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            self._server = loop.run_until_complete(
                asyncio.start_server(self._serve, self.host, 0, ssl=self.tls)
            )
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="kafka-gateway", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the gateway did not start listening")
        return self

    def stop(self) -> None:
        loop, server = self._loop, self._server
        if loop is None or server is None or self._thread is None:
            return

        async def close() -> None:
            server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(10)

    def __enter__(self) -> KafkaGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
        except OSError as exc:
            self.problems.append(f"cannot reach the broker: {exc}")
            client_writer.close()
            return
        session = _Session(self, client_writer)
        relay = asyncio.create_task(session.relay_responses(upstream_reader))
        try:
            await session.handle_requests(client_reader, upstream_writer)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass  # the client went away, or its TLS handshake failed: nothing to relay
        finally:
            relay.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await relay
            for writer in (upstream_writer, client_writer):
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()


async def _read_frame(reader: asyncio.StreamReader) -> bytes | None:
    try:
        (size,) = struct.unpack(">i", await reader.readexactly(4))
        return await reader.readexactly(size)
    except asyncio.IncompleteReadError:
        return None


class _Session:
    """One client connection: its login state, and the requests waiting for a response (by correlation
    id: a produce with acks=0 gets none, so order alone would not do)."""

    def __init__(self, gateway: KafkaGateway, client: asyncio.StreamWriter) -> None:
        self.gateway = gateway
        self.client = client
        self.write_lock = asyncio.Lock()
        self.authenticated = gateway.users is None
        self.mechanism: str | None = None
        self.scram: ScramServer | None = None
        self.pending: dict[int, tuple[int, int]] = {}

    async def send(self, payload: bytes) -> None:
        async with self.write_lock:
            self.client.write(struct.pack(">i", len(payload)) + payload)
            await self.client.drain()

    async def handle_requests(self, reader: asyncio.StreamReader, upstream: asyncio.StreamWriter) -> None:
        gateway = self.gateway
        while (payload := await _read_frame(reader)) is not None:
            api_key, version, correlation = struct.unpack_from(">hhi", payload, 0)
            (client_id_size,) = struct.unpack_from(">h", payload, 8)
            body = 10 + max(client_id_size, 0)
            if version > MAX_VERSIONS.get(api_key, version):
                gateway.problems.append(f"API {api_key} v{version} is not supported by the gateway")
                return
            if api_key == SASL_HANDSHAKE:
                await self._handshake(payload, body, correlation)
                continue
            if api_key == SASL_AUTHENTICATE:
                if not await self._authenticate(payload, body, version, correlation):
                    return  # Kafka closes the connection after a refused login
                continue
            if not self.authenticated and api_key != API_VERSIONS:
                gateway.problems.append(f"API {api_key} before the SASL login")
                return
            self.pending[correlation] = (api_key, version)
            gateway.relayed[api_key] += 1
            upstream.write(struct.pack(">i", len(payload)) + payload)
            await upstream.drain()

    async def relay_responses(self, upstream: asyncio.StreamReader) -> None:
        gateway = self.gateway
        while (payload := await _read_frame(upstream)) is not None:
            (correlation,) = struct.unpack_from(">i", payload, 0)
            api_key, version = self.pending.pop(correlation, (-1, -1))
            if api_key == METADATA:
                payload = rewrite_metadata(payload, version, gateway.host, gateway.port)
            elif api_key == FIND_COORDINATOR:
                payload = rewrite_coordinator(payload, version, gateway.host, gateway.port)
            await self.send(payload)
        self.client.close()  # the broker closed: so does the gateway

    async def _handshake(self, payload: bytes, body: int, correlation: int) -> None:
        users = self.gateway.users
        mechanism, _ = _read_string(payload, body)
        offered = self.gateway.mechanisms if users is not None else ()
        error = 0
        if users is None:
            error = ILLEGAL_SASL_STATE
        elif mechanism not in offered:
            error = UNSUPPORTED_SASL_MECHANISM
        else:
            self.mechanism = mechanism
        listed = b"".join(_string(m) for m in offered)
        await self.send(struct.pack(">ihi", correlation, error, len(offered)) + listed)

    async def _authenticate(self, payload: bytes, body: int, version: int, correlation: int) -> bool:
        gateway = self.gateway
        (size,) = struct.unpack_from(">i", payload, body)
        token = payload[body + 4 : body + 4 + size]
        mechanism = self.mechanism or "none"
        done = False
        try:
            if gateway.users is None or self.mechanism is None:
                raise LoginFailed("SaslAuthenticate before SaslHandshake")
            if self.mechanism == "PLAIN":
                check_plain(token, gateway.users)
                answer, done = b"", True
            elif self.scram is None:
                self.scram = ScramServer(self.mechanism, gateway.users)
                answer = self.scram.first(token)
            else:
                answer, done = self.scram.final(token), True
        except (LoginFailed, ValueError, KeyError) as exc:
            gateway.refused[mechanism] += 1
            message = str(exc) if isinstance(exc, LoginFailed) else f"malformed {mechanism} message"
            refusal = _auth_response(correlation, version, SASL_AUTHENTICATION_FAILED, message, b"")
            await self.send(refusal)
            return False
        if done:
            self.authenticated = True
            gateway.logins[mechanism] += 1
        await self.send(_auth_response(correlation, version, 0, None, answer))
        return True


def _auth_response(correlation: int, version: int, error: int, message: str | None, answer: bytes) -> bytes:
    """A SaslAuthenticate response, v0 or v1 (which adds the session lifetime)."""
    response = struct.pack(">ih", correlation, error) + _string(message) + _bytes(answer)
    if version >= 1:
        response += struct.pack(">q", 0)  # no re-authentication asked
    return response
