"""Every alert the bundled matcher raises on the evaluation cases and the bundled sample news, one JSON
object per line, in a fixed order: the check that a refactoring changed no alert, byte for byte.

    python -m tools.alerts_snapshot after.jsonl
    git worktree add /tmp/before <commit>
    PYTHONPATH=/tmp/before python tools/alerts_snapshot.py before.jsonl   # the code of <commit>
    cmp before.jsonl after.jsonl

The evaluation cases are read with the code of the checkout it runs in (``tools.evaluation``, or
``services.match.evaluation`` in checkouts older than the tools package), at the fixed evaluation time,
so the ids and times in the alerts do not depend on the clock.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from importlib import import_module
from pathlib import Path
from typing import Any

from schemas import NewsArticle
from services.match.core.engine import Matcher


def _evaluation() -> Any:
    for name in ("tools.evaluation", "services.match.evaluation"):
        try:
            return import_module(name)
        except ImportError:
            continue
    raise ImportError("no evaluation module (tools.evaluation or services.match.evaluation)")


def alert_lines(matcher: Matcher) -> Iterator[str]:
    evaluation = _evaluation()
    samples = evaluation.default_samples_dir()  # the same files in every checkout (bundled or ../shared)
    for case in evaluation.load_cases(samples_dir=samples):
        for alert in matcher.evaluate(case.event, evaluation.EVAL_NOW):
            yield alert.model_dump_json()
    for line in (samples / "news.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            for alert in matcher.evaluate(NewsArticle.model_validate_json(line), evaluation.EVAL_NOW):
                yield alert.model_dump_json()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.alerts_snapshot", description=__doc__.split("\n")[0]
    )
    parser.add_argument("out", type=Path, help="the JSON Lines file to write")
    args = parser.parse_args(argv)
    lines = list(alert_lines(Matcher.load()))
    args.out.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    print(f"{len(lines)} alerts written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
