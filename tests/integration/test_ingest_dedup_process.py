"""A sketch is the same in another Python process with another hash salt (moved from
tests/unit/test_ingest_dedup.py: it starts a process)."""

from __future__ import annotations

import subprocess
import sys

from services.ingest.core.dedup import Sketch, Sketcher
from tests.unit.test_ingest_dedup import FR_AFP, ROOT, _sketch


def test_sketch_is_the_same_in_a_fresh_sketcher_and_another_process() -> None:
    here = _sketch(FR_AFP).to_bytes()
    assert Sketcher().sketch(FR_AFP.title, FR_AFP.body) == Sketch.from_bytes(here)
    script = (
        "import sys\n"
        "from services.ingest.core.dedup import Sketcher\n"
        "from tests.unit.test_ingest_dedup import FR_AFP\n"
        "sys.stdout.write(Sketcher().sketch(FR_AFP.title, FR_AFP.body).to_bytes().hex())\n"
    )
    # Another PYTHONHASHSEED salts the child's hash() differently: only a salt-free hash gives equal bytes.
    child = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert child.stdout == here.hex()
