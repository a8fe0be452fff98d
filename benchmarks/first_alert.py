"""Time to the first alert on the local stack: from ``exportwatch stack`` starting to the first alert on
the console and the first webhook delivery, for the stack as it ships and, in the same process, for a
baseline with the consumer settings it had before (the clients' defaults: a 10 s session timeout, so
each consumer group join waits 5 s on the embedded broker, and notify's 2 s group wait).

    .venv/bin/python benchmarks/first_alert.py [--runs 5]

Each run is a fresh stack in a temporary folder, started as its own process and stopped with SIGINT;
the runs of the two settings are interleaved, so a busy machine slows both alike. Prints the median of
each and the ratio shipped/baseline.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The stack as it was before: its own consumer settings off, notify's group wait at 2 s.
BASELINE = (
    "import sys, tools.stack as s; s.LOCAL_CONSUMER_SETTINGS.clear(); "
    "s.NOTIFY_GROUP_WAIT_SECONDS = '2'; sys.exit(s.run_stack(__import__('pathlib').Path(sys.argv[1])))"
)
SHIPPED = "import sys, tools.stack as s; sys.exit(s.run_stack(__import__('pathlib').Path(sys.argv[1])))"


def one_run(code: str, timeout: float = 60.0) -> tuple[float, float]:
    """Seconds to the first high alert on the console and to the first webhook delivery."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        out = folder / "out.txt"
        env = {**os.environ, "XDG_STATE_HOME": str(folder / "state")}
        start = time.monotonic()
        with out.open("wb") as sink:
            proc = subprocess.Popen(
                [sys.executable, "-c", code, str(folder / "var")], cwd=ROOT, env=env, stdout=sink, stderr=sink
            )
        console: float | None = None
        webhook: float | None = None
        deliveries = folder / "var" / "webhook-deliveries.jsonl"
        try:
            while time.monotonic() - start < timeout and (console is None or webhook is None):
                now = time.monotonic() - start
                if console is None and b"[HIGH]" in out.read_bytes():
                    console = now
                if webhook is None and deliveries.is_file() and deliveries.stat().st_size:
                    webhook = now
                time.sleep(0.02)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(60)
        if console is None or webhook is None:
            raise RuntimeError(f"no alert within {timeout:.0f}s: {out.read_text(errors='replace')[-2000:]}")
        return console, webhook


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {"shipped": [], "baseline": []}
    for _ in range(args.runs):
        results["shipped"].append(one_run(SHIPPED))
        results["baseline"].append(one_run(BASELINE))
    print(f"{'settings':<10} {'console s':>10} {'webhook s':>10}   (median of {args.runs} runs)")
    medians = {}
    for name, runs in results.items():
        console = statistics.median(r[0] for r in runs)
        webhook = statistics.median(r[1] for r in runs)
        medians[name] = (console, webhook)
        print(f"{name:<10} {console:>10.2f} {webhook:>10.2f}")
    (sc, sw), (bc, bw) = medians["shipped"], medians["baseline"]
    print(f"{'ratio':<10} {sc / bc:>10.2f} {sw / bw:>10.2f}   (shipped / baseline)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
