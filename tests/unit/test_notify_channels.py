"""The channel registry: every registered channel is consistent with itself, and the subscription's
settings, the type names and the rate limits all follow from the registry."""

from __future__ import annotations

import typing

import pytest
from pydantic import ValidationError

from services.notify.channels import CHANNELS, REGISTRY, channel_rates, channel_types
from services.notify.channels.base import ChannelType
from services.notify.core.model import API_CHANNEL_TYPES, CHANNEL_TYPES, SubscriptionSpec
from services.notify.dispatcher import DispatchSettings


@pytest.mark.parametrize("kind", CHANNELS, ids=lambda c: c.name)
def test_a_registered_channel_names_itself_the_same_everywhere(kind: ChannelType) -> None:
    hints = typing.get_type_hints(kind.settings)
    assert typing.get_args(hints["type"]) == (kind.name,)  # the settings' discriminator
    assert getattr(kind.build, "type", None) == kind.name  # the channel object's type (metric label)
    assert REGISTRY[kind.name] is kind


def test_the_type_names_and_who_may_use_them_follow_from_the_registry() -> None:
    assert CHANNEL_TYPES == channel_types() == tuple(c.name for c in CHANNELS)
    assert API_CHANNEL_TYPES == channel_types(owners_only=True) == tuple(c.name for c in CHANNELS if c.owners)
    # The first five keep their order (the order validation messages list them in); new ones follow.
    assert CHANNEL_TYPES[:5] == ("slack", "webhook", "email", "console", "file")
    assert API_CHANNEL_TYPES[:3] == ("slack", "webhook", "email")
    with pytest.raises(ValidationError) as caught:
        SubscriptionSpec.model_validate({"name": "n", "channel": {"type": "pigeon"}})
    assert "'slack', 'webhook', 'email', 'console', 'file'" in str(caught.value)


def test_rates_are_each_channels_default_unless_the_settings_give_one() -> None:
    assert channel_rates()[:3] == (("slack", 1.0), ("webhook", 10.0), ("email", 2.0))
    assert dict(channel_rates()) == {c.name: c.per_second for c in CHANNELS if c.per_second is not None}
    assert DispatchSettings().rates == channel_rates()
    assert channel_rates({"webhook": 3.0})[:3] == (("slack", 1.0), ("webhook", 3.0), ("email", 2.0))


def test_a_type_name_fits_the_delivery_log() -> None:
    with pytest.raises(ValueError, match="1-16 characters"):
        ChannelType("x" * 17, object, lambda settings, ctx: None)  # type: ignore[arg-type, return-value]
