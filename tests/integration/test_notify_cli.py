"""`exportwatch notify check` and `exportwatch serve notify` with a subscriptions file whose filters name
unknown ids: every problem at once, each with its place, line and the closest known id; a non-zero
exit status and no traceback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from services.notify.store.repository import NotifyStore
from tests.conftest import exportwatch

BAD = """\
subscriptions:
  - id: amnesty-slack
    owner: amnesty
    name: Facial recognition to China
    filters: {technologies: [facial-recognition], destinations: [CN]}
    channel: {type: console}
  - id: gulf
    owner: accessnow
    name: Spyware to the Gulf
    filters:
      technologies: [spywar, video-surveillance]
      destinations: [AE, XX, Rusia]
      entities: [nso]
    channel: {type: console}
  - id: forensics
    owner: accessnow
    name: Phone forensics
    filters: {technologies: [phone-forensic]}
    channel: {type: console}
"""
PROBLEMS = [
    "  subscriptions[1].filters.destinations[1]: unknown destination 'XX': use the ISO alpha-2 code of a "
    "country the watchlists know, such as CN or AE (line 12)",
    "  subscriptions[1].filters.destinations[2]: unknown destination 'Rusia'; did you mean 'RU' (Russia)? "
    "(line 12)",
    "  subscriptions[1].filters.entities[0]: unknown vendor 'nso'; did you mean 'nso-group'? (line 13)",
    "  subscriptions[1].filters.technologies[0]: unknown technology 'spywar'; did you mean 'spyware'? "
    "(line 11)",
    "  subscriptions[2].filters.technologies[0]: unknown technology 'phone-forensic'; did you mean "
    "'phone-forensics'? (line 18)",
]


@pytest.fixture
def bad_file(tmp_path: Path) -> Path:
    path = tmp_path / "subscriptions.yaml"
    path.write_text(BAD, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("EXTRA_TECHNOLOGIES", "EXTRA_DESTINATIONS", "EXTRA_VENDORS", "SUBSCRIPTIONS_FILE"):
        monkeypatch.delenv(f"EXPORTWATCH_NOTIFY_{name}", raising=False)
    # A database of its own, never the one in this folder (serve must stop before it opens it).
    monkeypatch.setenv("EXPORTWATCH_NOTIFY_DATABASE_URL", f"sqlite:///{tmp_path / 'notify.db'}")


def test_check_prints_every_problem_with_its_place_and_suggestion(bad_file: Path) -> None:
    result = exportwatch("notify", "check", bad_file)
    assert result.returncode == 1, result
    assert result.stdout == ""
    assert result.stderr.splitlines() == [f"{bad_file}: 5 problems:", *PROBLEMS]


def test_check_knows_the_ids_an_operator_added(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "subscriptions.yaml"
    path.write_text(
        "subscriptions:\n"
        "  - id: acme\n"
        "    owner: amnesty\n"
        "    name: Acme drones to Mongolia\n"
        "    filters: {technologies: [drones], destinations: [MN], entities: [acme]}\n"
        "    channel: {type: console}\n",
        encoding="utf-8",
    )
    refused = exportwatch("notify", "check", path)
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"{path}: 3 problems:\n"), refused.stderr
    monkeypatch.setenv("EXPORTWATCH_NOTIFY_EXTRA_TECHNOLOGIES", "drones")
    monkeypatch.setenv("EXPORTWATCH_NOTIFY_EXTRA_DESTINATIONS", "MN")
    monkeypatch.setenv("EXPORTWATCH_NOTIFY_EXTRA_VENDORS", "acme")
    accepted = exportwatch("notify", "check", path)
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout == "acme: Acme drones to Mongolia (owner amnesty, console, immediate)\n"
    monkeypatch.setenv("EXPORTWATCH_NOTIFY_EXTRA_DESTINATIONS", "Mongolia")
    wrong = exportwatch("notify", "check", path)
    assert wrong.returncode == 2
    assert "EXPORTWATCH_NOTIFY_* settings" in wrong.stderr and "'MONGOLIA'" in wrong.stderr


def test_check_reports_a_hostile_url_as_a_problem_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "subscriptions.yaml"
    path.write_text(
        "subscriptions:\n"
        "  - id: emoji\n"
        "    owner: amnesty\n"
        "    name: Emoji host\n"
        "    channel: {type: slack, url: 'http://xn--ls8h.example/'}\n"
        "  - id: port\n"
        "    owner: amnesty\n"
        "    name: Port out of range\n"
        "    channel: {type: webhook, url: 'http://h:99999/', secret: 'sixteen-characters'}\n",
        encoding="utf-8",
    )
    result = exportwatch("notify", "check", path)
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == f"{path}: 2 problems:", result.stderr
    assert "subscriptions[0].channel.url: the URL's host name is not valid IDNA" in lines[1], lines
    assert "subscriptions[1].channel.url: the URL has an invalid port" in lines[2], lines
    assert "xn--ls8h" not in result.stderr and "99999" not in result.stderr


def test_the_admin_owner_name_is_reserved_for_tokens_and_the_file(tmp_path: Path) -> None:
    async def create_database() -> None:
        await (await NotifyStore.open(f"sqlite:///{tmp_path / 'notify.db'}")).close()

    asyncio.run(create_database())
    assert exportwatch("notify", "token", "alice").returncode == 0  # the database takes tokens
    for owner in ("admin", "Admin"):
        token = exportwatch("notify", "token", owner)
        assert token.returncode == 2, token
        assert token.stdout == "" and "'admin' is reserved for the admin token" in token.stderr, token.stderr
    path = tmp_path / "subscriptions.yaml"
    path.write_text(
        "subscriptions:\n"
        "  - id: admins\n"
        "    owner: admin\n"
        "    name: The admin's, through the file\n"
        "    channel: {type: console}\n",
        encoding="utf-8",
    )
    result = exportwatch("notify", "check", path)
    assert result.returncode == 1, result
    assert "subscriptions[0].owner:" in result.stderr and "reserved for the admin token" in result.stderr


def test_notify_does_not_start_with_unknown_ids_and_says_why(
    bad_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPORTWATCH_NOTIFY_SUBSCRIPTIONS_FILE", str(bad_file))
    result = exportwatch("serve", "notify")
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.splitlines()
    assert lines[0] == f"exportwatch serve notify: not started: {bad_file}: 5 problems:"
    assert lines[1:] == PROBLEMS


def test_notify_does_not_start_without_its_subscriptions_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nowhere.yaml"
    monkeypatch.setenv("EXPORTWATCH_NOTIFY_SUBSCRIPTIONS_FILE", str(missing))
    result = exportwatch("serve", "notify")
    assert result.returncode == 2, result
    assert result.stderr == (
        f"exportwatch serve notify: not started: {missing}: cannot read the subscriptions file: "
        "No such file or directory\n"
    )
