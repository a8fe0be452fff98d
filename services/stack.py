"""The local stack: embedded broker, a webhook receiver, and the three services as separate processes,
fed with the bundled sample news and licence data. Alerts appear on the console (from notify) and in
``<dir>/webhook-deliveries.jsonl`` (what a webhook integrator receives). Ctrl-C stops everything.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from services.common.embedded import BrokerStartError, EmbeddedBroker, free_port
from services.common.processes import spawn_service, stop_in_order
from services.common.webhook_sink import WebhookSink

DEFAULT_PORTS = {"ingest": 8081, "match": 8082, "notify": 8083}
CONSOLE_MIN_SEVERITY = "high"
START_ORDER = ("notify", "match", "ingest")  # consumers first, so they are in their groups early


def bundled_samples() -> Path:
    return Path(str(importlib.resources.files("services.ingest").joinpath("samples")))


def _port(preferred: int) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        if sock.connect_ex(("127.0.0.1", preferred)) != 0:
            return preferred
    return free_port()


# Signs the local stack's webhooks; the local receiver checks them. Not a secret: it never leaves this
# machine, and a real deployment sets its own in the subscriptions file.
STACK_WEBHOOK_SECRET = "local-stack-signing-key"  # noqa: S105
LOCAL_SUBSCRIPTIONS = """\
# Written by `exportwatch stack`: the local receiver gets every alert as a signed CloudEvent.
subscriptions:
  - id: local-webhook
    owner: local
    name: Every alert to the local webhook receiver
    channel:
      type: webhook
      url: "${EXPORTWATCH_STACK_WEBHOOK_URL}"
      secret: "${EXPORTWATCH_STACK_WEBHOOK_SECRET}"
