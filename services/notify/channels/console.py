"""Console and file channels for the embedded default: notifications readable on stdout, JSON lines in
a file."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Literal, TextIO

from pydantic import Field

from schemas import Notification
from services.notify.channels.base import ChannelContext, ChannelType, target_id
from services.notify.core.fields import ChannelConfig
from services.notify.core.render import render_notification_text


class ConsoleSettings(ChannelConfig):
    type: Literal["console"]


class FileSettings(ChannelConfig):
    type: Literal["file"]
    path: Path = Field(description="JSON Lines file every notification is appended to.")


class ConsoleChannel:
    type = "console"
    target = "console"

    def __init__(
        self,
        settings: ConsoleSettings | None = None,
        ctx: ChannelContext | None = None,
        stream: TextIO | None = None,
    ) -> None:
        self.stream = stream or sys.stdout

    async def send(self, notification: Notification) -> None:
        self.stream.write(render_notification_text(notification) + "\n\n")
        self.stream.flush()


class FileChannel:
    """Appends each notification as one JSON line: the local record of what was delivered."""

    type = "file"

    def __init__(self, settings: FileSettings, ctx: ChannelContext | None = None) -> None:
        self.path = Path(settings.path)
        self.target = target_id("file", str(self.path))
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _append(self, line: str) -> None:
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    async def send(self, notification: Notification) -> None:
        await asyncio.to_thread(self._append, notification.model_dump_json())


# Both write on the server itself: only the admin and the subscriptions file may use them.
CONSOLE = ChannelType("console", ConsoleSettings, ConsoleChannel, owners=False)
FILE = ChannelType("file", FileSettings, FileChannel, owners=False)
