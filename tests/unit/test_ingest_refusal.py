"""How ingest reports a fetch the address guard stopped (services/ingest/pollers.py, ``refusal``):
which hop, by host only, why, and the setting that allows it. Pure: the guard's exceptions are made
here, nothing is resolved or connected to."""

from __future__ import annotations

import httpx

from services.common.outbound import ForbiddenAddress, ForbiddenScheme, Refused, Unresolvable
from services.ingest.pollers import ALLOW_SETTING, refusal

FEED = "https://feeds.example.org/rss?key=secret-key-123"


def stopped(refused: Refused, url: str) -> Refused:
    refused.url = httpx.URL(url)
    return refused


def test_the_feed_s_own_host_is_named_with_the_setting_and_never_the_query() -> None:
    error = refusal(stopped(ForbiddenAddress("loopback"), FEED), FEED)
    assert error.outcome == "forbidden_target"
    assert error.detail == (
        "the feed's host feeds.example.org resolves to a loopback address, which is not allowed; "
        f"allow its network with {ALLOW_SETTING}"
    )


def test_a_redirect_hop_is_named_by_its_host() -> None:
    error = refusal(stopped(ForbiddenAddress("private"), "http://10.0.0.1/x?key=secret-key-123"), FEED)
    assert error.outcome == "forbidden_target"
    assert error.detail.startswith("the feed redirected to 10.0.0.1, which resolves to a private address")
    scheme = refusal(stopped(ForbiddenScheme(), "file:///etc/passwd"), FEED)
    assert (scheme.outcome, scheme.detail) == (
        "forbidden_target",
        "the feed redirected to a URL that is not http or https",
    )
    assert "secret-key-123" not in error.detail + scheme.detail


def test_a_name_that_does_not_resolve_is_a_network_error() -> None:
    error = refusal(stopped(Unresolvable("cannot resolve the host name (no address)"), FEED), FEED)
    assert error.outcome == "network_error"
    assert error.detail == "cannot resolve the host name (no address): the feed's host feeds.example.org"
