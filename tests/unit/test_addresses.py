"""The address policy notify and ingest share (services/common/addresses.py): which addresses are
forbidden, and what an operator's allow-list opens. Pure: no lookups, no sockets."""

from __future__ import annotations

import pytest

from services.common.addresses import TargetPolicy, forbidden_address


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.1", "private"),
        ("172.16.5.4", "private"),
        ("169.254.169.254", "private"),
        ("fe80::1", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("0.0.0.0", "private"),
        ("8.8.8.8", None),
        ("2001:4860:4860::8888", None),
    ],
)
def test_forbidden_addresses(address: str, why: str | None) -> None:
    result = forbidden_address(address)
    assert (result is None) == (why is None)


def test_allowed_networks_open_only_what_the_operator_named() -> None:
    policy = TargetPolicy.allowing(["127.0.0.1/32"])
    assert policy.refuse("127.0.0.1") is None
    assert policy.refuse("::ffff:127.0.0.1") is None
    assert policy.refuse("127.0.0.2") == "loopback"
    assert policy.refuse("10.0.0.1") == "private"
    assert policy.refuse("169.254.169.254") is not None
    assert TargetPolicy().refuse("127.0.0.1") == "loopback"
    assert policy.refuse("8.8.8.8") is None
