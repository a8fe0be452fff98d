"""Webhook signatures, and the verification snippet integrators copy from the README."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from services.notify.core.signing import SIGNATURE_HEADER, SignatureError, sign, verify

README = Path(__file__).resolve().parents[2] / "README.md"
SECRET = "whsec-0123456789abcdef"
BODY = b'{"specversion":"1.0","id":"ntf-1","data":{"title":"Caf\xc3\xa9 \xe2\x80\x94 <!channel>"}}'
T = 1_714_636_800


def test_header_name_and_format() -> None:
    assert SIGNATURE_HEADER == "ExportWatch-Signature"
    header = sign(SECRET, T, BODY)
    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={T},v1={expected}"
    assert sign(SECRET.encode(), T, BODY) == header


def test_round_trip() -> None:
    verify(SECRET, sign(SECRET, T, BODY), BODY, now=T)
    verify(SECRET.encode(), sign(SECRET, T, BODY), BODY, now=T + 300)
    verify(SECRET, sign(SECRET, T, b""), b"", now=T - 300)


def test_tampered_body() -> None:
    with pytest.raises(SignatureError, match="no matching signature"):
        verify(SECRET, sign(SECRET, T, BODY), BODY.replace(b"ntf-1", b"ntf-2"), now=T)


def test_wrong_secret() -> None:
    with pytest.raises(SignatureError, match="no matching signature"):
        verify("another-secret-0123", sign(SECRET, T, BODY), BODY, now=T)


def test_timestamp_cannot_be_changed() -> None:
    signature = sign(SECRET, T, BODY).split(",")[1]
    with pytest.raises(SignatureError, match="no matching signature"):
        verify(SECRET, f"t={T + 60},{signature}", BODY, now=T + 60)


def test_old_timestamp_is_a_replay() -> None:
    with pytest.raises(SignatureError, match=r"replay window: 301 s old"):
        verify(SECRET, sign(SECRET, T, BODY), BODY, now=T + 301)
    verify(SECRET, sign(SECRET, T, BODY), BODY, now=T + 3600, tolerance=3600)


def test_future_timestamp() -> None:
    with pytest.raises(SignatureError, match=r"replay window: 600 s in the future"):
        verify(SECRET, sign(SECRET, T + 600, BODY), BODY, now=T)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        "t=,v1=abc",
        f"t={T}",
        "v1=" + "0" * 64,
        f"t=abc,v1={'0' * 64}",
        f"t=-5,v1={'0' * 64}",
        f"t={T},v1=xyz",
        f"t={T},v1={'0' * 63}",
        f"t={T},t={T},v1={'0' * 64}",
        f"t=١٢٣,v1={'0' * 64}",
        f"t={T},=v1",
    ],
)
def test_malformed_headers(header: str) -> None:
    with pytest.raises(SignatureError, match="malformed signature header"):
        verify(SECRET, header, BODY, now=T)


def test_two_v1_values_for_secret_rotation() -> None:
    old = sign("old-secret-0123456", T, BODY).split(",")[1]
    new = sign(SECRET, T, BODY).split(",")[1]
    for header in (f"t={T},{old},{new}", f"t={T}, {new}, {old}", f"t={T},v0=legacy,{old},{new}"):
        verify(SECRET, header, BODY, now=T)
        verify("old-secret-0123456", header, BODY, now=T)
    with pytest.raises(SignatureError, match="no matching signature"):
        verify("third-secret-012345", f"t={T},{old},{new}", BODY, now=T)


def test_signature_error_is_a_value_error() -> None:
    assert issubclass(SignatureError, ValueError)


# --- the README snippet ---------------------------------------------------------------------------


def readme_verify() -> Callable[..., bool]:
    text = README.read_text(encoding="utf-8")
    block = re.search(
        r"<!-- verify-snippet:start -->\s*```python\n(.*?)```\s*<!-- verify-snippet:end -->", text, re.DOTALL
    )
    assert block is not None, "README.md has no verify snippet between the markers"
    code = block.group(1)
    assert 8 <= len([line for line in code.splitlines() if line.strip()]) <= 20
    assert not re.search(r"^\s*(from|import)\s+(?!hashlib|hmac|time)\w", code, re.MULTILINE)
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md:verify-snippet", "exec"), namespace)
    function = namespace["verify"]
    assert callable(function)
    return function  # type: ignore[no-any-return]


def test_readme_snippet_verifies_our_signatures() -> None:
    check = readme_verify()
    now = int(time.time())
    secret = SECRET.encode()
    assert check(secret, sign(SECRET, now, BODY), BODY) is True
    assert check(secret, sign(SECRET, now - 100, BODY), BODY) is True
    old = sign("old-secret-0123456", now, BODY).split(",")[1]
    assert check(secret, sign(SECRET, now, BODY) + "," + old, BODY) is True


def test_readme_snippet_rejects_tampering_and_replays() -> None:
    check = readme_verify()
    now = int(time.time())
    secret = SECRET.encode()
    assert check(secret, sign(SECRET, now, BODY), BODY + b" ") is False
    assert check(b"another-secret-0123", sign(SECRET, now, BODY), BODY) is False
    assert check(secret, sign(SECRET, now - 3600, BODY), BODY) is False
    assert check(secret, sign(SECRET, now + 3600, BODY), BODY) is False
    assert check(secret, sign(SECRET, now - 3600, BODY), BODY, tolerance=7200) is True
    for header in ("", "garbage", f"t={now}", f"t=x,v1={'0' * 64}", f"t={now},v1=ünïcode"):
        assert check(secret, header, BODY) is False
