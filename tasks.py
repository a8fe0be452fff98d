#!/usr/bin/env python3
"""The two set-up commands, with nothing but Python 3.11+ needed to start them.

    python3 tasks.py run    # embedded broker + the three services + bundled samples; alerts on screen
    python3 tasks.py test   # ruff, mypy and the whole test suite (what .ci/run calls)

Each creates or reuses ``.venv`` and installs the project into it when pyproject.toml changed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("EXPORTWATCH_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def _stamp() -> Path:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    return VENV / f".installed-{digest}"


def ensure_venv() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this file runs before any venv exists
        sys.exit(f"ExportWatch needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print(f"creating {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = _stamp()
    if stamp.exists():
        return
    print("installing ExportWatch and its dependencies into the virtual environment ...", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "install", "-e", f"{ROOT}[dev]"], check=True)
    for old in VENV.glob(".installed-*"):
        old.unlink()
    stamp.touch()


def run(*cmd: str) -> int:
    print("$ " + " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=ROOT, check=False).returncode


def main() -> int:
    task = sys.argv[1] if len(sys.argv) > 1 else ""
    extra = sys.argv[2:]
    if task not in ("run", "test"):
        print(__doc__)
        return 2
    ensure_venv()
    if task == "run":
        # Become the stack process: Ctrl-C and SIGTERM reach it directly and it shuts down in order.
        # (subprocess.run would SIGKILL it a quarter second after a Ctrl-C, orphaning the services.)
        os.chdir(ROOT)
        exe = str(BIN / "exportwatch")
        os.execv(exe, [exe, "stack", *extra])  # noqa: S606 - our own entry point, no shell
    steps = [
        (str(BIN / "ruff"), "check", "."),
        (str(BIN / "ruff"), "format", "--check", "."),
        (str(BIN / "mypy"),),
        (str(BIN / "exportwatch"), "schemas", "--check"),
    ]
    for step in steps:
        if run(*step) != 0:
            print(f"FAILED: {' '.join(step)}", file=sys.stderr)
            return 1
    return run(str(BIN / "pytest"), *(extra or ["-ra"]))


if __name__ == "__main__":
    sys.exit(main())
