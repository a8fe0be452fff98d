"""HTTP delivery shared by the Slack and webhook channels: address checks, one POST, status classification.

Subscribers' URLs are secrets (Slack webhook URLs and many webhook URLs carry a token in the path or
the query): nothing here ever puts the URL, its host, path or query into an error detail or a log.

Addresses are checked where the connection is made, by the guard notify shares with ingest
(``services.common.outbound``: one lookup, every address checked, the connection made to a checked
address, no environment proxies). The URL is parsed once, by the HTTP client's own parser, for the
check and for the request. Connections are kept alive per origin (``ctx.clients``,
``services.notify.channels.pool``): a new one is checked when it is opened, a kept one only ever goes
to its own origin and the address checked for it. Redirects are not followed.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import functools
import math
import re
import ssl
from urllib.parse import parse_qsl, urlsplit

import httpx

from services.common.addresses import TargetPolicy, host_problem
from services.common.outbound import Refused, Unresolvable, allowed_addresses
from services.notify.channels.base import ChannelContext, DeliveryError, Reason

MAX_URL_LENGTH = 2048
MAX_ERROR_BODY = 200  # characters of a 4xx answer kept in the detail
_READ_LIMIT = 8192  # bytes of an error answer read at most

_URL_LIKE = re.compile(
    r"[a-z][a-z0-9+.-]*://\S*"  # scheme://anything
    r"|\S*/\S*"  # anything with a slash: paths
    r"|\S+\.[a-z]{2,63}\S*"  # host names
    r"|\S*[?&][^\s=]+=\S*",  # query strings
    re.IGNORECASE,
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def _parse(url: str) -> httpx.URL | None:
    """The URL as the HTTP client reads it (the same object is then sent), or None when it cannot."""
    try:
        parsed = httpx.URL(url.strip())
        _ = parsed.port  # raises for a bad port
    except (httpx.InvalidURL, ValueError, TypeError, UnicodeError):
        return None
    return parsed


def _url_problem(parsed: httpx.URL | None, url: str) -> str | None:
    if parsed is None:
        return "the URL is not valid"
    if parsed.scheme not in ("http", "https"):
        return "the URL must start with https:// (or http://)"
    if not parsed.raw_host:
        return "the URL has no host"
    # The host as sent (its `.host` decodes IDNA, which raises for a hostile xn-- label).
    host = host_problem(parsed.raw_host.decode("ascii", "replace"))
    if host is not None:
        return host
    if parsed.port is not None and not 0 < parsed.port < 65536:
        return "the URL has an invalid port"
    if len(url) > MAX_URL_LENGTH:
        return f"the URL is longer than {MAX_URL_LENGTH} characters"
    return None


def _default_port(parsed: httpx.URL) -> int:
    return parsed.port or (443 if parsed.scheme == "https" else 80)


async def check_url(url: str, policy: TargetPolicy) -> str | None:
    """A readable problem with a subscription's URL (without repeating the URL), or None when it can be
    used: http(s), a host, and every address of the host allowed by ``policy`` (the check every send
    makes again, on the address it connects to)."""
    parsed = _parse(url)
    problem = _url_problem(parsed, url)
    if problem is not None or parsed is None:
        return problem
    try:
        # The host as it is sent (IDNA-encoded), as the connection would resolve it.
        await allowed_addresses(parsed.raw_host.decode("ascii"), _default_port(parsed), policy)
    except Refused as refused:
        return refused.detail
    return None


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """The TLS settings of every delivery (httpx's defaults: certifi's CAs, or SSL_CERT_FILE)."""
    return httpx.create_ssl_context()


def _secret_fragments(url: str) -> list[str]:
    """Pieces of the URL that may be echoed by a server and must not reach a detail."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return [url] if url else []
    pieces = [url, parts.netloc, parts.hostname or "", parts.path, parts.query]
    pieces += parts.path.split("/")
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        pieces += [key, value]
    return sorted({p for p in pieces if len(p) >= 4}, key=len, reverse=True)


