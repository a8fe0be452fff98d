"""The suite's own guard: a skipped broker test (or any skip under CI=true) fails the run."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT

pytest_plugins = ["pytester"]


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest((ROOT / "tests" / "conftest.py").read_text(encoding="utf-8"))
    pytester.makeini("[pytest]\nmarkers =\n    broker: needs the broker\n")
    return pytester


def test_a_skipped_broker_test_fails_the_run(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    suite.makepyfile(
        "import pytest\n\n@pytest.mark.broker\ndef test_needs_broker():\n    pytest.skip('no broker')\n"
    )
    result = suite.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*skipped that must run*test_needs_broker*"])


def test_any_skip_fails_under_ci(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    suite.makepyfile("import pytest\n\ndef test_other():\n    pytest.skip('later')\n")
    assert suite.runpytest_subprocess().ret == pytest.ExitCode.TESTS_FAILED


def test_a_plain_skip_outside_ci_is_allowed(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    suite.makepyfile("import pytest\n\ndef test_other():\n    pytest.skip('later')\n")
    assert suite.runpytest_subprocess().ret == pytest.ExitCode.OK
