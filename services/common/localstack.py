"""What a running local stack (``exportwatch stack``) tells other commands: where its folder and its
notify database are, and its ports. ``exportwatch notify token`` run in another terminal, from any
folder, then uses the stack's database instead of making an empty one of its own.

The note is a small JSON file in the user's state folder (``$XDG_STATE_HOME/exportwatch/stack.json``,
by default under ``~/.local/state``), written when the stack has started and removed when it stops; a
note left by a stack that died is ignored (its process is gone).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True)
class StackInfo:
    pid: int
    workdir: str
    notify_database_url: str
    ingest_port: int
    notify_port: int


def state_file(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "exportwatch" / "stack.json"


def publish(info: StackInfo) -> Path:
    """Write the note (atomically: a reader never sees half of it)."""
    path = state_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".stack.{os.getpid()}.json")
    tmp.write_text(json.dumps(asdict(info), indent=2), encoding="utf-8")
    tmp.replace(path)
    return path


def withdraw(pid: int) -> None:
    """Remove the note if it is this stack's (another stack may have started since)."""
    info = running(check_alive=False)
    if info is not None and info.pid == pid:
        with contextlib.suppress(OSError):
            state_file().unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running(check_alive: bool = True) -> StackInfo | None:
    """The running stack's note, or None (no note, an unreadable one, or its process is gone)."""
    try:
        data: Any = json.loads(state_file().read_text(encoding="utf-8"))
        info = StackInfo(**data)
    except (OSError, ValueError, TypeError):
        return None
    if check_alive and not _alive(info.pid):
        return None
    return info


def sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///…`` URL (relative to the current folder, as SQLAlchemy reads it), None
    for other databases and for in-memory SQLite."""
    parts = urlsplit(url)
    if not parts.scheme.startswith("sqlite"):
        return None
    path = unquote(parts.path)
    if path in ("", "/", "/:memory:"):
        return None
    return Path(path[1:]) if path.startswith("/") else Path(path)
