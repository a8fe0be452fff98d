"""The subscriptions file: the deploy example, ${VAR} substitution, YAML 1.2 scalars, and errors that
list every problem with its path and line without ever showing a secret."""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import textwrap

import pytest

from services.notify.channels.email import EmailSettings
from services.notify.channels.slack import SlackSettings
from services.notify.channels.webhook import WebhookSettings
from services.notify.core.model import (
    Filters,
    Mode,
    SubscriptionSpec,
    known_ids,
)
from services.notify.core.subscriptions_file import (
    FileSubscription,
    SubscriptionsFileError,
    load_subscriptions,
)
from services.notify.core.vocabulary import Vocabulary
from tests.conftest import ROOT

EXAMPLE = ROOT / "deploy" / "notify" / "subscriptions.yaml"
EXAMPLE_ENV = {
    "AMNESTY_SLACK_URL": "https://hooks.slack.com/services/T000/B000/amnesty-secret-token",
    "ACCESSNOW_WEBHOOK_URL": "https://receiver.example.org/exportwatch",
    "ACCESSNOW_WEBHOOK_SECRET": "a-long-shared-signing-secret",
    "PI_SLACK_URL": "https://hooks.slack.com/services/T000/B001/pi-secret-token",
}


def load(text: str, env: dict[str, str] | None = None) -> list[FileSubscription]:
    return load_subscriptions(textwrap.dedent(text), env or {}, "subs.yaml")


def one(entry: str, env: dict[str, str] | None = None) -> FileSubscription:
    """Load a file with one subscription whose other keys are ``entry`` (YAML at 4 spaces)."""
    text = "subscriptions:\n  - id: s1\n    owner: amnesty\n" + textwrap.indent(
        textwrap.dedent(entry), "    "
    )
    (sub,) = load_subscriptions(text, env or {}, "subs.yaml")
    return sub


