"""Deployment files stay valid and in step with the code: compose schema, real settings names,
replicas, health checks, no literal secrets, a Prometheus configuration promtool accepts."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.common.kafka import KafkaSettings, env_name
from services.common.settings import CommonSettings, ServiceSettings
from services.ingest.settings import IngestSettings
from services.match.settings import MatchSettings
from services.notify.settings import NotifySettings
from tests.conftest import ROOT, require_executable

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
    promtool = require_executable("promtool", "Debian package prometheus")
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
    from services.ingest.core.sources_file import load_sources

    specs = load_sources(ROOT / "deploy" / "ingest" / "sources.yaml")
    assert {s.name for s in specs} >= {"amnesty-en", "inbox"}
    assert all(s.url is None or s.url.startswith("https://") for s in specs)


def _mounts(service: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Container path -> (source, mode) of a service's short-syntax volumes."""
    mounts: dict[str, tuple[str, str]] = {}
    for volume in service.get("volumes", []):
        source, target, *mode = volume.split(":")
        mounts[target] = (source, mode[0] if mode else "rw")
    return mounts


def _env_example() -> dict[str, str]:
    lines = (ROOT / "deploy" / "env.example").read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_every_interpolated_variable_is_in_env_example() -> None:
    text = "\n".join(line.split(" #", 1)[0] for line in COMPOSE.read_text(encoding="utf-8").splitlines())
    interpolated = set(re.findall(r"(?<!\$)\$\{(\w+)", text))
    assert {"GRAFANA_ADMIN_PASSWORD", "EXPORTWATCH_NOTIFY_SMTP_HOST"} <= interpolated
    missing = sorted(interpolated - set(_env_example()))
    assert not missing, f"compose.yaml reads {missing} from .env: document them in deploy/env.example"


def test_every_kafka_client_gets_the_connection_settings_from_env(compose: dict[str, Any]) -> None:
    """The services and the topics job read the bootstrap servers and the TLS/SASL settings from .env;
    as given they reach the bundled broker in plaintext."""
    fields = [f for f in KafkaSettings.model_fields if f != "kafka_start_timeout_seconds"]
    example = _env_example()
    for name in ("topics", *SETTINGS):
        environment = compose["services"][name]["environment"]
        defaults, from_example = {}, {}
        for field in fields:
            key = env_name(field)
            m = re.fullmatch(r"\$\{(\w+)(:?)-([^}]*)\}", str(environment.get(key)))
            assert m and m.group(1) == key, f"{name}: {key} must be ${{{key}:-default}}"
            assert key in example, f"{key}: document it in deploy/env.example"
            defaults[field] = m.group(3)
            # What compose makes of the line in .env: ${KEY:-x} also replaces an empty value.
            value = example[key]
            from_example[field] = m.group(3) if (m.group(2) and not value) else value
        assert defaults["kafka_bootstrap"] == "kafka:9092", name
        for resolved in (defaults, from_example):
            kafka = KafkaSettings(**resolved)
            assert (kafka.kafka_bootstrap, kafka.kafka_security_protocol) == ("kafka:9092", "PLAINTEXT")


def test_grafana_is_provisioned_from_the_repository(compose: dict[str, Any]) -> None:
    services = compose["services"]
    grafana = services["grafana"]
    assert re.fullmatch(r"grafana/grafana-oss:\d+\.\d+\.\d+", grafana["image"]), "pin a Grafana version"
    assert grafana["restart"] == "unless-stopped"
    assert "/api/health" in " ".join(grafana["healthcheck"]["test"])
    assert "3000:3000" in grafana["ports"]
    assert "prometheus" in grafana["depends_on"]
    # The password comes from .env: compose refuses to start without one, Grafana with an empty one
    # (which would leave its well-known default), then the image's entrypoint runs as usual.
    password = grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
    assert password.startswith("${GRAFANA_ADMIN_PASSWORD?"), password
    guard = " ".join(grafana["entrypoint"])
    assert 'test -n "$$GF_SECURITY_ADMIN_PASSWORD" ||' in guard and 'exec /run.sh "$$@"' in guard
    assert grafana["environment"]["GF_AUTH_ANONYMOUS_ENABLED"] == "false"

    mounts = _mounts(grafana)
    provisioning, mode = mounts["/etc/grafana/provisioning"]
    assert mode == "ro" and (ROOT / provisioning).is_dir(), provisioning
    assert (ROOT / provisioning / "datasources").is_dir() and (ROOT / provisioning / "dashboards").is_dir()
    dashboards, mode = mounts["/var/lib/grafana/dashboards"]
    assert mode == "ro" and (ROOT / dashboards).is_dir(), dashboards
    assert list((ROOT / dashboards).glob("*.json")), f"no dashboards in {dashboards}"
    data, _ = mounts["/var/lib/grafana"]
    assert data in compose["volumes"], "Grafana's data lives in a named volume"
    home = grafana["environment"].get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home:
        assert home.startswith("/var/lib/grafana/dashboards/")
        assert (ROOT / dashboards / home.rsplit("/", 1)[1]).is_file(), home

    # The provisioning files point at what compose provides: the mounted dashboards, the Prometheus service.
    provider_file = ROOT / provisioning / "dashboards" / "exportwatch.yaml"
    (provider,) = yaml.safe_load(provider_file.read_text(encoding="utf-8"))["providers"]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    source_file = ROOT / provisioning / "datasources" / "prometheus.yaml"
    (source,) = yaml.safe_load(source_file.read_text(encoding="utf-8"))["datasources"]
    assert source["url"] == "http://prometheus:9090" and "9090:9090" in services["prometheus"]["ports"]


