"""The Kubernetes manifests (deploy/kubernetes/) stay valid and in step with the code: Kubernetes JSON
schemas, the kustomization, real settings names, probes on /healthz, resources, a non-root read-only
security context, replicas within the partition count, PodDisruptionBudgets and Services that select
the right pods, no secret values, and the ConfigMap files equal to the deploy/ originals."""

from __future__ import annotations

import copy
import re
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from services.common.settings import CommonSettings, ServiceSettings
from services.ingest.settings import IngestSettings
from services.match.settings import MatchSettings
from services.notify.settings import NotifySettings
from tests.conftest import ROOT, require_executable

KUBE = ROOT / "deploy" / "kubernetes"
NAMESPACE = "exportwatch"
SECRET = "exportwatch-secrets"
SHARED_CONFIG = "exportwatch-config"
NOT_RESOURCES = {"kustomization.yaml", "secret.example.yaml"}
SERVICES: dict[str, tuple[type[ServiceSettings], int]] = {
    "ingest": (IngestSettings, 8081),
    "match": (MatchSettings, 8082),
    "notify": (NotifySettings, 8083),
}
# Copies kept inside the kustomize root (it reads no file outside it): (copy, original, service, setting).
CONFIG_FILES = [
    ("config/sources.yaml", "deploy/ingest/sources.yaml", "ingest", "EXPORTWATCH_INGEST_SOURCES_FILE"),
    (
        "config/subscriptions.yaml",
        "deploy/notify/subscriptions.yaml",
        "notify",
        "EXPORTWATCH_NOTIFY_SUBSCRIPTIONS_FILE",
    ),
]
SECRET_WORDS = ("TOKEN", "PASSWORD", "SECRET", "DATABASE_URL", "WEBHOOK")
# The oldest Kubernetes these manifests are checked against, and the newest the validator knows.
OLDEST_KUBERNETES = "1.29"
REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}")

Doc = dict[str, Any]


def _env_names(settings: type[ServiceSettings]) -> set[str]:
    """Every EXPORTWATCH_* variable a service reads (as in test_deploy.py)."""
    common = {f"EXPORTWATCH_{name.upper()}" for name in CommonSettings.model_fields}
    prefix = settings.model_config.get("env_prefix", "")
    own = {f"{prefix}{name.upper()}" for name in settings.model_fields if name != "common"}
    return common | own


def _common_names() -> set[str]:
    return {f"EXPORTWATCH_{name.upper()}" for name in CommonSettings.model_fields}


def _load(path: Path) -> list[Doc]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


# --- fixtures: the kustomization, its resources and generated ConfigMaps ----------------------------


@pytest.fixture(scope="module")
def kustomization() -> Doc:
    doc = yaml.safe_load((KUBE / "kustomization.yaml").read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="module")
def objects(kustomization: Doc) -> list[Doc]:
    """Every object of every file the kustomization lists, as written (before kustomize)."""
    docs: list[Doc] = []
    for name in kustomization["resources"]:
        loaded = _load(KUBE / name)
        assert loaded, f"{name} holds no object"
        docs.extend(loaded)
    return docs


@pytest.fixture(scope="module")
def generated(kustomization: Doc) -> dict[str, dict[str, str]]:
    """The generated ConfigMaps: name -> {key: value} (files read, literals split)."""
    maps: dict[str, dict[str, str]] = {}
    for gen in kustomization.get("configMapGenerator", []):
        data: dict[str, str] = {}
        for literal in gen.get("literals", []):
            key, sep, value = literal.partition("=")
            assert sep, f"{gen['name']}: literal {literal!r} is not KEY=VALUE"
            data[key] = value
        for entry in gen.get("files", []):
            key, sep, path = entry.partition("=")
            if not sep:
                key, path = PurePosixPath(entry).name, entry
            assert (KUBE / path).is_file(), f"{gen['name']}: {path} does not exist"
            data[key] = (KUBE / path).read_text(encoding="utf-8")
        assert gen["name"] not in maps, f"ConfigMap {gen['name']} generated twice"
        maps[gen["name"]] = data
    return maps


@pytest.fixture(scope="module")
def partitions(generated: dict[str, dict[str, str]]) -> int:
    return int(generated[SHARED_CONFIG]["EXPORTWATCH_TOPIC_PARTITIONS"])


