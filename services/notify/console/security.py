"""What keeps the console safe: the headers on every answer, the session and form-token cookies, the
check of a form's token (CSRF), reading a form body, and the pace of sign-in guesses per address.

The session cookie is ``SameSite=Lax`` rather than ``Strict``: a link to an alert in a notification
(an e-mail, a Slack message) then opens the page signed in, while a form posted from another site still
arrives without the cookie; every form also carries the session's token, which is what refuses it.
"""

from __future__ import annotations

import hmac
import time
from collections import deque
from collections.abc import Mapping
from typing import TypeVar
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from services.notify.store.common import hash_token

SESSION_COOKIE = "ew_session"
CSRF_COOKIE = "ew_form"  # the session's form token, put back into every form the console renders
SIGNIN_COOKIE = "ew_signin"  # before a session: the sign-in form's own token (double submit)
CSRF_FIELD = "csrf"
MAX_FORM = 64 * 1024
R = TypeVar("R", bound=Response)

SECURITY_HEADERS: Mapping[str, str] = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def secure_headers(response: R, *, private: bool) -> R:
    """Every console answer's security headers; ``private`` (a signed-in page) is never cached."""
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    if private:
        response.headers["cache-control"] = "no-store"
    return response


def over_tls(request: Request, trust_forwarded: bool) -> bool:
    """Whether the browser reached us over https: directly, or through a proxy we were told to trust."""
    forwarded = request.headers.get("x-forwarded-proto")
    if forwarded is not None:
        # uvicorn already rewrites the scheme from this header for a proxy on 127.0.0.1: the scheme it
        # reports then is the header's, which counts only when the setting says to trust it.
        return trust_forwarded and forwarded.split(",")[0].strip().lower() == "https"
    return request.url.scheme == "https"


def set_cookie(response: Response, name: str, value: str, *, secure: bool, max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", secure=secure, httponly=True, samesite="lax")


def same_token(presented: str | None, expected_hash: str) -> bool:
    """Whether a form's token is the session's, compared in constant time (by their hashes)."""
    if not presented:
        return False
    return hmac.compare_digest(hash_token(presented), expected_hash)


def same_value(presented: str | None, expected: str | None) -> bool:
    if not presented or not expected:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())


class FormTooLarge(ValueError):
    """A form body over MAX_FORM bytes."""


async def read_form(request: Request) -> dict[str, list[str]]:
    """An ``application/x-www-form-urlencoded`` body, every field with all its values."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise FormTooLarge("form too large")
    return parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)


class Throttle:
    """Failed sign-ins per client address in the last minute; past ``per_minute``, refuse for a while.
    Kept in memory: each replica counts its own (an attacker spread over replicas gets a few more)."""

    def __init__(self, per_minute: int, clock: object = time.monotonic, max_addresses: int = 10_000) -> None:
        self.per_minute = per_minute
        self.clock = clock if callable(clock) else time.monotonic
        self.max_addresses = max_addresses
        self.failures: dict[str, deque[float]] = {}

    def _recent(self, address: str) -> deque[float]:
        now = float(self.clock())
        seen = self.failures.setdefault(address, deque())
        while seen and now - seen[0] > 60:
            seen.popleft()
        return seen

    def blocked(self, address: str) -> bool:
        return len(self._recent(address)) >= self.per_minute

    def failed(self, address: str) -> None:
        if len(self.failures) >= self.max_addresses:  # a flood of addresses: forget the quiet ones
            for key in [k for k, v in self.failures.items() if not v][: self.max_addresses // 2]:
                del self.failures[key]
        self._recent(address).append(float(self.clock()))