def test_mailpit_catches_notify_mail_unless_env_names_a_server(compose: dict[str, Any]) -> None:
    services = compose["services"]
    mailpit = services["mailpit"]
    assert re.fullmatch(r"axllent/mailpit:v\d+\.\d+(\.\d+)?", mailpit["image"]), "pin a Mailpit version"
    assert mailpit["restart"] == "unless-stopped"
    assert mailpit["healthcheck"]["test"] == ["CMD", "/mailpit", "readyz"]
    assert "8025:8025" in mailpit["ports"]

    environment = services["notify"]["environment"]
    defaults = {}
    for name in ("SMTP_HOST", "SMTP_PORT", "SMTP_SECURITY"):
        key = f"EXPORTWATCH_NOTIFY_{name}"
        # ${KEY:-default}: the value in .env wins (compose's `environment` would hide the env_file's).
        m = re.fullmatch(r"\$\{(\w+):-([^}]+)\}", str(environment[key]))
        assert m and m.group(1) == key, f"{key}: {environment[key]!r} must be ${{{key}:-default}}"
        defaults[name.lower()] = m.group(2)
    assert defaults == {"smtp_host": "mailpit", "smtp_port": "1025", "smtp_security": "none"}
    settings = NotifySettings.model_validate(defaults)
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_security) == ("mailpit", 1025, "none")
    # env.example keeps the Mailpit defaults, in values notify accepts (also as a Kubernetes Secret).
    example = _env_example()
    assert example["EXPORTWATCH_NOTIFY_SMTP_HOST"] in ("", "mailpit")
    NotifySettings.model_validate(
        {
            "smtp_port": example["EXPORTWATCH_NOTIFY_SMTP_PORT"],
            "smtp_security": example["EXPORTWATCH_NOTIFY_SMTP_SECURITY"],
        }
    )
    assert example["EXPORTWATCH_NOTIFY_SMTP_PORT"] == defaults["smtp_port"]


def test_prometheus_mounts_the_alert_rules(compose: dict[str, Any]) -> None:
    source, mode = _mounts(compose["services"]["prometheus"])["/etc/prometheus/rules"]
    assert source == "./deploy/prometheus/rules" and mode == "ro"
    config = yaml.safe_load(PROMETHEUS.read_text(encoding="utf-8"))
    for pattern in config.get("rule_files") or []:
        # Relative rule files are read from the configuration file's folder, /etc/prometheus.
        path = pattern if pattern.startswith("/") else f"/etc/prometheus/{pattern}"
        assert path.startswith("/etc/prometheus/rules/"), f"{pattern} is not in the mounted rules folder"


def test_the_database_password_is_set_once_and_reaches_the_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    """env.example names the PostgreSQL password once; the URLs carry none, and the driver the services
    use (SQLAlchemy over asyncpg) takes it from PGPASSWORD, which compose sets from it."""
    from asyncpg import connect_utils
    from sqlalchemy.engine import make_url

    from services.common.db import async_url, create_engine

    example = _env_example()
    assert "POSTGRES_PASSWORD" in example
    for key in ("EXPORTWATCH_INGEST_DATABASE_URL", "EXPORTWATCH_NOTIFY_DATABASE_URL"):
        assert make_url(example[key]).password is None, f"{key} repeats the password"
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    for name in ("ingest", "notify"):
        assert compose["services"][name]["environment"]["PGPASSWORD"].startswith("${POSTGRES_PASSWORD")
    assert compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith(
        "${POSTGRES_PASSWORD"
    )

    monkeypatch.setenv("PGPASSWORD", "from-the-environment")
    url = example["EXPORTWATCH_NOTIFY_DATABASE_URL"]
    engine = create_engine(url)
    _, kwargs = engine.dialect.create_connect_args(make_url(async_url(url)))
    assert "password" not in kwargs
    _, params = connect_utils._parse_connect_dsn_and_args(
        dsn=None,
        host=kwargs["host"],
        port=kwargs.get("port"),
        user=kwargs["user"],
        password=kwargs.get("password"),
        passfile=None,
        database=kwargs["database"],
        ssl=None,
        service=None,
        servicefile=None,
        direct_tls=None,
        server_settings=None,
        target_session_attrs=None,
        krbsrvname=None,
        gsslib=None,
    )
    assert params.password == "from-the-environment"


def test_notify_console_is_published_on_loopback_unless_env_says_otherwise(compose: dict[str, Any]) -> None:
    """Researchers reach the console and the subscriptions API on notify's ports; plain HTTP stays on
    the host's loopback by default (a TLS proxy in front serves it further)."""
    assert compose["services"]["notify"]["ports"] == ["${NOTIFY_PUBLISH_ADDRESS:-127.0.0.1}:8083-8084:8083"]
    assert _env_example()["NOTIFY_PUBLISH_ADDRESS"] == "127.0.0.1"
