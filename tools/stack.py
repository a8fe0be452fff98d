"""The local stack: embedded broker, a webhook receiver, and the three services as separate processes,
fed with the bundled sample news and licence data. Alerts appear on the console (from notify) and in
``<dir>/webhook-deliveries.jsonl`` (what a webhook integrator receives). Ctrl-C stops everything.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import errno
import importlib.resources
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from services.common import localstack
from services.common.settings import split_list
from tools.embedded import BrokerStartError, EmbeddedBroker, free_port
from tools.processes import spawn_service, stop_in_order
from tools.webhook_sink import WebhookSink

DEFAULT_PORTS = {"ingest": 8081, "match": 8082, "notify": 8083}
RECEIVER_PORT = 8090  # the local webhook receiver, for the README's examples (another when it is taken)
# The embedded broker makes a consumer group join wait half the session timeout (Tansu 0.6): with the
# client default of 10 s, match and notify each waited 5 s before the first alert. Local stack only.
LOCAL_CONSUMER_SETTINGS = {
    "EXPORTWATCH_KAFKA_SESSION_TIMEOUT_MS": "2000",
    "EXPORTWATCH_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
}
# Alerts about one story arriving within this many seconds go out as one notification: short here, so
# the first alert shows soon (benchmarks/first_alert.py measures both).
NOTIFY_GROUP_WAIT_SECONDS = "0.5"
CONSOLE_MIN_SEVERITY = "high"
CONSOLE_OWNER = "researcher"  # the owner of the console token the stack makes for each run
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


def stack_owned(name: str) -> bool:
    """Settings the stack sets itself, whatever the environment says: the embedded broker's address and
    client settings, the ports it printed, and the run's own databases (the broker forgets everything
    when it stops, so the databases start afresh with it)."""
    return (
        name.startswith(("EXPORTWATCH_KAFKA_", "EXPORTWATCH_STACK_"))
        or name.endswith("_HTTP_PORT")
        or name in ("EXPORTWATCH_INGEST_DATABASE_URL", "EXPORTWATCH_NOTIFY_DATABASE_URL")
    )


def environment_report(environ: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """The ``EXPORTWATCH_*`` variables of ``environ`` the stack passes on, and those it sets itself."""
    names = sorted(k for k in environ if k.startswith("EXPORTWATCH_") and k != "EXPORTWATCH_VENV")
    return [n for n in names if not stack_owned(n)], [n for n in names if stack_owned(n)]


def _tokens(value: str | None) -> list[str]:
    listed = split_list(value) if value else []
    return [str(t) for t in listed] if isinstance(listed, list) else []


def service_env(
    name: str,
    bootstrap: str,
    http_port: int,
    workdir: Path,
    webhook_url: str,
    sources: list[Path],
    environ: Mapping[str, str] | None = None,
    push_token: str | None = None,
) -> dict[str, str]:
    """One service's environment: the stack's settings for the local run, then the caller's own
    ``EXPORTWATCH_*`` variables over them (all but the ones ``stack_owned`` names). The push API takes
    the stack's own token and every token in ``EXPORTWATCH_INGEST_API_TOKENS``."""
    environ = os.environ if environ is None else environ
    env = {k: v for k, v in environ.items() if not k.startswith("EXPORTWATCH_")}
    env.update({"PYTHONUNBUFFERED": "1", **LOCAL_CONSUMER_SETTINGS})
    if name == "ingest":
        env["EXPORTWATCH_INGEST_SOURCES"] = ",".join(str(s) for s in sources)
    if name == "notify":
        env.update(
            {
                "EXPORTWATCH_NOTIFY_CONSOLE": "true",
                # High and critical on screen (the news a researcher reads first); every alert,
                # the low-severity licence rows included, goes to alerts.jsonl and the webhook.
                "EXPORTWATCH_NOTIFY_CONSOLE_MIN_SEVERITY": CONSOLE_MIN_SEVERITY,
                "EXPORTWATCH_NOTIFY_FILE_PATH": str(workdir / "alerts.jsonl"),
                "EXPORTWATCH_NOTIFY_SUBSCRIPTIONS_FILE": str(write_local_subscriptions(workdir)),
                # The local receiver listens on loopback, which webhooks may not reach unless allowed.
                "EXPORTWATCH_NOTIFY_ALLOW_PRIVATE_NETWORKS": "127.0.0.1/32",
                "EXPORTWATCH_NOTIFY_GROUP_WAIT_SECONDS": NOTIFY_GROUP_WAIT_SECONDS,
            }
        )
    env.update({k: v for k, v in environ.items() if k.startswith("EXPORTWATCH_") and not stack_owned(k)})
    env.update(
        {
            "EXPORTWATCH_KAFKA_BOOTSTRAP": bootstrap,
            # The embedded broker's add-on: it loses its topics on a restart (services/common/topics.py).
            "EXPORTWATCH_KAFKA_EMBEDDED": "true",
            f"EXPORTWATCH_{name.upper()}_HTTP_PORT": str(http_port),
        }
    )
    if name == "ingest":
        # The embedded broker forgets everything when it stops: ingest's memory of what it published
        # lives exactly as long, in the run's own folder.
        env["EXPORTWATCH_INGEST_DATABASE_URL"] = f"sqlite:///{workdir / 'ingest.db'}"
        tokens = [push_token] if push_token else []
        tokens += _tokens(environ.get("EXPORTWATCH_INGEST_API_TOKENS"))
        if tokens:
            env["EXPORTWATCH_INGEST_API_TOKENS"] = json.dumps(tokens)
    if name == "notify":
        env.update(
            {
                "EXPORTWATCH_NOTIFY_DATABASE_URL": f"sqlite:///{workdir / 'notify.db'}",
                "EXPORTWATCH_STACK_WEBHOOK_URL": webhook_url,
                "EXPORTWATCH_STACK_WEBHOOK_SECRET": STACK_WEBHOOK_SECRET,
            }
        )
    return env


