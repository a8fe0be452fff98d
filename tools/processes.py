"""Child processes that cannot outlive the process that started them."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGTERM when its parent dies (Linux), so a killed stack
    or test run leaves no broker or service behind. None elsewhere.

    libc is loaded here, in the parent: between fork and exec the child only makes the prctl call
    (finding the library would run ldconfig in a half-forked, possibly threaded process)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def set_parent_death_signal() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)

    return set_parent_death_signal


def spawn_service(
    name: str, env: Mapping[str, str], stdout: IO[bytes] | None, stderr: IO[bytes] | None
) -> subprocess.Popen[bytes]:
    """``exportwatch serve NAME`` as a child of this process (call it from the main thread: the child
    gets SIGTERM when the thread that started it ends). No stdin; its own session, so a Ctrl-C reaches
    only this process, which stops the services in order."""
    return subprocess.Popen(
        [sys.executable, "-m", "tools.cli", "serve", name],
        env=dict(env),
        stdout=stdout,
        stderr=stderr,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=die_with_parent(),  # noqa: PLW1509 - only calls prctl
    )


def stop_in_order(
    procs: Mapping[str, subprocess.Popen[bytes]], order: Sequence[str], timeout: float
) -> list[str]:
    """SIGTERM the running processes of ``procs`` one at a time in ``order``, waiting up to ``timeout``
    seconds for each; kill one that does not stop. Returns the names of those killed."""
    killed: list[str] = []
    for name in order:
        proc = procs.get(name)
        if proc is None or proc.poll() is not None:
            continue
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            killed.append(name)
            proc.kill()
            proc.wait(5)
    return killed


def peak_rss_mib(pid: int) -> float | None:
    """Peak resident memory of a live process in MiB (the kernel's high-water mark, Linux /proc), None
    when unknown."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


def cpu_seconds(pid: int | None) -> float | None:
    """User plus system CPU seconds of a live process (Linux /proc), None when unknown."""
    if pid is None:
        return None
    with contextlib.suppress(OSError, ValueError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return None
