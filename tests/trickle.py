"""A target that answers a byte at a time: it never lets a read time out, so only an overall deadline
cuts it off (what an attacker's webhook endpoint does to hold a sender)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

ANSWER = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"


@contextlib.asynccontextmanager
async def trickling_target(every: float = 0.3) -> AsyncIterator[str]:
    """A local HTTP server that reads a request, then sends its answer one byte every ``every`` seconds
    (13 s in all at 0.3); yields its URL."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            await reader.readuntil(b"\r\n\r\n")
            for byte in ANSWER:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(every)
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 2)