def clean_body(text: str, url: str = "") -> str:
    """At most 200 characters of an answer body, on one line, with anything URL-like (and any piece of
    ``url``) removed."""
    for piece in _secret_fragments(url):
        text = text.replace(piece, " ")
    text = _CONTROL.sub(" ", text)
    text = _URL_LIKE.sub("[url]", text)
    text = " ".join(text.split())
    return text[:MAX_ERROR_BODY].rstrip() + ("…" if len(text) > MAX_ERROR_BODY else "")


def retry_after(response: httpx.Response, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from ``Retry-After``: a delay in seconds, or an HTTP date (relative to ``now``,
    default the current time). None when absent or unreadable."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    reference = now if now is not None else dt.datetime.now(dt.UTC)
    return max(0.0, (when - reference).total_seconds())


def _body_text(response: httpx.Response) -> str:
    try:
        return response.text
    except httpx.ResponseNotRead:
        return ""


def classify(
    response: httpx.Response, now: dt.datetime | None = None, body: str | None = None, url: str = ""
) -> DeliveryError | None:
    """None for a 2xx answer; otherwise the error, whose reason decides retrying. ``body`` is the answer
    text (default: the response's, when read); ``url`` is only used to keep it out of the detail."""
    code = response.status_code
    if 200 <= code < 300:
        return None
    wait = retry_after(response, now)
    if code == 429:
        return DeliveryError(Reason.RATE_LIMITED, "HTTP 429: rate limited", wait)
    if code >= 500:
        return DeliveryError(Reason.SERVER_ERROR, f"HTTP {code}: server error", wait)
    if 300 <= code < 400:
        return DeliveryError(Reason.CLIENT_ERROR, f"HTTP {code}: redirects are not followed")
    if code == 408:
        return DeliveryError(Reason.TIMEOUT, "HTTP 408: the server timed out waiting", wait)
    text = clean_body(_body_text(response) if body is None else body, url)
    suffix = f": {text}" if text else ""
    if code in (401, 403):
        return DeliveryError(Reason.AUTH_ERROR, f"HTTP {code}{suffix}")
    return DeliveryError(Reason.CLIENT_ERROR, f"HTTP {code}{suffix}")


async def _read_some(response: httpx.Response, limit: int = _READ_LIMIT) -> str:
    data = bytearray()
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) >= limit:
            break
    return bytes(data[:limit]).decode(response.encoding or "utf-8", errors="replace")


async def post(ctx: ChannelContext, url: str, body: bytes, headers: dict[str, str]) -> None:
    """POST ``body`` to ``url`` once, without following redirects; raise DeliveryError on failure.

    The connection is made only to an address of the host allowed by ``ctx.targets`` (refused
    permanently otherwise), the one the check resolved; ``ctx.http`` gives the timeouts."""
    parsed = _parse(url)
    problem = _url_problem(parsed, url)
    if problem is not None or parsed is None:
        raise DeliveryError(Reason.FORBIDDEN_TARGET, problem or "the URL is not valid")
    try:
        async with (
            ctx.clients.borrow(parsed, ctx.targets, ctx.http.timeout, _ssl_context()) as client,
            client.stream("POST", parsed, content=body, headers=headers) as response,
        ):
            # Read to the end (a few kilobytes at most) even on success: only a response read to
            # its end leaves the connection fit to be kept alive.
            text = await _read_some(response)
    except Unresolvable as unresolvable:
        raise DeliveryError(Reason.NETWORK, unresolvable.detail) from None
    except Refused as refused:
        raise DeliveryError(Reason.FORBIDDEN_TARGET, refused.detail) from None
    except httpx.TimeoutException:
        raise DeliveryError(Reason.TIMEOUT, "no answer in time") from None
    except httpx.HTTPError as exc:  # transport errors; their messages may contain the URL
        raise DeliveryError(Reason.NETWORK, f"connection failed ({type(exc).__name__})") from None
    except httpx.InvalidURL:
        raise DeliveryError(Reason.FORBIDDEN_TARGET, "the URL is not valid") from None
    except UnicodeError:  # the URL was checked above: a header value that is not ASCII
        raise DeliveryError(Reason.CLIENT_ERROR, "a request header cannot be sent (not ASCII)") from None
    error = classify(response, ctx.clock(), text, url)
    if error is not None:
        raise error