"""


def write_local_subscriptions(workdir: Path) -> Path:
    path = workdir / "subscriptions.yaml"
    path.write_text(LOCAL_SUBSCRIPTIONS, encoding="utf-8")
    return path


def service_env(
    name: str, bootstrap: str, http_port: int, workdir: Path, webhook_url: str, sources: list[Path]
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPORTWATCH_")}
    env.update(
        {
            "EXPORTWATCH_KAFKA_BOOTSTRAP": bootstrap,
            f"EXPORTWATCH_{name.upper()}_HTTP_PORT": str(http_port),
            "PYTHONUNBUFFERED": "1",
        }
    )
    if name == "ingest":
        env["EXPORTWATCH_INGEST_SOURCES"] = ",".join(str(s) for s in sources)
        # The embedded broker forgets everything when it stops: ingest's memory of what it published
        # lives exactly as long, in the run's own folder.
        env["EXPORTWATCH_INGEST_DATABASE_URL"] = f"sqlite:///{workdir / 'ingest.db'}"
    if name == "notify":
        env.update(
            {
                "EXPORTWATCH_NOTIFY_CONSOLE": "true",
                # High and critical on screen (the news a researcher reads first); every alert,
                # the low-severity licence rows included, goes to alerts.jsonl and the webhook.
                "EXPORTWATCH_NOTIFY_CONSOLE_MIN_SEVERITY": CONSOLE_MIN_SEVERITY,
                "EXPORTWATCH_NOTIFY_FILE_PATH": str(workdir / "alerts.jsonl"),
                "EXPORTWATCH_NOTIFY_DATABASE_URL": f"sqlite:///{workdir / 'notify.db'}",
                "EXPORTWATCH_NOTIFY_SUBSCRIPTIONS_FILE": str(write_local_subscriptions(workdir)),
                "EXPORTWATCH_STACK_WEBHOOK_URL": webhook_url,
                "EXPORTWATCH_STACK_WEBHOOK_SECRET": STACK_WEBHOOK_SECRET,
                # The local receiver listens on loopback, which webhooks may not reach unless allowed.
                "EXPORTWATCH_NOTIFY_ALLOW_PRIVATE_NETWORKS": "127.0.0.1/32",
                "EXPORTWATCH_NOTIFY_GROUP_WAIT_SECONDS": "2",
            }
        )
    return env


def severity_counts(path: Path) -> dict[str, int]:
    """Alerts in the notifications the built-in file subscription wrote, by severity (highest first)."""
    import json

    from schemas.events import Severity

    counts = dict.fromkeys((s.value for s in reversed(Severity)), 0)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    for line in lines:
        try:
            alerts = json.loads(line).get("alerts") or []
        except (ValueError, AttributeError):
            continue
        for alert in alerts:
            severity = alert.get("severity") if isinstance(alert, dict) else None
            if severity in counts:
                counts[severity] += 1
    return {k: v for k, v in counts.items() if v}


def _terminate(procs: dict[str, subprocess.Popen[bytes]], timeout: float = 20.0) -> None:
    # Producers first, so nothing is left half-processed.
    for name in stop_in_order(procs, list(reversed(START_ORDER)), timeout):
        print(f"  {name} did not stop in {timeout:.0f}s; killed it", flush=True)


def run_stack(workdir: Path, broker_port: int = 0, sources: list[Path] | None = None) -> int:
    workdir = workdir.resolve()
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    # The embedded broker forgets everything when it stops; the services' databases start afresh too.
    for name in ("webhook-deliveries.jsonl", "alerts.jsonl", "ingest.db", "notify.db"):
        for suffix in ("", "-wal", "-shm", ".migrate-lock"):
            (workdir / (name + suffix)).unlink(missing_ok=True)
    sources = [s.resolve() for s in (sources or [bundled_samples()])]

    stopping = False

    def request_stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    broker = EmbeddedBroker(port=broker_port, log_path=workdir / "logs" / "tansu.log")
    try:
        asyncio.run(broker.start())
    except BrokerStartError as exc:
        print(f"exportwatch stack: the embedded broker did not start: {exc}", file=sys.stderr)
        return 1
    sink = WebhookSink(out=workdir / "webhook-deliveries.jsonl", secret=STACK_WEBHOOK_SECRET).start()
    procs: dict[str, subprocess.Popen[bytes]] = {}
    ports = {name: _port(p) for name, p in DEFAULT_PORTS.items()}
    code = 0
    try:
        for name in START_ORDER:
            log = open(workdir / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
            procs[name] = spawn_service(
                name,
                service_env(name, broker.bootstrap, ports[name], workdir, sink.url, sources),
                stdout=None if name == "notify" else log,
                stderr=log,
            )
            log.close()
        print(
            "\n".join(
                [
                    "ExportWatch local stack",
                    f"  broker   {broker.bootstrap} (embedded Tansu, memory storage)",
                    *(f"  {n:<8} http://127.0.0.1:{ports[n]}/metrics  /healthz" for n in DEFAULT_PORTS),
                    f"  push API POST http://127.0.0.1:{ports['ingest']}/v1/events"
                    " (tokens: EXPORTWATCH_INGEST_API_TOKENS)",
                    f"  subscriptions API http://127.0.0.1:{ports['notify']}/v1/subscriptions"
                    " (a token: .venv/bin/exportwatch notify token YOUR-NAME)",
                    f"  sources  {', '.join(str(s) for s in sources)}",
                    f"  webhook deliveries -> {workdir / 'webhook-deliveries.jsonl'}",
                    f"  logs     {workdir / 'logs'}",
                    f"  every alert -> {workdir / 'alerts.jsonl'}",
                    f"Alerts of severity {CONSOLE_MIN_SEVERITY} and above appear below as notify delivers"
                    " them (the others are in alerts.jsonl). Ctrl-C stops everything.",
                    "",
                ]
            ),
            flush=True,
        )
        while not stopping:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    print(
                        f"exportwatch stack: {name} exited with code {proc.returncode}; "
                        f"see {workdir / 'logs' / (name + '.log')}",
                        file=sys.stderr,
                        flush=True,
                    )
                    stopping, code = True, 1
                    break
            time.sleep(0.3)
    finally:
        print("\nstopping the stack ...", flush=True)
        _terminate(procs)
        sink.stop()
        broker.stop()
        delivered = len(sink.received)
        print(
            f"stopped. {delivered} webhook deliveries this run, in {workdir / 'webhook-deliveries.jsonl'}",
            flush=True,
        )
        counts = severity_counts(workdir / "alerts.jsonl")
        if counts:
            shown = ", ".join(f"{n} {severity}" for severity, n in counts.items())
            print(f"alerts this run by severity: {shown} (all in {workdir / 'alerts.jsonl'})", flush=True)
    return code
