"""Deployment files stay valid and in step with the code: compose schema, real settings names,
replicas, health checks, no literal secrets, a Prometheus configuration promtool accepts."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.common.settings import CommonSettings, ServiceSettings
from services.ingest.settings import IngestSettings
from services.match.settings import MatchSettings
from services.notify.settings import NotifySettings
from tests.conftest import ROOT

COMPOSE = ROOT / "compose.yaml"
PROMETHEUS = ROOT / "deploy" / "prometheus" / "prometheus.yml"
SETTINGS: dict[str, type[ServiceSettings]] = {
    "ingest": IngestSettings,
    "match": MatchSettings,
    "notify": NotifySettings,
}


def _env_names(settings: type[ServiceSettings]) -> set[str]:
    common = {f"EXPORTWATCH_{name.upper()}" for name in CommonSettings.model_fields}
    prefix = settings.model_config.get("env_prefix", "")
    own = {f"{prefix}{name.upper()}" for name in settings.model_fields if name != "common"}
    return common | own


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def test_compose_matches_the_compose_specification() -> None:
    exe = Path(sys.executable).with_name("check-jsonschema")
    result = subprocess.run(
        [str(exe), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_services_scale_out_and_are_supervised(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["match"]["deploy"]["replicas"] == 2
    assert services["notify"]["deploy"]["replicas"] == 2
    assert "KRaft" in COMPOSE.read_text() and services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    for name in ("kafka", "ingest", "match", "notify", "prometheus"):
        assert services[name]["restart"] == "unless-stopped", name
        assert "healthcheck" in services[name], name
    for name in SETTINGS:
        assert services[name]["command"] == ["serve", name]
        assert services[name]["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert services["topics"]["command"] == ["topics"]
    assert services["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_every_variable_is_a_real_setting(compose: dict[str, Any], name: str) -> None:
    environment = compose["services"][name]["environment"]
    known = _env_names(SETTINGS[name])
    unknown = sorted(k for k in environment if k.startswith("EXPORTWATCH_") and k not in known)
    assert not unknown, f"{name}: {unknown} are not settings of the service"
    port = environment[f"EXPORTWATCH_{name.upper()}_HTTP_PORT"]
    assert str(port) in " ".join(compose["services"][name]["healthcheck"]["test"])


def test_env_example_documents_real_settings() -> None:
    names = {
        line.split("=", 1)[0]
        for line in (ROOT / "deploy" / "env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    known = set().union(*(_env_names(s) for s in SETTINGS.values()))
    assert {n for n in names if n.startswith("EXPORTWATCH_")} <= known


def test_no_secret_values_in_compose() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    assert not re.search(r"(?i)(token|password|secret|webhook_urls)\w*:\s*['\"]?[^$\s'\"]", text), (
        "secrets must come from .env or the environment, never literals in compose.yaml"
    )
    assert not re.search(r"https?://[^\s'\"]*[?&](token|key|sig)=", text)


def test_prometheus_scrapes_every_service() -> None:
    config = yaml.safe_load(PROMETHEUS.read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for name, port in (("ingest", 8081), ("match", 8082), ("notify", 8083)):
        (sd,) = jobs[name]["dns_sd_configs"]
        assert sd["names"] == [name] and sd["port"] == port


def test_promtool_accepts_the_prometheus_configuration() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        assert os.environ.get("CI") != "true", "CI must have promtool: .ci/run installs Debian's prometheus"
        pytest.skip("promtool not installed (Debian package prometheus); .ci/run installs it")
    result = subprocess.run(
        [promtool, "check", "config", str(PROMETHEUS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_runs_as_non_root_with_one_entrypoint() -> None:
    text = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^USER exportwatch", text, re.MULTILINE)
    assert 'ENTRYPOINT ["exportwatch"]' in text
    assert text.count("FROM ") == 2, "multi-stage: no build tools in the final image"


def test_production_sources_file_is_valid() -> None:
    from services.ingest.core.config import load_sources

    specs = load_sources(ROOT / "deploy" / "ingest" / "sources.yaml")
    assert {s.name for s in specs} >= {"amnesty-en", "inbox"}
    assert all(s.url is None or s.url.startswith("https://") for s in specs)