def error(text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(SubscriptionsFileError) as info:
        load(text, env)
    return str(info.value)


def test_the_deploy_example_loads_with_its_variables_set() -> None:
    subs = load_subscriptions(EXAMPLE.read_text(encoding="utf-8"), EXAMPLE_ENV, str(EXAMPLE))
    assert [(s.id, s.owner) for s in subs] == [
        ("amnesty-slack", "amnesty"),
        ("accessnow-webhook", "accessnow"),
        ("bof-daily", "bits-of-freedom"),
        ("pi-hourly", "privacy-international"),
    ]
    slack, webhook, daily, hourly = (s.spec for s in subs)
    assert isinstance(slack.channel, SlackSettings)
    assert slack.channel.url.get_secret_value() == EXAMPLE_ENV["AMNESTY_SLACK_URL"]
    assert slack.filters.destinations == ["CN"] and slack.mode is Mode.IMMEDIATE
    assert isinstance(webhook.channel, WebhookSettings)
    assert webhook.channel.secret.get_secret_value() == EXAMPLE_ENV["ACCESSNOW_WEBHOOK_SECRET"]
    assert isinstance(daily.channel, EmailSettings) and daily.mode is Mode.DIGEST
    assert daily.digest is not None and (daily.digest.every, daily.digest.at) == ("daily", "08:00")
    assert daily.digest.timezone == "Europe/Amsterdam"
    assert hourly.digest is not None and (hourly.digest.every, hourly.digest.at) == ("hourly", ":15")
    assert all(type(s.spec) is SubscriptionSpec for s in subs)
    assert "id" not in slack.model_dump() and slack.model_fields_set >= {"name", "filters", "channel"}


def test_the_readme_examples_name_known_ids() -> None:
    """The README's subscriptions file loads, and the filters of its API calls name known ids."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(subscriptions:\n.*?)```", readme, re.DOTALL)
    assert blocks
    for block in blocks:
        assert load_subscriptions(block, {"AMNESTY_SLACK_URL": "https://hooks.slack.com/x"}, "README.md")
    bodies = re.findall(r'"filters": (\{[^}]*\})', readme)
    assert len(bodies) >= 3
    vocabulary = known_ids(Vocabulary.shared())
    for body in bodies:
        Filters.model_validate(json.loads(body), context=vocabulary)


def test_the_deploy_example_has_no_literal_secrets() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    message = error(text)
    for name in EXAMPLE_ENV:
        assert f"environment variable {name} is not set" in message
    assert "hooks.slack.com" not in text


def test_file_subscriptions_are_frozen() -> None:
    sub = one("name: n\nchannel: {type: console}\n")
    with pytest.raises(dataclasses.FrozenInstanceError):
        sub.id = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "env", "expected"),
    [
        ("${A}", {"A": "alpha"}, "alpha"),
        ("x-${A}-${B}-y", {"A": "alpha", "B": "beta"}, "x-alpha-beta-y"),
        ("${A:-fallback}", {}, "fallback"),
        ("${A:-fallback}", {"A": ""}, "fallback"),
        ("${A:-fall back: with } brace", {}, "fall back: with  brace"),
        ("${A:-fallback}", {"A": "alpha"}, "alpha"),
        ("x${A:-}", {}, "x"),
        ("cost $$5 and $${A}", {"A": "alpha"}, "cost $5 and ${A}"),
        ("cost $5", {}, "cost $5"),
        ("${A}", {"A": "{injected: yaml}\n- [1, 2]"}, "{injected: yaml}\n- [1, 2]"),  # stays a string
        ("${A}", {"A": "${B}", "B": "beta"}, "${B}"),  # values are not substituted again
    ],
)
def test_substitution_in_string_values(name: str, env: dict[str, str], expected: str) -> None:
    sub = one(f"name: {name!r}\nchannel: {{type: console}}\n".replace("'", '"'), env)
    assert sub.spec.name == expected


def test_substitution_everywhere_in_values_but_not_in_keys() -> None:
    env = {"OWNER": "amnesty", "TO": "alerts@example.org", "WAIT": "30", "TZ": "Asia/Kolkata"}
    (sub,) = load(
        """
        subscriptions:
          - id: s1
            owner: ${OWNER}
            name: n
            channel: {type: email, to: ["${TO}"]}
            mode: digest
            digest: {timezone: "${TZ}"}
            group_wait_seconds: ${WAIT}
        """,
        env,
    )
    assert sub.owner == "amnesty" and sub.spec.group_wait_seconds == 30
    assert isinstance(sub.spec.channel, EmailSettings) and sub.spec.channel.to == ["alerts@example.org"]
    assert sub.spec.digest is not None and sub.spec.digest.timezone == "Asia/Kolkata"
    message = error("subscriptions: []\n${KEY}: x\n", {"KEY": "subscriptions"})
    assert "unknown key '${KEY}'" in message


def test_yaml_1_2_scalars() -> None:
    sub = one(
        """
        name: n
        filters: {destinations: [NO], keyword: on}
        channel: {type: console}
        mode: digest
        digest: {at: 8:30}
        enabled: true
        """
    )
    assert sub.spec.filters.destinations == ["NO"]  # Norway, not false
    assert sub.spec.filters.keyword == "on"  # not true
    assert sub.spec.digest is not None and sub.spec.digest.hour_minute == (8, 30)  # not 510
    assert one("name: n\nchannel: {type: console}\ngroup_wait_seconds: 1.5e1\n").spec.group_wait_seconds == 15
    assert not one("name: n\nchannel: {type: console}\nenabled: false\n").spec.enabled


def test_anchors_and_merge_keys() -> None:
    subs = load(
        """
        x-defaults: &defaults
          owner: amnesty
          channel: {type: console}
        subscriptions:
          - {<<: *defaults, id: a, name: A}
          - {<<: *defaults, id: b, name: B, owner: pi}
        """
    )
    assert [(s.id, s.owner) for s in subs] == [("a", "amnesty"), ("b", "pi")]


@pytest.mark.parametrize(
    "text",
    [
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n" for p, c in itertools.pairwise("abcdefgh"))
        + "subscriptions: []\n",
        "a: &a [*a]\nsubscriptions: []\n",
    ],
    ids=["billion laughs", "recursive"],
)
def test_aliases_cannot_make_it_endless(text: str) -> None:
    assert "once aliases are expanded" in error(text)


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "subscriptions:\n", "subscriptions: []\n"])
def test_empty_files(text: str) -> None:
    assert load(text) == []


ENTRY = "  - id: s1\n    owner: amnesty\n    name: n\n"

# (file, env, what the message says). Paths are as in the file; lines are 1-based.
ERRORS: list[tuple[str, dict[str, str], list[str]]] = [
    # YAML
    ("subscriptions:\n  - id: a\n   owner: b\n", {}, ["subs.yaml: line 3: invalid YAML"]),
    ("subscriptions:\n  - {id: a, name: [b\n", {}, ["subs.yaml: line 3: invalid YAML", "flow sequence"]),
    (ENTRY + "    name: m\n", {}, ["invalid YAML: key 'name' is repeated (first on line 3)"]),
    ("- a\n- b\n", {}, ["subs.yaml: line 1: the file must be a mapping"]),
    ("---\na: 1\n---\nb: 2\n", {}, ["invalid YAML", "single document"]),
    # structure
    ("subscription: []\n", {}, ["(root): unknown key 'subscription' (did you mean 'subscriptions'?)"]),
    ("subscriptions: {id: a}\n", {}, ["subscriptions: Input should be a valid list (line 1)"]),
    ("subscriptions:\n  - just a string\n", {}, ["subscriptions[0]: Input should be a valid dictionary"]),
    (
        "subscriptions:\n" + ENTRY + "    chanel: {type: console}\n",
        {},
        ["subscriptions[0]: unknown key 'chanel' (did you mean 'channel'?)", "(line 2)"],
    ),
    (
        "subscriptions:\n" + ENTRY + "    channel: {type: console}\n    filters: {technolgies: [a]}\n",
        {},
        ["subscriptions[0].filters: unknown key 'technolgies' (did you mean 'technologies'?)", "(line 6)"],
    ),
    (
        "subscriptions:\n  - {name: n, channel: {type: console}}\n",
        {},
        ["subscriptions[0].id: Field required"],
    ),
    (
        "subscriptions:\n  - {id: a, owner: o, channel: {type: console}}\n",
        {},
        ["subscriptions[0].name: Field"],
    ),
    # ids and owners
    (
        "subscriptions:\n  - {id: a b, owner: o, name: n, channel: {type: console}}\n",
        {},
        ["subscriptions[0].id: ids and owners are 1-128 letters"],
    ),
    (
        "subscriptions:\n  - {id: a, owner: '', name: n, channel: {type: console}}\n",
        {},
        ["subscriptions[0].owner: ids and owners"],
    ),
    (
        "subscriptions:\n"
        "  - {id: a, owner: o, name: n, channel: {type: console}}\n"
        "  - {id: b, owner: o, name: n, channel: {type: console}}\n"
        "  - {id: a, owner: p, name: n, channel: {type: console}}\n",
        {},
        ["1 problem:", "subscriptions[2].id: duplicate id 'a', also subscriptions[0] (line 4)"],
    ),
    # variables
    (
        "subscriptions:\n" + ENTRY + "    channel: {type: slack, url: '${SLACK_URL}'}\n",
        {},
        ["1 problem: subscriptions[0].channel.url: environment variable SLACK_URL is not set (line 5)"],
    ),
    (
        "subscriptions:\n" + ENTRY + "    channel: {type: slack, url: '${SLACK_URL}'}\n",
        {"SLACK_URL": ""},
        ["subscriptions[0].channel.url: environment variable SLACK_URL is empty"],
    ),
    (
        "subscriptions:\n" + ENTRY + "    channel: {type: email, to: ['${TO}']}\n",
        {},
        ["1 problem: subscriptions[0].channel.to[0]: environment variable TO is not set"],
    ),
    (
        "subscriptions:\n" + ENTRY + "    channel: {type: slack, url: '${1URL}'}\n",
        {},
        ["subscriptions[0].channel.url: ${1URL} is not a variable reference"],
    ),
    (
        "subscriptions:\n" + ENTRY + "    channel: {type: slack, url: '${URL'}\n",
        {"URL": "x"},
        ["subscriptions[0].channel.url: ${ without a closing } is not a variable reference"],
    ),
    # channels
    (
        "subscriptions:\n" + ENTRY + "    channel: {type: pager}\n",
        {},
        ["subscriptions[0].channel: Input tag 'pager' found using 'type' does not match"],
    ),
    (
        "subscriptions:\n" + ENTRY + "    channel: {url: x}\n",
        {},
        ["subscriptions[0].channel: a channel needs a type: one of slack, webhook, email, console, file"],
    ),
    (
        "subscriptions:\n" + ENTRY + "    channel: {type: slack}\n",
        {},
        ["subscriptions[0].channel.url: Field required (line 5)"],
    ),
    (
        "subscriptions:\n" + ENTRY + "    channel: {type: webhook, url: u, secret: short}\n",
        {},
        ["subscriptions[0].channel.secret: the signing secret must have at least 16 characters"],
    ),
    (
        "subscriptions:\n" + ENTRY + "    channel: {type: email, to: [nobody]}\n",
        {},
        ["subscriptions[0].channel.to: not an e-mail address: 'nobody'"],
    ),
    # filters and digests
    (
        "subscriptions:\n" + ENTRY + "    channel: {type: console}\n    filters: {destinations: [China]}\n",
        {},
        ["subscriptions[0].filters.destinations[0]: unknown destination 'China'; did you mean 'CN' (China)?"],
    ),
    (
        "subscriptions:\n" + ENTRY + "    channel: {type: console}\n    filters: {min_severity: urgent}\n",
        {},
        ["subscriptions[0].filters.min_severity: Input should be 'low', 'medium', 'high' or 'critical'"],
    ),
    (
        "subscriptions:\n" + ENTRY + "    channel: {type: console}\n    digest: {every: daily}\n",
        {},
        ["subscriptions[0]: digest settings need mode: digest"],
    ),
    (
        "subscriptions:\n" + ENTRY + "    channel: {type: console}\n    mode: digest\n"
        "    digest: {timezone: Europe/Amsterdan}\n",
        {},
        ["subscriptions[0].digest.timezone: unknown time zone 'Europe/Amsterdan'"],
    ),
    (
        "subscriptions:\n" + ENTRY + "    channel: {type: console}\n    mode: digest\n"
        "    digest: {every: hourly, at: '08:00'}\n",
        {},
        ["subscriptions[0].digest: hourly digests take"],
    ),
    (
        "subscriptions:\n" + ENTRY + "    channel: {type: console}\n    mode: weekly\n",
        {},
        ["subscriptions[0].mode: Input should be 'immediate' or 'digest'"],
    ),
]


@pytest.mark.parametrize(("text", "env", "expected"), ERRORS)
def test_errors(text: str, env: dict[str, str], expected: list[str]) -> None:
    message = error(text, env)
    assert message.startswith("subs.yaml: ")
    for part in expected:
        assert part in message


def test_every_problem_is_listed_in_file_order() -> None:
    message = error(
        """
        subscriptions:
          - id: a
            owner: o
            name: n
            chanel: {type: console}
          - id: a
            owner: bad owner
            name: n
            channel: {type: slack, url: "${MISSING}"}
          - id: c
            owner: o
            name: ""
            channel: {type: console}
        """
    )
    expected = [
        "subscriptions[0]: unknown key 'chanel'",
        "subscriptions[1].channel.url: environment variable MISSING is not set (line 10)",
        "subscriptions[1].id: duplicate id 'a', also subscriptions[0] (line 7)",
        "subscriptions[1].owner: ids and owners",
        "subscriptions[2].name: String should have at least 1 character (line 13)",
    ]
    assert message.startswith("subs.yaml: 5 problems: ")
    positions = [message.index(part) for part in expected]
    assert positions == sorted(positions)


SECRETS = {
    "SLACK": "https://hooks.slack.com/services/T1/B1/XyZsecretSlack",
    "SHORT_SECRET": "hunter2hunter2",  # too short for a webhook
    "WEBHOOK_URL": "https://receiver.example.org/path?token=sekrit-token-9",
    "MAIL": "sekrit-mailbox-without-at",
    "ZONE": "Sekrit/Zone",
    "SEVERITY": "sekrit-severity",
    "CODE": "SX",
    "LOWER": "lowsekrit",  # shown upper-cased by the destinations check
    "LONG": "long-sekrit-" * 10,  # shown cut at 80 characters by the e-mail check
    "UNUSED": "never-used-sekrit",
}


def test_values_from_the_environment_never_appear_in_errors() -> None:
    message = error(
        """
        subscriptions:
          - id: hook
            owner: o
            name: n
            channel: {type: webhook, url: "${WEBHOOK_URL}", secret: "${SHORT_SECRET}"}
            filters:
              min_severity: "${SEVERITY}"
              destinations: ["${CODE}", "not a code ${CODE}", "${LOWER}"]
          - id: mail
            owner: o
            name: n
            channel: {type: email, to: ["${LONG}", "${MAIL}"]}
            mode: digest
            digest: {timezone: "${ZONE}"}
          - id: slack
            owner: o
            name: n
            chanel: {type: slack, url: "${SLACK}"}
          - id: slack
            owner: o
            name: "${SLACK}"
            channel: {type: slack, url: "prefix ${SLACK}"}
            mode: "${SLACK}"
        """,
        SECRETS,
    )
    for value in SECRETS.values():
        if len(value) > 2:
            assert value not in message
    assert "sekrit" not in message.lower() and "hunter2" not in message
    # the operator still sees where, and what the file says there
    assert "subscriptions[1].channel.to: not an e-mail address: '${LONG}' (line 13)" in message
    assert "subscriptions[1].digest.timezone: unknown time zone '${ZONE}'" in message
    assert "subscriptions[0].channel.secret: the signing secret must have at least 16 characters" in message
