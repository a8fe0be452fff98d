"""Which network addresses ExportWatch may connect to on behalf of someone else's URL (a subscriber's
webhook or Slack URL, a feed or licence URL from the sources file, and every address such a URL
redirects to): only public (globally routable) addresses, never loopback, private, link-local, shared
(carrier-grade NAT, where some clouds keep their metadata service), reserved or multicast ones, nor an
IPv6 address that wraps a forbidden IPv4 one (IPv4-mapped, 6to4, Teredo), unless the operator allowed
those networks explicitly. And which host names and URLs can be parsed at all, so that a hostile one
is a problem to report rather than an exception.

Pure: no lookups and no I/O. ``services.common.outbound`` applies the policy where connections are
made, for notify and ingest alike."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import idna

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_HOST_NAME = 253  # characters of a DNS name, without its final dot (RFC 1035)
MAX_LABEL = 63  # characters of one label of it
# Letters, digits and hyphens; "_" too, which DNS carries and resolvers accept in practice.
_LABEL = re.compile(r"^[A-Za-z0-9_-]+$")


def host_problem(host: str) -> str | None:
    """Why ``host`` (a URL's host: a name, Unicode or IDNA-encoded, or an IP literal) cannot be
    connected to, or None when it can. Never repeats the host: it may be part of a secret URL."""
    literal = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if ":" in literal:
        valid = _ip(literal.partition("%")[0]) is not None
        return None if valid else "the URL's host is not a valid IPv6 address"
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except (UnicodeError, ValueError):  # idna.IDNAError is a UnicodeError
            return "the URL's host name is not valid IDNA"
    name = host.removesuffix(".")
    if not name:
        return "the URL has no host"
    if len(name) > MAX_HOST_NAME:
        return f"the URL's host name is longer than {MAX_HOST_NAME} characters"
    for label in name.split("."):
        if not label:
            return "the URL's host name has an empty label"
        if len(label) > MAX_LABEL:
            return f"a label of the URL's host name is longer than {MAX_LABEL} characters"
        if not _LABEL.match(label):
            return "the URL's host name has characters other than letters, digits, '-' and '_'"
        if label[:4].lower() == "xn--":
            try:
                idna.decode(label)
            except (UnicodeError, ValueError):
                return "the URL's host name is not valid IDNA"
    return None


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be parsed into a host and a port, or None. Only the syntax: the scheme and the
    addresses are checked where the connection is made."""
    try:
        parts = urlsplit(url.strip())
        _ = parts.port  # raises for a port that is not a number from 0 to 65535
    except ValueError as exc:
        return "the URL has an invalid port" if "port" in str(exc).lower() else "the URL is not valid"
    if parts.hostname is None:
        return None  # no host at all: said where the scheme and host are checked
    return host_problem(parts.hostname)


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address, an IPv4-mapped IPv6 address as the IPv4 one it stands for; None if not an IP."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def forbidden_address(address: str) -> str | None:
    """Why ``address`` (an IP literal) must not be connected to, or None when it is public."""
    ip = _ip(address)
    if ip is None:
        return "not an IP address"
    checks = (
        (ip.is_loopback, "loopback"),
        (ip.is_private, "private"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip.is_reserved, "reserved"),
        (ip.is_unspecified, "unspecified"),
    )
    for hit, why in checks:
        if hit:
            return why
    if isinstance(ip, ipaddress.IPv6Address):
        wrapped = ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if wrapped is not None and forbidden_address(str(wrapped)) is not None:
            return "tunnelled non-public"
    if not ip.is_global:
        return "non-public"
    return None


@dataclass(frozen=True)
class TargetPolicy:
    """Forbidden addresses, minus the networks the operator allowed (e.g. ``127.0.0.1/32`` in tests)."""

    allowed: tuple[Network, ...] = ()

    @classmethod
    def allowing(cls, networks: Iterable[str]) -> TargetPolicy:
        return cls(tuple(ipaddress.ip_network(n.strip(), strict=False) for n in networks if n.strip()))

    def refuse(self, address: str) -> str | None:
        """Why a connection to ``address`` is refused, or None when it is allowed."""
        why = forbidden_address(address)
        ip = _ip(address)
        if why is None or ip is None:
            return why
        if any(ip in net for net in self.allowed):
            return None
        return why
