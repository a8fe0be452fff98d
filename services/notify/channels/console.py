"""Console and file channels for the embedded default: alerts readable on stdout, JSON lines in a file."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TextIO

from schemas import Alert
from services.notify.core.render import render_text


class ConsoleChannel:
    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    async def send(self, alert: Alert) -> None:
        self.stream.write(render_text(alert) + "\n\n")
        self.stream.flush()

    async def close(self) -> None:
        return None


class FileChannel:
    """Appends each alert as one JSON line; the file is the local record of what was delivered."""

    name = "file"

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def _append(self, line: str) -> None:
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    async def send(self, alert: Alert) -> None:
        await asyncio.to_thread(self._append, alert.model_dump_json())

    async def close(self) -> None:
        return None
