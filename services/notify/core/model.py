"""Subscriptions, silences and channel settings: the typed vocabulary of notify, shared by the YAML file,
the HTTP API and the database. Pure: no I/O."""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Literal, TypeGuard
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from schemas import Severity
from services.common.config import Seconds
from services.notify.channels import channel_settings_union, channel_types
from services.notify.core.fields import MAX_RECIPIENTS, ChannelConfig, Strict
from services.notify.core.vocabulary import Kind, Vocabulary

EventType = Literal["news_article", "licence_record"]
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


ID_RULE = "1-128 letters, digits, '.', '_' or '-'"


def is_safe_id(value: object) -> TypeGuard[str]:
    """Whether ``value`` may be a subscription id or owner name."""
    return isinstance(value, str) and _ID.match(value) is not None


def _safe_id(value: str) -> str:
    if not is_safe_id(value):
        raise ValueError(f"ids and owners are {ID_RULE}")
    return value


SafeId = Annotated[str, AfterValidator(_safe_id)]

ADMIN_OWNER = "admin"
"""The owner the admin token acts as (its own subscriptions are stored under it). Reserved, in any case
of letters: no token and no subscriptions file entry may be given it, or an ordinary token would read
and change the admin's subscriptions. ("*", everyone in a silence, is not an id and so never an owner.)"""
OWNER_RULE = f"{ID_RULE}; {ADMIN_OWNER!r} is reserved for the admin token"


def is_reserved_owner(value: str) -> bool:
    """Whether ``value`` is an owner name only the admin token may act as."""
    return value.lower() == ADMIN_OWNER


def is_owner_name(value: object) -> TypeGuard[str]:
    """Whether ``value`` may be given a token or own a subscription of the subscriptions file."""
    return is_safe_id(value) and not is_reserved_owner(value)


def _owner_name(value: str) -> str:
    if is_reserved_owner(_safe_id(value)):
        raise ValueError(f"{value!r} is reserved for the admin token")
    return value


OwnerName = Annotated[str, AfterValidator(_owner_name)]


def chosen_id_prefix(owner: str) -> str:
    """How an id that a token owner chooses for a new subscription must start: ids are unique across
    owners, so an id outside one's own prefix could only answer "taken" by revealing someone else's."""
    return f"{owner}-"


VOCABULARY = "vocabulary"
"""Validation context key of the Vocabulary that filter ids must be in: what an owner or operator writes
is validated with ``context={VOCABULARY: vocabulary}``. Without it (subscriptions read back from the
database) ids are not checked, so that one stored before an id was retired still loads."""


DEFAULT_MAX_RECIPIENTS = 10


def known_ids(vocabulary: Vocabulary, max_recipients: int = DEFAULT_MAX_RECIPIENTS) -> dict[str, object]:
    """The validation context that checks filter ids against ``vocabulary`` and e-mail subscriptions
    against ``max_recipients``."""
    return {VOCABULARY: vocabulary, MAX_RECIPIENTS: max_recipients}


def _known(kind: Kind) -> AfterValidator:
    def check(value: str, info: ValidationInfo) -> str:
        vocabulary = info.context.get(VOCABULARY) if isinstance(info.context, dict) else None
        if isinstance(vocabulary, Vocabulary):
            unknown = vocabulary.check(kind, value)
            if unknown is not None:
                # The message last: the template is filled key by key, and a value that reads
                # "{suggestion}" must stay as written.
                context = {"kind": kind, "value": unknown.value, "suggestion": unknown.suggestion}
                raise PydanticCustomError("unknown_id", "{message}", {**context, "message": unknown.message})
        return value

    return AfterValidator(check)


MAX_IDS = 300
TechnologyId = Annotated[str, _known("technology")]
DestinationId = Annotated[str, _known("destination")]
VendorId = Annotated[str, _known("vendor")]


def _lower_unique(values: list[str]) -> list[str]:
    return sorted({v.strip().lower() for v in values if v.strip()})


