"""Canonical URLs and the stable event ids derived from them."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "hsa_")
_TRACKING_KEYS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "msclkid",
        "yclid",
        "igshid",
        "ref",
        "ref_src",
        "cmpid",
        "at_medium",
        "at_campaign",
        "ito",
        "xtor",
        "wt_mc",
        "_ga",
        "oly_enc_id",
        "oly_anon_id",
        "guccounter",
        "s_cid",
    }
)


# Whitespace (Unicode's, which str.strip removes) and C0 controls (which urlsplit removes in front): both,
# at both ends, or a second pass would strip what the first left ("https://x/a #top" -> "https://x/a ").
_EDGES = re.compile(r"^[\s\x00-\x20]+|[\s\x00-\x20]+$")
_TRAILING = re.compile(r"[\s\x00-\x20]+$")


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, drop default ports, fragments and tracking parameters, sort the query.
    Canonical: a canonical URL is its own canonical URL."""
    parts = urlsplit(_EDGES.sub("", url))
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if ":" in host:  # an IPv6 address keeps its brackets, or the result is no URL ("http://::1/")
        host = f"[{host}]"
    port = parts.port
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    query = urlencode(
        sorted(
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not k.lower().startswith(_TRACKING_PREFIXES) and k.lower() not in _TRACKING_KEYS
        )
    )
    path = parts.path if query else _TRAILING.sub("", parts.path)  # the end of the URL, once the # is cut
    if not host and path.startswith("//"):
        path = "/" + path.lstrip("/")  # or it would read as a host the next time ("http:////x")
    return urlunsplit((scheme, host, path or "/", query, ""))


def stable_id(prefix: str, *parts: str) -> str:
    """``prefix-`` and 16 hex digits of a SHA-256 over the parts: the same input always gives the same id."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return f"{prefix}-{digest[:16]}"


def news_id(url: str) -> str:
    return stable_id("news", canonical_url(url))