def example_event(now: dt.datetime) -> dict[str, object]:
    """The article the banner's ``curl`` example pushes: a sale of interception to Uganda's authorities,
    which the console shows as a high alert."""
    return {
        "type": "news_article",
        "id": f"stack-example-{now:%Y%m%d%H%M%S}",
        "source": "local-example",
        "url": f"https://example.org/local-stack/{now:%Y%m%d%H%M%S}",
        "language": "en",
        "published_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "title": "Huawei technicians helped Ugandan officials spy on rivals",
        "body": "The Chinese telecom giant Huawei helped the authorities of Uganda intercept the calls of "
        "opposition leaders, officials said.",
    }


def _shown(path: Path) -> str:
    """``path`` relative to the current folder when it is inside it (shorter to paste), else absolute."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def write_secret(path: Path, secret: str) -> Path:
    """``secret`` in a file readable by this user only (the last run's file is replaced, not reused)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(secret + "\n")
    return path


async def console_token(database_url: str, now: dt.datetime) -> str:
    """A researcher's token for the console, made through notify's own store as ``exportwatch notify
    token`` makes one. Opening the store gives the run's fresh database its schema, so notify finds it
    ready; the token lives as long as that database, one run."""
    from services.notify.store.repository import NotifyStore

    store = await NotifyStore.open(database_url)
    try:
        return await store.tokens.add(CONSOLE_OWNER, now, label="local stack console")
    finally:
        await store.close()


def console_line(notify_port: int, token: str, token_file: Path) -> str:
    """The banner's line that opens the console: where, and the token to sign in with."""
    return (
        f"Console: http://127.0.0.1:{notify_port}/  (sign in with token {token}; it is also in "
        f"{_shown(token_file)}, for this run only)"
    )


def notify_database(workdir: Path) -> str:
    """The URL of the run's notify database (emptied by each start, as the broker's topics are)."""
    return f"sqlite:///{workdir / 'notify.db'}"


@dataclass(frozen=True, slots=True)
class RunSecrets:
    """The run's tokens and the files that hold them: the push API's, with the banner's example
    event, and the researcher's for the console. Both are good for one run; ``remove`` at its end."""

    push_token: str
    push_file: Path
    event_file: Path
    console_token: str
    console_file: Path

    @classmethod
    def write(cls, workdir: Path, now: dt.datetime) -> RunSecrets:
        push = secrets.token_urlsafe(24)
        push_file, event_file = write_push_files(workdir, push, now)
        console = asyncio.run(console_token(notify_database(workdir), now))
        return cls(push, push_file, event_file, console, write_secret(workdir / "console-token", console))

    def remove(self) -> None:
        for path in (self.push_file, self.console_file):
            path.unlink(missing_ok=True)


def write_push_files(workdir: Path, token: str, now: dt.datetime) -> tuple[Path, Path]:
    """The stack's push token (readable by this user only) and the example event, for the banner's curl."""
    token_file = write_secret(workdir / "push-token", token)
    event_file = workdir / "example-event.json"
    event_file.write_text(json.dumps(example_event(now), ensure_ascii=False) + "\n", encoding="utf-8")
    return token_file, event_file


def push_example(ingest_port: int, token_file: Path, event_file: Path) -> str:
    return (
        f'curl -H "Authorization: Bearer $(cat {_shown(token_file)})" '
        f"-H 'content-type: application/json' --data-binary @{_shown(event_file)} "
        f"http://127.0.0.1:{ingest_port}/v1/events"
    )


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


def say(text: str, err: bool = False) -> None:
    """Print to the console; if stdout's reader has gone (``| tee`` or ``| less`` ended by the same
    Ctrl-C), carry on without it, so the stop still happens in order."""
    stream = sys.stderr if err else sys.stdout
    try:
        print(text, file=stream, flush=True)
    except OSError as exc:  # BrokenPipeError, or EPIPE/EIO on a terminal that went away
        if exc.errno not in (errno.EPIPE, errno.EIO, errno.EBADF):
            raise
        _detach(stream)


def _detach(stream: object) -> None:
    """Point the stream's file descriptor at /dev/null: what is still buffered, and the interpreter's
    last flush, go nowhere instead of failing."""
    fileno = getattr(stream, "fileno", None)
    if fileno is None:
        return
    try:
        target = fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
    except (OSError, ValueError):
        return
    try:
        os.dup2(devnull, target)
    finally:
        os.close(devnull)


def _terminate(procs: dict[str, subprocess.Popen[bytes]], timeout: float = 20.0) -> None:
    # Producers first, so nothing is left half-processed.
    for name in stop_in_order(procs, list(reversed(START_ORDER)), timeout):
        say(f"  {name} did not stop in {timeout:.0f}s; killed it")


def banner(
    bootstrap: str,
    ports: dict[str, int],
    receiver: str,
    workdir: Path,
    sources: list[Path],
    push_command: str,
    environ: Mapping[str, str],
    console: str | None = None,
) -> str:
    honoured, ignored = environment_report(environ)
    lines = [
        "ExportWatch local stack",
        f"  broker   {bootstrap} (embedded Tansu, memory storage)",
        *(f"  {n:<8} http://127.0.0.1:{ports[n]}/metrics  /healthz" for n in DEFAULT_PORTS),
        f"  sources  {', '.join(str(s) for s in sources)}",
        f"  webhook receiver {receiver} -> {workdir / 'webhook-deliveries.jsonl'}",
        f"  every alert -> {workdir / 'alerts.jsonl'}",
        f"  logs     {workdir / 'logs'}",
    ]
    if honoured:
        lines.append(f"  from your environment: {', '.join(honoured)}")
    if ignored:
        lines.append(f"  not used (the local stack sets these itself): {', '.join(ignored)}")
    lines += [
        "",
        *([console, ""] if console else []),
        f"Push an article (POST http://127.0.0.1:{ports['ingest']}/v1/events; the stack's token is in "
        f"{_shown(workdir / 'push-token')}, and EXPORTWATCH_INGEST_API_TOKENS adds yours):",
        f"  {push_command}",
        f"Subscriptions API http://127.0.0.1:{ports['notify']}/v1/subscriptions; a token for it (from any "
        "folder, while the stack runs):",
        f"  {_shown(Path(sys.prefix) / 'bin' / 'exportwatch')} notify token YOUR-NAME",
        "",
        f"Alerts of severity {CONSOLE_MIN_SEVERITY} and above appear below as notify delivers them (the "
        "others are in alerts.jsonl). Ctrl-C stops everything.",
        "",
    ]
    return "\n".join(lines)


def _fresh(workdir: Path) -> Path:
    """The run's folder, emptied of the last run's state: the embedded broker forgets everything when it
    stops, so the services' databases start afresh too."""
    workdir = workdir.resolve()
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    for name in ("webhook-deliveries.jsonl", "alerts.jsonl", "ingest.db", "notify.db"):
        for suffix in ("", "-wal", "-shm", ".migrate-lock"):
            (workdir / (name + suffix)).unlink(missing_ok=True)
    return workdir


def _one_exited(procs: dict[str, subprocess.Popen[bytes]], workdir: Path) -> bool:
    for name, proc in procs.items():
        if proc.poll() is not None:
            log = workdir / "logs" / f"{name}.log"
            say(f"exportwatch stack: {name} exited with code {proc.returncode}; see {log}", err=True)
            return True
    return False


def run_stack(workdir: Path, broker_port: int = 0, sources: list[Path] | None = None) -> int:
    workdir = _fresh(workdir)
    sources = [s.resolve() for s in (sources or [bundled_samples()])]
    environ = dict(os.environ)

    stopping = False

    def request_stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    broker = EmbeddedBroker(port=broker_port, log_path=workdir / "logs" / "tansu.log")
    try:
        broker.start_process()
    except BrokerStartError as exc:
        say(f"exportwatch stack: the embedded broker did not start: {exc}", err=True)
        return 1
    sink = WebhookSink(
        port=_port(RECEIVER_PORT), out=workdir / "webhook-deliveries.jsonl", secret=STACK_WEBHOOK_SECRET
    ).start()
    procs: dict[str, subprocess.Popen[bytes]] = {}
    ports = {name: _port(p) for name, p in DEFAULT_PORTS.items()}
    run = RunSecrets.write(workdir, dt.datetime.now(dt.UTC))
    code = 0
    try:
        for name in START_ORDER:
            log = open(workdir / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
            env = service_env(
                name, broker.bootstrap, ports[name], workdir, sink.url, sources, environ, run.push_token
            )
            procs[name] = spawn_service(name, env, stdout=None if name == "notify" else log, stderr=log)
            log.close()
        # The services start while the broker does (they wait for it), which brings the first alert
        # sooner: their start is most of the time it takes.
        try:
            asyncio.run(broker.ready())
        except BrokerStartError as exc:
            say(f"exportwatch stack: the embedded broker did not start: {exc}", err=True)
            return 1
        localstack.publish(
            localstack.StackInfo(
                pid=os.getpid(),
                workdir=str(workdir),
                notify_database_url=notify_database(workdir),
                ingest_port=ports["ingest"],
                notify_port=ports["notify"],
            )
        )
        push = push_example(ports["ingest"], run.push_file, run.event_file)
        console = console_line(ports["notify"], run.console_token, run.console_file)
        say(banner(broker.bootstrap, ports, sink.url, workdir, sources, push, environ, console))
        while not stopping:
            if _one_exited(procs, workdir):
                stopping, code = True, 1
            time.sleep(0.3)
    finally:
        say("\nstopping the stack ...")
        _terminate(procs)
        localstack.withdraw(os.getpid())
        sink.stop()
        broker.stop()
        run.remove()
        deliveries = workdir / "webhook-deliveries.jsonl"
        say(f"stopped. {len(sink.received)} webhook deliveries this run, in {deliveries}")
        counts = severity_counts(workdir / "alerts.jsonl")
        if counts:
            shown = ", ".join(f"{n} {severity}" for severity, n in counts.items())
            say(f"alerts this run by severity: {shown} (all in {workdir / 'alerts.jsonl'})")
    return code
