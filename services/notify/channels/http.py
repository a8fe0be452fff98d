"""HTTP delivery shared by the Slack and webhook channels: address checks, one POST, status classification.

Subscribers' URLs are secrets (Slack webhook URLs and many webhook URLs carry a token in the path or
the query): nothing here ever puts the URL, its host, path or query into an error detail or a log.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import logging
import math
import re
import socket
from urllib.parse import SplitResult, parse_qsl, urlsplit

import httpx

from services.notify.channels.base import ChannelContext, DeliveryError, Reason
from services.notify.core.targets import TargetPolicy

# httpx and httpcore log every request URL at INFO/DEBUG; subscribers' URLs carry secrets, so these
# loggers stay at WARNING whatever level the root logger is set to.
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)

MAX_URL_LENGTH = 2048
RESOLVE_TIMEOUT = 10.0  # seconds for the host name lookup
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


def _parts(url: str) -> SplitResult | None:
    try:
        parts = urlsplit(url.strip())
        _ = parts.port  # raises ValueError for a bad port
    except ValueError:
        return None
    return parts


def _url_problem(parts: SplitResult | None, url: str) -> str | None:
    if parts is None:
        return "the URL is not valid"
    if parts.scheme.lower() not in ("http", "https"):
        return "the URL must start with https:// (or http://)"
    if not parts.hostname:
        return "the URL has no host"
    if len(url) > MAX_URL_LENGTH:
        return f"the URL is longer than {MAX_URL_LENGTH} characters"
    return None


async def _refusal(parts: SplitResult, policy: TargetPolicy) -> tuple[Reason, str] | None:
    """Why the URL's host must not be contacted (a reason and a detail without the host), or None."""
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT):
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError:
        return Reason.NETWORK, "cannot resolve the host name (timed out)"
    except (OSError, UnicodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        return Reason.NETWORK, f"cannot resolve the host name ({why})"
    if not infos:
        return Reason.NETWORK, "cannot resolve the host name (no address)"
    for *_, sockaddr in infos:
        refused = policy.refuse(str(sockaddr[0]))
        if refused is not None:
            return Reason.FORBIDDEN_TARGET, f"the host resolves to a {refused} address, which is not allowed"
    return None


async def check_url(url: str, policy: TargetPolicy) -> str | None:
    """A readable problem with a subscription's URL (without repeating the URL), or None when it can be
    used: http(s), a host, and every address of the host allowed by ``policy``."""
    parts = _parts(url)
    problem = _url_problem(parts, url)
    if problem is not None or parts is None:
        return problem
    refusal = await _refusal(parts, policy)
    return refusal[1] if refusal else None


def _secret_fragments(url: str) -> list[str]:
    """Pieces of the URL that may be echoed by a server and must not reach a detail."""
    parts = _parts(url)
    if parts is None:
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

    The host is resolved first and refused (permanently) when any of its addresses is forbidden by
    ``ctx.targets``."""
    parts = _parts(url)
    problem = _url_problem(parts, url)
    if problem is not None or parts is None:
        raise DeliveryError(Reason.FORBIDDEN_TARGET, problem or "the URL is not valid")
    refusal = await _refusal(parts, ctx.targets)
    if refusal is not None:
        raise DeliveryError(*refusal)
    try:
        async with ctx.http.stream(
            "POST", url, content=body, headers=headers, follow_redirects=False
        ) as response:
            text = "" if response.is_success else await _read_some(response)
    except httpx.TimeoutException:
        raise DeliveryError(Reason.TIMEOUT, "no answer in time") from None
    except httpx.HTTPError as exc:  # transport errors; their messages may contain the URL
        raise DeliveryError(Reason.NETWORK, f"connection failed ({type(exc).__name__})") from None
    except UnicodeError:
        raise DeliveryError(Reason.FORBIDDEN_TARGET, "the URL is not valid") from None
    error = classify(response, ctx.clock(), text, url)
    if error is not None:
        raise error
