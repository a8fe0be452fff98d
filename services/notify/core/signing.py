"""Webhook signatures: ``ExportWatch-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>``. Pure: no I/O.

The HMAC covers ``f"{t}."`` followed by the exact body bytes, so neither the body nor the timestamp can
be changed, and a receiver rejects a captured request replayed outside the tolerance window. During a
secret rotation the header may carry several ``v1=`` entries; one matching entry is enough.
"""

from __future__ import annotations

import hashlib
import hmac
import re

SIGNATURE_HEADER = "ExportWatch-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE = 300  # seconds

_HEX_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class SignatureError(ValueError):
    """The signature header is malformed, too old or too new, or matches no signature of the body."""


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def _digest(secret: str | bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(_key(secret), f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """The value of the signature header for ``body`` sent at ``timestamp`` (unix seconds)."""
    return f"t={int(timestamp)},{SCHEME}={_digest(secret, int(timestamp), body)}"


def parse(header: str) -> tuple[int, list[str]]:
    """(timestamp, v1 signatures) of a header; SignatureError when it is malformed.
    Entries of other schemes (``v0=``, a future ``v2=``) are ignored."""
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise SignatureError(f"malformed signature header: expected key=value items, got {item[:20]!r}")
        if key == "t":
            if timestamp is not None:
                raise SignatureError("malformed signature header: more than one timestamp")
            if not value.isascii() or not value.isdigit() or len(value) > 12:
                raise SignatureError("malformed signature header: the timestamp is not unix seconds")
            timestamp = int(value)
        elif key == SCHEME:
            if not _HEX_SHA256.match(value.lower()):
                raise SignatureError("malformed signature header: a v1 signature is not 64 hex digits")
            signatures.append(value.lower())
    if timestamp is None:
        raise SignatureError("malformed signature header: no timestamp (t=)")
    if not signatures:
        raise SignatureError("malformed signature header: no v1 signature")
    return timestamp, signatures


def verify(
    secret: str | bytes, header: str, body: bytes, now: int, tolerance: int = DEFAULT_TOLERANCE
) -> None:
    """Check that ``header`` signs ``body`` with ``secret`` and was made within ``tolerance`` seconds
    of ``now``; raise SignatureError saying what is wrong otherwise."""
    timestamp, signatures = parse(header)
    age = int(now) - timestamp
    if abs(age) > tolerance:
        when = f"{age} s old" if age > 0 else f"{-age} s in the future"
        raise SignatureError(f"timestamp outside the replay window: {when}, tolerance {tolerance} s")
    expected = _digest(secret, timestamp, body)
    matched = False
    for candidate in signatures:  # compare with every entry: the time taken does not depend on which
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureError("no matching signature: wrong secret, or the body was changed")
