"""The local stack's console token: made in the run's own notify database through notify's store, good
for the researcher as an API token, kept in a file only this user can read, and removed at the end."""

from __future__ import annotations

import asyncio
import datetime as dt
import stat
from pathlib import Path

from services.notify.store.repository import TOKEN_PREFIX, NotifyStore
from tools.stack import CONSOLE_OWNER, RunSecrets, notify_database

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


async def _owner(url: str, token: str) -> tuple[str, bool] | None:
    store = await NotifyStore.open(url)
    try:
        return await store.tokens.owner_of(token)
    finally:
        await store.close()


def test_a_run_makes_a_researcher_token_in_its_notify_database(tmp_path: Path) -> None:
    run = RunSecrets.write(tmp_path, NOW)
    assert run.console_token.startswith(TOKEN_PREFIX)
    assert (tmp_path / "notify.db").is_file(), "the store gave the fresh database its schema"
    assert asyncio.run(_owner(notify_database(tmp_path), run.console_token)) == (CONSOLE_OWNER, False)
    for path, secret in ((run.console_file, run.console_token), (run.push_file, run.push_token)):
        assert path.read_text(encoding="utf-8") == secret + "\n"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert run.console_file == tmp_path / "console-token"


def test_each_run_has_its_own_token_and_removes_its_files(tmp_path: Path) -> None:
    first = RunSecrets.write(tmp_path, NOW)
    second = RunSecrets.write(tmp_path, NOW)
    assert first.console_token != second.console_token
    assert (tmp_path / "console-token").read_text(encoding="utf-8") == second.console_token + "\n"
    second.remove()
    assert not second.console_file.exists() and not second.push_file.exists()
    second.remove()  # twice is harmless (the stop path may run after a failed start)
