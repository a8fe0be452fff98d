"""What subscription and channel settings are made of: strict configuration objects, secret URLs, and
the validation-context key of the recipients cap. Channel modules define their settings from these;
``core.model`` gathers them into the subscription. Pure: no I/O."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, SecretStr

from services.common.addresses import url_problem
from services.common.config import StrictConfig

EMAIL = re.compile(r"^[^@\s<>,;:\"()\[\]\\]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?\.[A-Za-z]{2,}$")

MAX_RECIPIENTS = "max_recipients"
"""Validation context key of the most e-mail recipients a subscription may have (what an owner or
operator writes; subscriptions read back from the database are not checked, so older ones still load)."""


class Strict(StrictConfig):
    """Configuration objects: unknown keys are errors (naming the closest known key), so a typo never
    silently changes routing."""


class ChannelConfig(Strict):
    """Base of every channel's settings: ``type`` is the channel's name, a ``Literal`` in each subclass
    (the subscription's ``channel`` is a union discriminated by it)."""

    type: str


def _parsable_url(value: SecretStr) -> SecretStr:
    """A URL whose host and port can be read (never repeated in the error: it is a secret)."""
    problem = url_problem(value.get_secret_value())
    if problem is not None:
        raise ValueError(problem)
    return value


HttpUrl = Annotated[SecretStr, AfterValidator(_parsable_url)]
