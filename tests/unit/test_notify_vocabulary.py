"""The ids subscriptions may filter on: the shared vocabulary plus an operator's extra ids, unknown ids
refused with the closest known one, and every unknown id of a subscription reported at once with its
place."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from schemas import vocabulary as shared
from services.common.config import error_lines
from services.notify.core.model import MAX_IDS, SilenceSpec, SubscriptionSpec, known_ids
from services.notify.core.vocabulary import Kind, Vocabulary

VOCABULARY = Vocabulary.shared()


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("technology", "spyware"),
        ("technology", " Facial-Recognition "),
        ("destination", "CN"),
        ("destination", "ae"),
        ("destination", "NO"),
        ("destination", "GB"),
        ("destination", "EU"),
        ("vendor", "nso-group"),
        ("vendor", "Hikvision"),
        ("technology", ""),  # blanks are dropped by the filters, not refused
        ("vendor", "  "),
    ],
)
def test_known_ids_pass(kind: Kind, value: str) -> None:
    assert VOCABULARY.check(kind, value) is None


@pytest.mark.parametrize(
    ("kind", "value", "suggestion", "message"),
    [
        # a typo, capitals and spaces, a name, one word that only one id has
        ("technology", "spywar", "spyware", "unknown technology 'spywar'; did you mean 'spyware'?"),
        ("technology", "Facial Recognition", "facial-recognition", "did you mean 'facial-recognition'?"),
        ("technology", "IP network surveillance", "network-surveillance", "'network-surveillance'?"),
        ("technology", "phone-forensic", "phone-forensics", "did you mean 'phone-forensics'?"),
        ("technology", "facial", "facial-recognition", "did you mean 'facial-recognition'?"),
        ("vendor", "nso", "nso-group", "unknown vendor 'nso'; did you mean 'nso-group'?"),
        ("vendor", "NSO Group", "nso-group", "did you mean 'nso-group'?"),
        ("vendor", "hikvison", "hikvision", "did you mean 'hikvision'?"),
        ("vendor", "Hacking Team", "hacking-team", "did you mean 'hacking-team'?"),
        ("vendor", "cognyte", "verint", "did you mean 'verint'?"),
        # destinations: by country name, by code, by a common non-ISO code
        ("destination", "Rusia", "RU", "unknown destination 'Rusia'; did you mean 'RU' (Russia)?"),
        ("destination", "china", "CN", "did you mean 'CN' (China)?"),
        ("destination", "Turky", "TR", "did you mean 'TR' (Turkey)?"),
        ("destination", "Emirates", "AE", "did you mean 'AE' (United Arab Emirates)?"),
        ("destination", "CHN", "CN", "did you mean 'CN' (China)?"),
        ("destination", "C.N.", "CN", "did you mean 'CN' (China)?"),
        ("destination", "UK", "GB", "unknown destination 'UK'; did you mean 'GB' (United Kingdom)?"),
        ("destination", "UAE", "AE", "did you mean 'AE' (United Arab Emirates)?"),
    ],
)
def test_unknown_ids_name_the_closest_known_one(
    kind: Kind, value: str, suggestion: str, message: str
) -> None:
    unknown = VOCABULARY.check(kind, value)
    assert unknown is not None
    assert (unknown.kind, unknown.value, unknown.suggestion) == (kind, value.strip(), suggestion)
    assert message in unknown.message


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        (
            "destination",
            "XX",
            "unknown destination 'XX': use the ISO alpha-2 code of a country the watchlists know, such as "
            "CN or AE",
        ),
        ("destination", "on", "unknown destination 'on': use the ISO alpha-2 code"),  # not Oman
        ("destination", "Korea", "unknown destination 'Korea': use"),  # North or South: no guess
        ("destination", "Congo", "unknown destination 'Congo': use"),
        ("destination", "RUS", "unknown destination 'RUS': use"),  # as close to RU as to US
        ("technology", "drones", "unknown technology 'drones'; known: biometric-identification, "),
        ("vendor", "acme", "unknown vendor 'acme'; known: area-spa, "),
        # an id of another kind in the wrong list
        (
            "technology",
            "CN",
            "unknown technology 'CN': it is a destination id, a filter under 'destinations'",
        ),
        ("destination", "spyware", "it is a technology id, a filter under 'technologies'"),
        ("destination", "huawei", "it is a vendor id, a filter under 'entities'"),
        ("vendor", "video-surveillance", "it is a technology id"),
    ],
)
def test_unknown_ids_without_a_close_one_say_what_to_use(kind: Kind, value: str, message: str) -> None:
    unknown = VOCABULARY.check(kind, value)
    assert unknown is not None and unknown.suggestion is None
    assert message in unknown.message and unknown.message.startswith(f"unknown {kind} "), unknown.message


def test_the_list_of_known_ids_is_bounded() -> None:
    unknown = VOCABULARY.check("vendor", "acme")
    assert unknown is not None
    assert unknown.message.endswith(f" and {len(shared.VENDORS) - 20} more")


def test_shared_is_the_schema_vocabulary_plus_an_operators_ids() -> None:
    assert dict(VOCABULARY.technologies) == dict(shared.TECHNOLOGIES)
    assert dict(VOCABULARY.destinations) == dict(shared.DESTINATIONS)
    assert dict(VOCABULARY.vendors) == dict(shared.VENDORS)
    extended = Vocabulary.shared(technologies=["Drones"], destinations=["mn", "CN"], vendors=[" acme "])
    assert extended.check("technology", "drones") is None
    assert extended.check("destination", "MN") is None
    assert extended.check("vendor", "ACME") is None
    assert extended.destinations["CN"] == "China" and extended.destinations["MN"] == "MN"
    unknown = extended.check("vendor", "acmee")
    assert unknown is not None and unknown.suggestion == "acme"
    assert VOCABULARY.check("destination", "MN") is not None


def problems(model: type[SubscriptionSpec | SilenceSpec], data: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data, context=known_ids(VOCABULARY))
    return error_lines(info.value)


def test_every_unknown_id_of_a_subscription_is_reported_with_its_place() -> None:
    found = problems(
        SubscriptionSpec,
        {
            "name": "Spyware to the Gulf",
            "filters": {
                "technologies": ["spyware", "spywar", "drones"],
                "destinations": ["ae", "XX", "Rusia"],
                "entities": ["nso"],
            },
            "channel": {"type": "email", "to": ["not an address"]},
        },
    )
    assert found == [
        "filters.technologies[1]: unknown technology 'spywar'; did you mean 'spyware'?",
        found[1],
        "filters.destinations[1]: unknown destination 'XX': use the ISO alpha-2 code of a country the "
        "watchlists know, such as CN or AE",
        "filters.destinations[2]: unknown destination 'Rusia'; did you mean 'RU' (Russia)?",
        "filters.entities[0]: unknown vendor 'nso'; did you mean 'nso-group'?",
        "channel.email.to: not an e-mail address: 'not an address'",
    ]
    assert found[1].startswith("filters.technologies[2]: unknown technology 'drones'; known: ")


def test_the_error_carries_the_value_and_the_suggestion() -> None:
    with pytest.raises(ValidationError) as info:
        SubscriptionSpec.model_validate(
            {"name": "n", "filters": {"technologies": ["spywar"]}, "channel": {"type": "console"}},
            context=known_ids(VOCABULARY),
        )
    [error] = info.value.errors()
    assert error["type"] == "unknown_id"
    assert error["loc"] == ("filters", "technologies", 0)
    ctx = error.get("ctx", {})
    assert (ctx["kind"], ctx["value"], ctx["suggestion"]) == ("technology", "spywar", "spyware")


def test_a_value_that_looks_like_a_template_stays_as_written() -> None:
    [problem] = problems(
        SubscriptionSpec,
        {"name": "n", "filters": {"entities": ["{suggestion}{value}"]}, "channel": {"type": "console"}},
    )
    assert problem.startswith("filters.entities[0]: unknown vendor '{suggestion}{value}'; known: ")


def test_silences_are_checked_too() -> None:
    [problem] = problems(
        SilenceSpec, {"filters": {"destinations": ["Rusia"]}, "duration": "2h", "comment": "c"}
    )
    assert problem == "filters.destinations[0]: unknown destination 'Rusia'; did you mean 'RU' (Russia)?"


def test_without_the_context_ids_are_not_checked() -> None:
    """Subscriptions read back from the database load even when an id has since left the vocabulary."""
    spec = SubscriptionSpec.model_validate(
        {
            "name": "n",
            "filters": {"technologies": ["Drones"], "entities": ["acme"]},
            "channel": {"type": "console"},
        }
    )
    assert spec.filters.technologies == ["drones"] and spec.filters.entities == ["acme"]


def test_a_filter_names_at_most_max_ids_of_a_kind() -> None:
    """Checking an id costs difflib's time: a body of thousands is refused before they are all checked."""
    many = [f"vendor-{i}" for i in range(MAX_IDS * 10)]
    [problem] = problems(
        SubscriptionSpec, {"name": "n", "filters": {"entities": many}, "channel": {"type": "console"}}
    )
    assert problem.startswith(f"filters.entities: List should have at most {MAX_IDS} items")
    spec = SubscriptionSpec.model_validate(
        {"name": "n", "filters": {"destinations": list(shared.DESTINATIONS)}, "channel": {"type": "console"}},
        context=known_ids(VOCABULARY),
    )
    assert len(spec.filters.destinations) == len(shared.DESTINATIONS) < MAX_IDS
