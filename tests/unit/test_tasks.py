"""The README's test command does the whole set-up itself: CI's entry point only calls it, and on a
machine without promtool, prometheus, kubectl or chromium it installs them (Debian packages, as root) with the
packages' daemons kept from starting."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import ROOT


def _tasks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("exportwatch_tasks", ROOT / "tasks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ci_only_calls_the_readme_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [
        line.strip() for line in script.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    assert commands[-1] == 'exec "$PY" tasks.py test'
    for word in ("apt-get", "pg_ctlcluster", "policy-rc.d", "pip install"):
        assert word not in script, f".ci/run does set-up of its own ({word}); tasks.py test must do it"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "python3 tasks.py test" in readme and "promtool" in readme


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="installs as root; CI runs as root")
def test_missing_programs_are_installed_as_debian_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks = _tasks()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.log"
    policy = tmp_path / "policy-rc.d"
    # A stand-in apt-get that records its arguments and whether the daemons were kept from starting.
    fake = bin_dir / "apt-get"
    fake.write_text(
        f'#!/bin/sh\necho "$* | policy: $(cat {policy} 2>/dev/null | tail -n1)" >> {calls}\n',
        encoding="utf-8",
    )
    fake.chmod(0o755)
    for tool in ("sh", "chmod", "rm", "cat", "tail"):
        (bin_dir / tool).symlink_to(next(p for d in ("/usr/bin", "/bin") if (p := Path(d) / tool).exists()))
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("EXPORTWATCH_TEST_POSTGRES", "postgresql://elsewhere/test")  # no PostgreSQL start
    monkeypatch.delenv("EXPORTWATCH_NO_SYSTEM_INSTALL", raising=False)
    monkeypatch.setattr(tasks, "POLICY_RC", policy)

    tasks.ensure_system_programs()

    lines = calls.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("update")
    assert lines[1].startswith("install -y -qq --no-install-recommends chromium kubectl prometheus")
    assert lines[1].endswith("policy: exit 101"), "the prometheus package must not start its own server"
    assert not policy.exists(), "the policy file we made is removed afterwards"


def test_nothing_is_installed_when_asked_not_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks = _tasks()
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("EXPORTWATCH_NO_SYSTEM_INSTALL", "1")
    monkeypatch.setenv("EXPORTWATCH_TEST_POSTGRES", "postgresql://elsewhere/test")
    tasks.ensure_system_programs()
    err = capsys.readouterr().err
    assert "promtool, prometheus, kubectl" in err and "the tests that need them will fail" in err


def test_the_suite_runs_the_unit_layer_first_with_its_budget_then_every_other_layer(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks = _tasks()
    calls: list[tuple[str, ...]] = []
    results = iter([1, 0])  # the unit layer fails: the rest still runs, and the run fails
    monkeypatch.setattr(tasks, "run", lambda *cmd: calls.append(cmd) or next(results))
    assert tasks.run_layers() == 1
    unit, rest = calls
    assert unit[-1] == "tests/unit"
    assert rest[-2:] == ("tests", "--ignore=tests/unit")
    assert "tests/unit: " in capsys.readouterr().out and tasks.UNIT_BUDGET_SECONDS == 15
    layers = {p.name for p in (ROOT / "tests").iterdir() if p.is_dir() and any(p.glob("test_*.py"))}
    assert layers == {"unit", "component", "integration", "e2e", "deploy", "hostile", "browser"}
