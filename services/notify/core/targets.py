"""Which network addresses a webhook may target: never loopback, private or link-local unless allowed."""

from __future__ import annotations

import ipaddress


def forbidden_address(address: str) -> str | None:
    """Why ``address`` (an IP literal) must not be a webhook target, or None when it is public."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
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
    return None