class Filters(Strict):
    """Which alerts a subscription or silence wants. Empty lists mean "any"; the kinds combine with AND,
    the values of one kind with OR."""

    # At most MAX_IDS of each kind: more than any list has, and a bound on what checking them costs.
    technologies: list[TechnologyId] = Field(
        default_factory=list,
        max_length=MAX_IDS,
        description="Technology ids, e.g. facial-recognition, spyware.",
    )
    destinations: list[DestinationId] = Field(
        default_factory=list,
        max_length=MAX_IDS,
        description="ISO 3166-1 alpha-2 codes of destinations, e.g. CN, AE.",
    )
    entities: list[VendorId] = Field(
        default_factory=list, max_length=MAX_IDS, description="Vendor ids from the watchlist."
    )
    event_types: list[EventType] = Field(default_factory=list, description="news_article, licence_record.")
    min_severity: Severity = Field(default=Severity.LOW, description="Lowest severity wanted.")
    keyword: str | None = Field(
        default=None,
        max_length=200,
        description="A word or phrase that must appear in the alert's title, summary or evidence "
        "(case and accents ignored).",
    )

    @field_validator("technologies", "entities")
    @classmethod
    def _ids(cls, values: list[str]) -> list[str]:
        return _lower_unique(values)

    @field_validator("destinations")
    @classmethod
    def _countries(cls, values: list[str]) -> list[str]:
        codes = sorted({v.strip().upper() for v in values if v.strip()})
        bad = [c for c in codes if not _COUNTRY.match(c)]
        if bad:
            # ascii(): a value that cannot be encoded (a lone surrogate) must still make a readable error.
            shown = ", ".join(ascii(c)[1:-1] for c in bad[:10])
            raise ValueError(f"destinations are ISO alpha-2 codes such as CN or AE, not {shown}")
        return codes

    @field_validator("keyword")
    @classmethod
    def _keyword(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return " ".join(value.split())


class DigestSchedule(Strict):
    """When digests go out: every hour at minute ``at`` (":15"), or every day at ``at`` ("08:00"),
    in the owner's time zone."""

    every: Literal["hourly", "daily"] = "daily"
    at: str | None = Field(
        default=None, description='Daily: "HH:MM" (default "08:00"); hourly: ":MM" (default ":00").'
    )
    timezone: str = Field(default="UTC", description="IANA time zone, e.g. Europe/Amsterdam.")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe" is a folder, not a zone
            raise ValueError(
                f"unknown time zone {ascii(value)[:80]}; use an IANA name such as Europe/Paris"
            ) from None
        return value

    @model_validator(mode="after")
    def _at(self) -> DigestSchedule:
        if self.every == "hourly":
            at = self.at if self.at is not None else ":00"
            m = re.fullmatch(r":(\d{2})", at)
            if not m or int(m.group(1)) > 59:
                raise ValueError('hourly digests take at=":MM", a minute from ":00" to ":59"')
        else:
            at = self.at if self.at is not None else "08:00"
            m = re.fullmatch(r"(\d{1,2}):(\d{2})", at)
            if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
                raise ValueError('daily digests take at="HH:MM", e.g. "08:00"')
        object.__setattr__(self, "at", at)
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def hour_minute(self) -> tuple[int, int]:
        """(hour, minute) for daily; (0, minute) for hourly."""
        at = self.at or ""
        if self.every == "hourly":
            return 0, int(at.lstrip(":"))
        hour, minute = at.split(":")
        return int(hour), int(minute)


# Each channel's settings are defined in its own module (services/notify/channels/<type>.py) and
# registered in services/notify/channels/__init__.py; the union, the type names and the types an owner may
# use through the API all follow from that registry. (The settings classes imported above are only
# re-exported, for the modules and tests that import them from here.)
if TYPE_CHECKING:
    ChannelSettings = ChannelConfig
else:
    ChannelSettings = channel_settings_union()
CHANNEL_TYPES = channel_types()
# Channels an owner may configure through the API; console and file write on the server itself.
API_CHANNEL_TYPES = channel_types(owners_only=True)


class Mode(StrEnum):
    IMMEDIATE = "immediate"
    DIGEST = "digest"


class SubscriptionSpec(Strict):
    """What an owner writes: the YAML entry or the API body."""

    name: str = Field(min_length=1, max_length=200, description="A name the owner recognises.")
    filters: Filters = Field(default_factory=Filters)
    channel: ChannelSettings
    mode: Mode = Mode.IMMEDIATE
    digest: DigestSchedule | None = Field(default=None, description="When mode is digest.")
    group_wait_seconds: float | None = Field(
        default=None,
        ge=0,
        le=3600,
        description="How long the first alert about a story waits for others about the same story, "
        "so they arrive as one notification (default: the service's).",
    )
    enabled: bool = True

    @model_validator(mode="after")
    def _digest(self) -> SubscriptionSpec:
        if self.mode is Mode.DIGEST and self.digest is None:
            object.__setattr__(self, "digest", DigestSchedule())
        if self.mode is Mode.IMMEDIATE and self.digest is not None:
            raise ValueError("digest settings need mode: digest")
        return self


class Subscription(SubscriptionSpec):
    """A stored subscription."""

    id: SafeId
    owner: SafeId
    origin: Literal["file", "api", "builtin"] = "api"
    created_at: AwareDatetime
    updated_at: AwareDatetime

    @classmethod
    def from_spec(
        cls,
        spec: SubscriptionSpec,
        *,
        id: str,
        owner: str,
        origin: str,
        created_at: dt.datetime,
        updated_at: dt.datetime,
    ) -> Subscription:
        """The stored form of what an owner wrote (validated again: ids, owners)."""
        fields = {name: getattr(spec, name) for name in SubscriptionSpec.model_fields}
        return cls.model_validate(
            {
                **fields,
                "id": id,
                "owner": owner,
                "origin": origin,
                "created_at": created_at,
                "updated_at": updated_at,
            }
        )


class SilenceSpec(Strict):
    """Mute alerts matching ``filters`` from ``starts_at`` until ``ends_at``, or for ``duration``
    (Alertmanager-style)."""

    filters: Filters
    ends_at: AwareDatetime | None = Field(default=None, description="When the silence stops.")
    duration: Seconds | None = Field(
        default=None, description='Instead of ends_at: how long from starts_at, e.g. "2h" or "7d".'
    )
    starts_at: AwareDatetime | None = Field(default=None, description="Default: now.")
    comment: str = Field(min_length=1, max_length=1000, description="Why: shown to everyone who can see it.")
    subscription_id: str | None = Field(
        default=None, description="Only this subscription; default: every subscription of the owner."
    )

    @model_validator(mode="after")
    def _one_end(self) -> SilenceSpec:
        if (self.ends_at is None) == (self.duration is None):
            raise ValueError('give exactly one of ends_at (a time) and duration (e.g. "2h", "7d")')
        return self

    def end(self, starts: dt.datetime) -> dt.datetime:
        """When the silence stops, for one starting at ``starts``."""
        if self.ends_at is not None:
            return self.ends_at
        return starts + dt.timedelta(seconds=self.duration or 0)


class Silence(SilenceSpec):
    id: str
    owner: str = Field(description="Who created it; an admin's silence with owner '*' mutes everyone's.")
    created_by: str
    created_at: AwareDatetime
    starts_at: AwareDatetime
    ends_at: AwareDatetime

    def active(self, now: dt.datetime) -> bool:
        return self.starts_at <= now < self.ends_at