def _one(objects: list[Doc], kind: str, name: str) -> Doc:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def _container(deployment: Doc) -> Doc:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _env(container: Doc) -> dict[str, Doc]:
    return {e["name"]: e for e in container.get("env", [])}


def _walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)


def _pod_specs(objects: list[Doc]) -> Iterator[tuple[Doc, Doc]]:
    for o in objects:
        if o["kind"] in ("Deployment", "Job"):
            yield o, o["spec"]["template"]["spec"]


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def _project_version() -> str:
    return str(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"])


# --- the kustomization -------------------------------------------------------------------------------


def test_kustomization_lists_every_manifest(kustomization: Doc) -> None:
    assert kustomization["kind"] == "Kustomization"
    assert kustomization["namespace"] == NAMESPACE
    on_disk = {p.name for p in KUBE.glob("*.yaml")} - NOT_RESOURCES
    listed = kustomization["resources"]
    assert len(listed) == len(set(listed)), "a resource is listed twice"
    assert set(listed) == on_disk, (
        f"not listed: {sorted(on_disk - set(listed))}; listed but missing: {sorted(set(listed) - on_disk)}"
    )
    assert "secret.example.yaml" not in listed, "the Secret template must never be applied"
    labels = [entry["pairs"] for entry in kustomization.get("labels", [])]
    labels.append(kustomization.get("commonLabels", {}))
    assert any(pairs.get("app.kubernetes.io/part-of") == "exportwatch" for pairs in labels)
    for entry in kustomization.get("labels", []):
        # Selectors are immutable: a label added to them later would force deleting the Deployments.
        assert entry.get("includeSelectors") is False
        assert entry.get("includeTemplates") is True


def test_image_tag_is_the_project_version(kustomization: Doc) -> None:
    (image,) = [i for i in kustomization.get("images", []) if i["name"] == "exportwatch"]
    assert image["newTag"] == _project_version()


def test_every_config_file_is_used_by_a_generator(kustomization: Doc) -> None:
    used = {
        (entry.partition("=")[2] or entry)
        for gen in kustomization.get("configMapGenerator", [])
        for entry in gen.get("files", [])
    }
    on_disk = {p.relative_to(KUBE).as_posix() for p in (KUBE / "config").iterdir()}
    assert on_disk == used


@pytest.mark.parametrize(("copy_path", "original", "service", "setting"), CONFIG_FILES)
def test_config_copies_equal_the_deploy_originals(
    copy_path: str, original: str, service: str, setting: str
) -> None:
    assert (KUBE / copy_path).read_bytes() == (ROOT / original).read_bytes(), (
        f"deploy/kubernetes/{copy_path} differs from {original}: edit the original, then "
        f"cp {original} deploy/kubernetes/{copy_path}"
    )


def test_every_object_is_well_formed(objects: list[Doc]) -> None:
    names: set[tuple[str, str]] = set()
    for o in objects:
        assert {"apiVersion", "kind", "metadata"} <= o.keys(), o
        key = (o["kind"], o["metadata"]["name"])
        assert key not in names, f"{key} defined twice"
        names.add(key)
        # kustomize sets the namespace; a different one written here would be overridden silently.
        assert o["metadata"].get("namespace", NAMESPACE) == NAMESPACE
        assert o["kind"] != "Secret", "Secrets are created from .env, never committed"


# --- Kubernetes JSON schemas (kubernetes-validate ships them: no network) ------------------------------


def _kubernetes_versions() -> list[str]:
    from kubernetes_validate.utils import latest_version, major_minor

    return [OLDEST_KUBERNETES, major_minor(latest_version())]


def _schema_errors(docs: list[Doc], version: str) -> list[str]:
    import kubernetes_validate

    errors = []
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            errors.append(f"{doc['kind']}/{doc['metadata']['name']} at {where}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(exc.message)
    return errors


def test_manifests_match_the_kubernetes_schemas(objects: list[Doc]) -> None:
    template = _load(KUBE / "secret.example.yaml")
    for version in _kubernetes_versions():
        errors = _schema_errors([*objects, *template], version)
        assert not errors, f"Kubernetes {version}:\n" + "\n".join(errors)


def test_the_schema_check_catches_a_misspelt_field(objects: list[Doc]) -> None:
    broken = copy.deepcopy(_one(objects, "Deployment", "match"))
    container = _container(broken)
    container["livenessprobe"] = container.pop("livenessProbe")
    assert _schema_errors([broken], OLDEST_KUBERNETES), "strict validation accepted an unknown field"
    broken = copy.deepcopy(_one(objects, "Deployment", "match"))
    broken["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = "thirty"
    assert _schema_errors([broken], OLDEST_KUBERNETES), "validation accepted a string for an integer"


def test_kustomize_renders_valid_objects(generated: dict[str, dict[str, str]]) -> None:
    kubectl = require_executable("kubectl", "Debian package kubectl")
    result = subprocess.run(
        [kubectl, "kustomize", str(KUBE)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    rendered = [d for d in yaml.safe_load_all(result.stdout) if d is not None]
    for version in _kubernetes_versions():
        errors = _schema_errors(rendered, version)
        assert not errors, f"Kubernetes {version}:\n" + "\n".join(errors)
    configmaps = {o["metadata"]["name"]: o for o in rendered if o["kind"] == "ConfigMap"}
    # Generated names carry a content hash, and every reference to them was rewritten.
    for name, data in generated.items():
        (full,) = [n for n in configmaps if n.startswith(f"{name}-")]
        assert configmaps[full]["data"] == data
    for o in rendered:
        assert o["metadata"]["labels"]["app.kubernetes.io/part-of"] == "exportwatch", o["metadata"]
        if o["kind"] != "Namespace":
            assert o["metadata"]["namespace"] == NAMESPACE, o["metadata"]
    for o, pod in _pod_specs(rendered):
        assert o["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/part-of"] == "exportwatch"
        if o["kind"] == "Deployment":
            assert "app.kubernetes.io/part-of" not in o["spec"]["selector"]["matchLabels"]
        refs = [v["configMap"]["name"] for v in pod.get("volumes", []) if "configMap" in v]
        refs += [
            e["configMapRef"]["name"]
            for c in pod["containers"]
            for e in c.get("envFrom", [])
            if "configMapRef" in e
        ]
        for ref in refs:
            assert ref in configmaps, f"{o['metadata']['name']} refers to {ref}, which is not rendered"


# --- the Deployments -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_deployment_runs_the_service_from_the_one_image(objects: list[Doc], name: str) -> None:
    deployment = _one(objects, "Deployment", name)
    container = _container(deployment)
    assert container["image"] == f"exportwatch:{_project_version()}"
    assert container["args"] == ["serve", name]
    assert "command" not in container, "the image's ENTRYPOINT is exportwatch"
    _, port = SERVICES[name]
    assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    env = _env(container)
    assert env[f"EXPORTWATCH_{name.upper()}_HTTP_PORT"]["value"] == str(port)
    assert env["EXPORTWATCH_HTTP_HOST"]["value"] == "0.0.0.0"
    assert env["EXPORTWATCH_LOG_FORMAT"]["value"] == "json"
    assert env["EXPORTWATCH_CREATE_TOPICS"]["value"] == "false", "the topics Job creates the topics"
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port)
    assert annotations["prometheus.io/path"] == "/metrics"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_kafka_comes_from_the_shared_configmap(
    objects: list[Doc], generated: dict[str, dict[str, str]], name: str
) -> None:
    container = _container(_one(objects, "Deployment", name))
    assert {"configMapRef": {"name": SHARED_CONFIG}} in container["envFrom"]
    assert "EXPORTWATCH_KAFKA_BOOTSTRAP" not in _env(container), "one address, in the ConfigMap"
    assert generated[SHARED_CONFIG]["EXPORTWATCH_KAFKA_BOOTSTRAP"]


def _variables(container: Doc, generated: dict[str, dict[str, str]]) -> set[str]:
    names = set(_env(container))
    for source in container.get("envFrom", []):
        assert set(source) <= {"configMapRef", "secretRef"}, source
        if "configMapRef" in source:
            names |= set(generated[source["configMapRef"]["name"]])
    return names


def _subscription_references() -> set[str]:
    """The ${NAME} (without a default) that notify's subscriptions file needs from its environment."""
    data = yaml.safe_load((KUBE / "config" / "subscriptions.yaml").read_text(encoding="utf-8"))
    return {
        m.group(1)
        for value in _walk(data)
        if isinstance(value, str)
        for m in REFERENCE.finditer(value)
        if m.group(2) is None
    }


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_variable_is_a_real_setting(
    objects: list[Doc], generated: dict[str, dict[str, str]], name: str
) -> None:
    container = _container(_one(objects, "Deployment", name))
    names = _variables(container, generated)
    settings, _ = SERVICES[name]
    unknown = sorted(n for n in names if n.startswith("EXPORTWATCH_") and n not in _env_names(settings))
    assert not unknown, f"{name}: {unknown} are not settings of the service"
    others = names - {n for n in names if n.startswith("EXPORTWATCH_")}
    # Besides the PostgreSQL driver's PGPASSWORD, only notify reads other variables: those its
    # subscriptions file refers to.
    allowed = {"PGPASSWORD"} | (_subscription_references() if name == "notify" else set())
    assert others <= allowed, f"{name}: {sorted(others - allowed)} are read by nothing"


def test_notify_gets_every_secret_its_subscriptions_file_needs(objects: list[Doc]) -> None:
    env = _env(_container(_one(objects, "Deployment", "notify")))
    needed = _subscription_references()
    assert needed, "the subscriptions file refers to no ${NAME}: has the file changed?"
    for ref in sorted(needed):
        assert ref in env, f"notify refuses to start without {ref}: add it from {SECRET}"
        key_ref = env[ref]["valueFrom"]["secretKeyRef"]
        assert key_ref["name"] == SECRET
        assert key_ref.get("optional") is not True, f"{ref} is required: a missing key should stop the pod"


@pytest.mark.parametrize(("copy_path", "original", "service", "setting"), CONFIG_FILES)
def test_config_files_are_mounted_where_the_setting_points(
    objects: list[Doc],
    generated: dict[str, dict[str, str]],
    copy_path: str,
    original: str,
    service: str,
    setting: str,
) -> None:
    deployment = _one(objects, "Deployment", service)
    container = _container(deployment)
    path = PurePosixPath(_env(container)[setting]["value"])
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == str(path.parent)]
    assert mount.get("readOnly") is True
    configmap = volumes[mount["name"]]["configMap"]["name"]
    assert generated[configmap][path.name] == (KUBE / copy_path).read_text(encoding="utf-8")


def test_ingest_mounts_every_folder_of_its_sources(objects: list[Doc]) -> None:
    from services.ingest.core.sources_file import load_sources

    container = _container(_one(objects, "Deployment", "ingest"))
    mounts = [PurePosixPath(m["mountPath"]) for m in container["volumeMounts"]]
    paths = [PurePosixPath(str(s.path)) for s in load_sources(KUBE / "config" / "sources.yaml") if s.path]
    assert paths
    for path in paths:
        assert path.is_absolute(), f"{path}: relative to the image's working directory, which is read-only"
        assert any(path == m or m in path.parents for m in mounts), f"{path} is not on a volume"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_probes_use_healthz_and_liveness_is_the_more_patient(objects: list[Doc], name: str) -> None:
    container = _container(_one(objects, "Deployment", name))
    _, port = SERVICES[name]
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = container.get(kind)
        if probe is None and kind == "startupProbe":
            continue
        assert probe is not None, f"{name}: no {kind}"
        # Liveness leaves out the database checks: a database outage makes the pod not ready, but
        # restarting it would not bring the database back.
        assert probe["httpGet"]["path"] == ("/livez" if kind == "livenessProbe" else "/healthz")
        assert probe["httpGet"]["port"] in ("http", port)
        # Both ping the broker with a 2 s timeout.
        assert probe.get("timeoutSeconds", 1) > 2, f"{name} {kind}: timeout shorter than the broker ping"

    def window(probe: Doc) -> int:
        return int(probe.get("periodSeconds", 10)) * int(probe.get("failureThreshold", 3))

    readiness, liveness = container["readinessProbe"], container["livenessProbe"]
    assert window(liveness) > window(readiness), "liveness must tolerate more than readiness"
    assert window(liveness) >= 60, "a slow broker or a rebalance must not restart the pod"
    startup = container.get("startupProbe")
    start_budget = window(startup) if startup else int(liveness.get("initialDelaySeconds", 0))
    assert start_budget >= 60, "start (migrations, group join, Kafka still starting) needs time"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_resources_are_requested_and_limited(objects: list[Doc], name: str) -> None:
    resources = _container(_one(objects, "Deployment", name))["resources"]
    assert {"cpu", "memory"} <= resources["requests"].keys()
    assert {"cpu", "memory"} <= resources["limits"].keys()


def _mebibytes(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    for unit, factor in units.items():
        if quantity.endswith(unit):
            return float(quantity[: -len(unit)]) * factor
    return float(quantity) / 2**20


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_memory_request_fits_under_the_limit(objects: list[Doc], name: str) -> None:
    resources = _container(_one(objects, "Deployment", name))["resources"]
    assert _mebibytes(resources["requests"]["memory"]) <= _mebibytes(resources["limits"]["memory"])
    assert _mebibytes(resources["requests"]["memory"]) >= 128, "a service takes 65-170 MiB after start"


def test_pods_run_as_non_root_with_a_read_only_root(objects: list[Doc]) -> None:
    checked = 0
    for o, pod in _pod_specs(objects):
        where = f"{o['kind']}/{o['metadata']['name']}"
        context = pod["securityContext"]
        assert context["runAsNonRoot"] is True, where
        assert context["runAsUser"] == 10001, f"{where}: the image's exportwatch user"
        assert context["seccompProfile"]["type"] == "RuntimeDefault", where
        assert pod["automountServiceAccountToken"] is False, where
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for container in pod["containers"]:
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            assert sc.get("privileged", False) is False, where
            assert sc["readOnlyRootFilesystem"] is True, where
            tmp = [m for m in container.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
            assert len(tmp) == 1 and "emptyDir" in volumes[tmp[0]["name"]], f"{where}: /tmp must be writable"
            checked += 1
    assert checked == len(SERVICES) + 1


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_services_get_time_to_stop_cleanly(objects: list[Doc], name: str) -> None:
    pod = _one(objects, "Deployment", name)["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] >= 30


# --- replicas, autoscaling, disruption budgets, Services ---------------------------------------------


def _autoscaler(objects: list[Doc], name: str) -> Doc | None:
    found = [
        o
        for o in objects
        if o["kind"] == "HorizontalPodAutoscaler"
        and o["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
    ]
    assert len(found) <= 1
    return found[0] if found else None


def _replica_range(objects: list[Doc], name: str) -> tuple[int, int]:
    deployment = _one(objects, "Deployment", name)
    hpa = _autoscaler(objects, name)
    if hpa is not None:
        # Both would fight: every kubectl apply would reset the count and rebalance the group.
        assert "replicas" not in deployment["spec"], f"{name}: the autoscaler owns the replica count"
        return int(hpa["spec"].get("minReplicas", 1)), int(hpa["spec"]["maxReplicas"])
    replicas = int(deployment["spec"].get("replicas", 1))
    return replicas, replicas


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_replicas_stay_within_the_partitions(objects: list[Doc], partitions: int, name: str) -> None:
    low, high = _replica_range(objects, name)
    assert 1 <= low <= high <= partitions, f"{name}: replicas beyond {partitions} partitions sit idle"


def test_replica_counts(objects: list[Doc]) -> None:
    assert _replica_range(objects, "ingest") == (1, 1)
    ingest = _one(objects, "Deployment", "ingest")
    assert ingest["spec"]["strategy"]["type"] == "Recreate", "never two ingest processes, even in a rollout"
    assert _replica_range(objects, "match")[0] == 2
    assert _replica_range(objects, "notify") == (2, 2)
    for name in ("match", "notify"):
        rolling = _one(objects, "Deployment", name)["spec"]["strategy"]["rollingUpdate"]
        assert rolling["maxUnavailable"] == 0


def test_every_autoscaler_targets_a_deployment(objects: list[Doc], partitions: int) -> None:
    for hpa in (o for o in objects if o["kind"] == "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        assert target["name"] in SERVICES
        _one(objects, "Deployment", target["name"])
        assert hpa["spec"]["maxReplicas"] <= partitions


def _pod_labels(objects: list[Doc]) -> dict[str, dict[str, str]]:
    return {
        o["metadata"]["name"]: o["spec"]["template"]["metadata"]["labels"]
        for o in objects
        if o["kind"] in ("Deployment", "Job")
    }


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_selectors_pick_exactly_the_service_pods(objects: list[Doc], name: str) -> None:
    labels = _pod_labels(objects)
    deployment = _one(objects, "Deployment", name)
    selectors = {
        "Deployment": deployment["spec"]["selector"]["matchLabels"],
        "PodDisruptionBudget": _one(objects, "PodDisruptionBudget", name)["spec"]["selector"]["matchLabels"],
        "Service": _one(objects, "Service", name)["spec"]["selector"],
    }
    for kind, selector in selectors.items():
        picked = sorted(owner for owner, pod in labels.items() if _selects(selector, pod))
        assert picked == [name], f"{kind} {name} selects the pods of {picked}"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_service_exposes_the_http_port(objects: list[Doc], name: str) -> None:
    service = _one(objects, "Service", name)
    _, port = SERVICES[name]
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
    (entry,) = service["spec"]["ports"]
    assert entry["port"] == port
    assert entry["targetPort"] in ("http", port)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_disruption_budget_keeps_one_and_lets_drains_through(objects: list[Doc], name: str) -> None:
    spec = _one(objects, "PodDisruptionBudget", name)["spec"]
    low, _ = _replica_range(objects, name)
    if low > 1:
        assert spec.get("minAvailable") == 1
        assert "maxUnavailable" not in spec
    else:
        # minAvailable 1 on a single replica would block every node drain.
        assert spec.get("maxUnavailable") == 1
        assert "minAvailable" not in spec


# --- the topics Job -----------------------------------------------------------------------------------


def test_topics_job_creates_the_topics_with_replication(
    objects: list[Doc], generated: dict[str, dict[str, str]]
) -> None:
    (job,) = [o for o in objects if o["kind"] == "Job"]
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] in ("OnFailure", "Never")
    (container,) = pod["containers"]
    assert container["image"] == f"exportwatch:{_project_version()}"
    assert container["args"] == ["topics"]
    env = _env(container)
    assert env["EXPORTWATCH_TOPIC_REPLICATION"]["value"] == "3"
    names = _variables(container, generated)
    assert {"EXPORTWATCH_KAFKA_BOOTSTRAP", "EXPORTWATCH_TOPIC_PARTITIONS"} <= names
    assert names <= _common_names(), f"{sorted(names - _common_names())} are not read by `exportwatch topics`"
    assert "resources" in container


def test_shared_configmap_holds_only_common_settings(
    generated: dict[str, dict[str, str]], partitions: int
) -> None:
    assert set(generated[SHARED_CONFIG]) <= _common_names()
    assert partitions >= 2


# --- Kafka security --------------------------------------------------------------------------------------

KAFKA_SECRET_KEYS = (
    "EXPORTWATCH_KAFKA_SASL_USERNAME",
    "EXPORTWATCH_KAFKA_SASL_PASSWORD",
    "EXPORTWATCH_KAFKA_SSL_KEY_PASSWORD",
)
KAFKA_TLS_DIR = "/etc/kafka-tls"


def test_every_kafka_client_can_log_in_and_read_certificates(
    objects: list[Doc], generated: dict[str, dict[str, str]]
) -> None:
    """Every pod that talks to Kafka (the services and the topics Job) gets the login from the Secret,
    optionally, and the certificate files from the optional Secret exportwatch-kafka-tls; the protocol
    is in the shared ConfigMap. As committed: plaintext, nothing else needed."""
    assert generated[SHARED_CONFIG]["EXPORTWATCH_KAFKA_SECURITY_PROTOCOL"] == "PLAINTEXT"
    checked = 0
    for o, pod in _pod_specs(objects):
        where = f"{o['kind']}/{o['metadata']['name']}"
        (container,) = pod["containers"]
        env = _env(container)
        for key in KAFKA_SECRET_KEYS:
            ref = env[key]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": SECRET, "key": key, "optional": True}, f"{where}: {key}"
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["kafka-tls"]["secret"] == {"secretName": "exportwatch-kafka-tls", "optional": True}
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == "kafka-tls"]
        assert mount == {"name": "kafka-tls", "mountPath": KAFKA_TLS_DIR, "readOnly": True}, where
        checked += 1
    assert checked == len(SERVICES) + 1
    # The examples in the kustomization point into that folder.
    text = (KUBE / "kustomization.yaml").read_text(encoding="utf-8")
    paths = re.findall(r"EXPORTWATCH_KAFKA_SSL_\w+FILE=(\S+)", text)
    assert paths and all(p.startswith(f"{KAFKA_TLS_DIR}/") for p in paths), paths


# --- secrets -----------------------------------------------------------------------------------------


def _secret_like(name: str) -> bool:
    return any(word in name.upper() for word in SECRET_WORDS)


def test_no_secret_value_is_written_anywhere(
    objects: list[Doc], generated: dict[str, dict[str, str]]
) -> None:
    for o, pod in _pod_specs(objects):
        for container in pod["containers"]:
            for entry in container.get("env", []):
                where = f"{o['metadata']['name']}: {entry['name']}"
                if _secret_like(entry["name"]):
                    assert "value" not in entry, f"{where} is a secret: use secretKeyRef"
                    assert entry["valueFrom"]["secretKeyRef"]["name"] == SECRET, where
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    assert source["secretRef"]["name"] == SECRET
    for value in _walk(objects):
        if isinstance(value, dict) and "secretKeyRef" in value:
            assert value["secretKeyRef"]["name"] == SECRET
    for name, data in generated.items():
        assert not [k for k in data if _secret_like(k)], f"secret in ConfigMap {name}"
    for path in [*KUBE.glob("*.yaml"), *KUBE.glob("config/*.yaml")]:
        # Comments may show the form (postgresql://USER:PASSWORD@HOST/DB); values may not.
        lines = path.read_text(encoding="utf-8").splitlines()
        text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
        assert not re.search(r"://[^/\s:@'\"]+:[^@\s'\"]+@", text), f"credentials in a URL in {path.name}"
        assert not re.search(r"https?://[^\s'\"]*[?&](token|key|sig)=", text), path.name


def _secret_keys(objects: list[Doc]) -> dict[str, bool]:
    """Every key of the Secret the pods read -> whether it is optional."""
    keys: dict[str, bool] = {}
    for value in _walk(objects):
        if isinstance(value, dict) and "secretKeyRef" in value:
            ref = value["secretKeyRef"]
            keys[ref["key"]] = keys.get(ref["key"], True) and bool(ref.get("optional", False))
    return keys


def test_database_urls_are_required(objects: list[Doc]) -> None:
    keys = _secret_keys(objects)
    # Without them the services would fall back to SQLite on a read-only filesystem.
    assert keys["EXPORTWATCH_INGEST_DATABASE_URL"] is False
    assert keys["EXPORTWATCH_NOTIFY_DATABASE_URL"] is False


def test_secret_template_is_empty_and_complete(objects: list[Doc]) -> None:
    (template,) = _load(KUBE / "secret.example.yaml")
    assert template["kind"] == "Secret"
    assert template["metadata"]["name"] == SECRET
    assert template["metadata"]["namespace"] == NAMESPACE
    data = template["stringData"]
    assert "data" not in template
    filled = sorted(k for k, v in data.items() if _secret_like(k) and v != "")
    assert not filled, f"the template must not hold secret values: {filled}"
    missing = sorted(set(_secret_keys(objects)) - set(data))
    assert not missing, f"keys the pods read but the template lacks: {missing}"


def test_secret_can_be_made_from_the_compose_env_file(objects: list[Doc]) -> None:
    names = {
        line.split("=", 1)[0]
        for line in (ROOT / "deploy" / "env.example").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    }
    missing = sorted(set(_secret_keys(objects)) - names)
    assert not missing, f"--from-env-file=.env would lack {missing}: add them to deploy/env.example"


def test_readme_explains_apply_secret_and_scaling() -> None:
    text = (KUBE / "README.md").read_text(encoding="utf-8")
    for needle in (
        "kubectl apply -k deploy/kubernetes",
        "--from-env-file=.env",
        SECRET,
        "EXPORTWATCH_TOPIC_PARTITIONS",
        "not deployed",
        "idle",
    ):
        assert needle in text, f"README.md does not mention {needle!r}"
