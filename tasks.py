#!/usr/bin/env python3
"""The two set-up commands, with nothing but Python 3.11+ needed to start them.

    python3 tasks.py run    # embedded broker + the three services + bundled samples; alerts on screen
    python3 tasks.py test   # ruff, mypy, tests/unit (timed), then the other layers (what .ci/run calls)

Each creates or reuses ``.venv`` and installs the project into it when pyproject.toml changed. ``test``
also installs the programs the suite runs (promtool and prometheus, kubectl, chromium: Debian packages,
as root or with password-less sudo; EXPORTWATCH_NO_SYSTEM_INSTALL=1 turns that off), fetches axe-core
(the accessibility checker the browser tests inject) from the npm registry into .cache/, and starts the
machine's PostgreSQL when it is installed but stopped.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
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


# What the suite needs beyond the virtual environment: programs from the machine's packages. Each entry:
# the command, the Debian package that ships it, and what the suite does with it.
SYSTEM_PROGRAMS = (
    ("promtool", "prometheus", "checks the alert rules, their unit tests and every dashboard's PromQL"),
    ("prometheus", "prometheus", "scrapes the running services in an end-to-end test"),
    ("kubectl", "kubectl", "renders the Kubernetes kustomization"),
    ("chromium", "chromium", "drives the researchers' console in a real browser (tests/browser)"),
)


def _root_prefix() -> list[str] | None:
    """How to run a command as root: [] when we are root, ``sudo -n`` when it needs no password, else
    None (then nothing is installed and the tests that need a program say which one is missing)."""
    if os.name != "posix":
        return None
    if os.geteuid() == 0:
        return []
    if (
        shutil.which("sudo")
        and subprocess.run(["sudo", "-n", "true"], capture_output=True, check=False).returncode == 0
    ):
        return ["sudo", "-n"]
    return None


POLICY_RC = Path("/usr/sbin/policy-rc.d")


def _install_debian(packages: list[str], root: list[str]) -> bool:
    """Install Debian packages without starting their daemons (a policy-rc.d the machine already has is
    kept). True when apt-get succeeded."""
    policy = POLICY_RC
    made_policy = not policy.exists()
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        if made_policy:
            # exit 101: "action forbidden", so the prometheus package does not start its own server.
            subprocess.run(
                [*root, "sh", "-c", f"printf '#!/bin/sh\\nexit 101\\n' > {policy} && chmod +x {policy}"],
                check=True,
            )
        steps = [
            [*root, "apt-get", "update", "-qq"],
            [*root, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
        ]
        for step in steps:
            if subprocess.run(step, env=env, stdout=subprocess.DEVNULL, check=False).returncode != 0:
                return False
        return True
    finally:
        if made_policy:
            subprocess.run([*root, "rm", "-f", str(policy)], check=False)


def ensure_system_programs() -> None:
    """Install the programs the suite needs (Debian packages, as root or with password-less sudo) and
    start the machine's PostgreSQL if it is installed but stopped. Whatever cannot be done is said
    plainly; the tests that need it then fail and name it."""
    missing = [(cmd, pkg, why) for cmd, pkg, why in SYSTEM_PROGRAMS if shutil.which(cmd) is None]
    root = _root_prefix()
    if missing and os.environ.get("EXPORTWATCH_NO_SYSTEM_INSTALL"):
        root = None
    if missing:
        packages = sorted({pkg for _, pkg, _ in missing})
        if root is not None and shutil.which("apt-get"):
            for cmd, pkg, why in missing:
                print(f"installing {cmd} (Debian package {pkg}): the suite {why} ...", flush=True)
            if not _install_debian(packages, root):
                print(
                    f"could not install the Debian packages {', '.join(packages)}",
                    file=sys.stderr,
                    flush=True,
                )
        else:
            print(
                f"not installed and cannot be installed here: {', '.join(cmd for cmd, _, _ in missing)} "
                f"(Debian packages {', '.join(packages)}; apt-get as root or with password-less sudo, "
                "unless EXPORTWATCH_NO_SYSTEM_INSTALL is set); the tests that need them will fail",
                file=sys.stderr,
                flush=True,
            )
    _start_postgresql(root)


# axe-core, the accessibility checker tests/browser injects into the console's pages. It is an npm
# package, fetched without npm: the registry's metadata names the tarball and its sha512, and only the
# two files the tests need are kept. A new version is a new folder; the old one can be deleted.
AXE_VERSION = "4.14.1"
AXE_DIR = ROOT / ".cache" / "axe-core" / AXE_VERSION
AXE_FILES = {"package/axe.min.js": "axe.min.js", "package/LICENSE": "LICENSE"}
REGISTRY = "https://registry.npmjs.org"


def ensure_axe_core(target: Path = AXE_DIR, version: str = AXE_VERSION, registry: str = REGISTRY) -> bool:
    """Put axe.min.js (and its LICENSE) of axe-core ``version`` in ``target``, unless already there.
    True when it is there; otherwise says why, and the accessibility tests fail naming it."""
    if (target / "axe.min.js").is_file():
        return True
    print(f"fetching axe-core {version} from the npm registry (for the accessibility tests) ...", flush=True)
    try:
        with urllib.request.urlopen(f"{registry}/axe-core/{version}", timeout=30) as answer:  # noqa: S310
            dist = json.load(answer)["dist"]
        tarball, integrity = str(dist["tarball"]), str(dist["integrity"])
        if not tarball.startswith(f"{registry}/") or not integrity.startswith("sha512-"):
            raise ValueError(f"unexpected tarball {tarball!r} or integrity {integrity[:16]!r}")
        with urllib.request.urlopen(tarball, timeout=60) as answer:  # noqa: S310 - the registry's own URL
            data = answer.read()
        digest = base64.b64encode(hashlib.sha512(data).digest()).decode()
        if digest != integrity.removeprefix("sha512-"):
            raise ValueError("the downloaded tarball does not match the registry's sha512 (dist.integrity)")
        _extract_axe(data, target)
    except (OSError, ValueError, KeyError, tarfile.TarError) as exc:
        print(
            f"could not fetch axe-core {version} from {registry} ({exc}); the accessibility tests in "
            f"tests/browser will fail until {target / 'axe.min.js'} exists",
            file=sys.stderr,
            flush=True,
        )
        return False
    return True


def _extract_axe(data: bytes, target: Path) -> None:
    """Only the named members, written under our own names (never a path taken from the archive)."""
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member in archive.getmembers():
            if member.name in AXE_FILES and member.isfile():
                handle = archive.extractfile(member)
                if handle is not None:
                    found[AXE_FILES[member.name]] = handle.read()
    if "axe.min.js" not in found:
        raise ValueError("the axe-core tarball has no package/axe.min.js")
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for name, content in found.items():
        (partial / name).write_bytes(content)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)


def _start_postgresql(root: list[str] | None) -> None:
    """The PostgreSQL tests use the server on 127.0.0.1:5432 (``EXPORTWATCH_TEST_POSTGRES`` names
    another). Start the machine's own cluster if it is installed and not answering."""
    if os.environ.get("EXPORTWATCH_TEST_POSTGRES") or _port_open("127.0.0.1", 5432):
        return
    clusters = sorted(Path("/etc/postgresql").glob("*/main")) if Path("/etc/postgresql").is_dir() else []
    if root is None or not clusters or shutil.which("pg_ctlcluster") is None:
        print(
            "PostgreSQL does not answer on 127.0.0.1:5432 and cannot be started from here; the PostgreSQL "
            "tests will fail (start a server with trust auth and a database 'test', or set "
            "EXPORTWATCH_TEST_POSTGRES to a postgresql:// URL of a user that may create databases)",
            file=sys.stderr,
            flush=True,
        )
        return
    version = clusters[-1].parent.name
    print(f"starting PostgreSQL {version} (the machine's cluster 'main') ...", flush=True)
    subprocess.run(
        [*root, "pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], check=False
    )


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


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
    ensure_system_programs()
    ensure_axe_core()
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
    if extra:  # the caller chose what to run
        return run(str(BIN / "pytest"), *extra)
    return run_layers()


# The test pyramid (CONTRIBUTING.md, "Tests"): the pure unit layer runs first and alone, so its time is
# seen on every run; then every other layer in one session. Together they are the whole of tests/.
UNIT = "tests/unit"
UNIT_BUDGET_SECONDS = 15.0


def run_layers() -> int:
    """The unit layer, with its time against its budget (a report line: a loaded machine must not fail
    the run on time), then the rest of the suite. Both run even when the first fails; the exit status
    is the first failure's."""
    pytest = str(BIN / "pytest")
    began = time.monotonic()
    unit = run(pytest, "-ra", UNIT)
    took = time.monotonic() - began
    verdict = "within" if took <= UNIT_BUDGET_SECONDS else "OVER"
    print(
        f"{UNIT}: {took:.1f} s, {verdict} its budget of {UNIT_BUDGET_SECONDS:.0f} s"
        + ("" if took <= UNIT_BUDGET_SECONDS else " (a slow test belongs in another layer: CONTRIBUTING.md)"),
        flush=True,
    )
    rest = run(pytest, "-ra", "tests", f"--ignore={UNIT}")
    return unit or rest


if __name__ == "__main__":
    sys.exit(main())
