"""docs/settings.md is generated from the settings classes and cannot go stale: every ``EXPORTWATCH_*``
setting has a row, every field says what it is for, and no secret's default is printed in clear."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import SecretStr

from services.common.settings import CommonSettings, ServiceSettings
from tests.conftest import ROOT
from tools import cli, settingsdoc


def test_checked_in_document_is_current() -> None:
    assert settingsdoc.DOCUMENT == ROOT / "docs" / "settings.md"
    assert settingsdoc.DOCUMENT.is_file(), "docs/settings.md missing: run `exportwatch settings-doc`"
    assert settingsdoc.DOCUMENT.read_text(encoding="utf-8") == settingsdoc.render(), (
        "docs/settings.md is stale: run `exportwatch settings-doc`"
    )


def test_every_settings_class_has_a_section() -> None:
    documented = {section.settings for section in settingsdoc.sections()}
    assert documented == {CommonSettings, *ServiceSettings.__subclasses__()}


def test_every_field_has_a_description() -> None:
    missing = [
        row.variable
        for section in settingsdoc.sections()
        for row in settingsdoc.rows(section)
        if not row.description
    ]
    assert not missing, "settings without Field(description=...): " + ", ".join(missing)


def test_every_environment_variable_has_one_row() -> None:
    text = settingsdoc.render()
    names = [row.variable for section in settingsdoc.sections() for row in settingsdoc.rows(section)]
    assert len(names) == len(set(names))
    for name in names:
        assert text.count(f"| `{name}` |") == 1, name
    # The shared settings, including Kafka's connection fields, are documented once, not per service.
    assert "`EXPORTWATCH_KAFKA_BOOTSTRAP`" in text and "`EXPORTWATCH_INGEST_COMMON`" not in text
    assert "| `EXPORTWATCH_NOTIFY_HTTP_PORT` | integer (≥ 0, ≤ 65535) | `8083` |" in text


def test_every_variable_the_code_reads_is_documented() -> None:
    """A name read with os.environ (a tool's, a test's) is not a settings field; it must be listed in
    OTHER_VARIABLES, so that docs/settings.md really has every EXPORTWATCH_* variable."""
    settings = {row.variable for section in settingsdoc.sections() for row in settingsdoc.rows(section)}
    others = {name for name, _ in settingsdoc.OTHER_VARIABLES}
    assert not settings & others
    name = re.compile(r"EXPORTWATCH_[A-Z0-9_]*[A-Z0-9]\b")
    files = [ROOT / "tasks.py", *(ROOT / "services").rglob("*.py"), *(ROOT / "schemas").rglob("*.py")]
    files += [p for p in (ROOT / "tests").rglob("*.py") if p.name != Path(__file__).name]
    unknown: dict[str, str] = {}
    for path in files:
        for found in name.findall(path.read_text(encoding="utf-8")):
            # a prefix such as EXPORTWATCH_KAFKA (code that handles a group of settings) is fine
            if found in settings | others or any(s.startswith(found + "_") for s in settings | others):
                continue
            unknown.setdefault(found, str(path.relative_to(ROOT)))
    assert not unknown, f"EXPORTWATCH_* names documented nowhere (add them to OTHER_VARIABLES): {unknown}"


def test_secret_defaults_are_never_shown_in_clear() -> None:
    secrets = [row for section in settingsdoc.sections() for row in settingsdoc.rows(section) if row.secret]
    assert {"EXPORTWATCH_KAFKA_SASL_PASSWORD", "EXPORTWATCH_NOTIFY_ADMIN_TOKEN"} <= {
        r.variable for r in secrets
    }
    for row in secrets:
        assert row.default in ("none", "empty", f"`{SecretStr('x')}`"), (row.variable, row.default)
        assert "://" not in row.default, row.variable  # a database URL may carry its password


def test_document_does_not_depend_on_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    rendered = settingsdoc.render()
    monkeypatch.setenv("EXPORTWATCH_KAFKA_BOOTSTRAP", "elsewhere:9093")
    monkeypatch.setenv("EXPORTWATCH_NOTIFY_ADMIN_TOKEN", "s3cret-token")
    monkeypatch.setenv("EXPORTWATCH_INGEST_HTTP_PORT", "9999")
    assert settingsdoc.render() == rendered


def test_cli_writes_and_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "docs" / "settings.md"
    monkeypatch.setattr(settingsdoc, "DOCUMENT", out)
    assert cli.main(["settings-doc", "--check"]) == 1  # missing
    assert "stale settings reference" in capsys.readouterr().err
    assert cli.main(["settings-doc"]) == 0
    assert out.read_text(encoding="utf-8") == settingsdoc.render()
    assert cli.main(["settings-doc", "--check"]) == 0
    out.write_text(settingsdoc.render().replace("Kafka", "Kafca", 1), encoding="utf-8")
    assert cli.main(["settings-doc", "--check"]) == 1


def test_readme_points_to_the_reference() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Configuration") :]
    section = section[: section.index("\n## ", 1)]
    assert "docs/settings.md" in section
