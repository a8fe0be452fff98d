"""Which network addresses a webhook may target: only public (globally routable) addresses, never
loopback, private, link-local, shared (carrier-grade NAT, where some clouds keep their metadata service),
reserved or multicast ones, nor an IPv6 address that wraps a forbidden IPv4 one (IPv4-mapped, 6to4,
Teredo), unless the operator allowed those networks explicitly."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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
    """Why ``address`` (an IP literal) must not be a webhook target, or None when it is public."""
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
