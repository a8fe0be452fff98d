"""Evaluation of the matcher against a labelled set of cases (``tests/eval/*.yaml``).

A case is one news article or licence, written in the YAML file or pointing at a real sample bundled
in ``services/ingest/samples`` (``sample: {file: news.jsonl, id: sample-003}`` or a row of the CAAT CSV), with
the outcome a watchdog researcher expects: alert or not, and for an alert the technology categories
(shared domain.md section 2) and high-risk destinations (ISO alpha-2) it must name.

``load_cases`` validates the files (errors name the file and the case id), ``evaluate`` runs a
Matcher over them and returns a :class:`Report` (precision and recall of the alert decision overall,
per language, per event kind and per technology category, and the cases that went wrong),
``format_report`` prints it as a table.

Cases and their loading are in ``tools/evaluation_cases.py``, scoring in ``tools/evaluation_scoring.py``
and the table in ``tools/evaluation_format.py``; every name is importable from here as before.
"""

from __future__ import annotations

from tools.evaluation_cases import (
    CATEGORIES,
    EVAL_NOW,
    LANGUAGES,
    PATTERNS,
    Case,
    CaseFileError,
    CountryCode,
    Expected,
    Language,
    LoadedCase,
    Pattern,
    Sample,
    default_cases_path,
    default_samples_dir,
    load_cases,
)
from tools.evaluation_format import format_report
from tools.evaluation_scoring import CaseResult, Report, Score, evaluate, run

__all__ = [
    "CATEGORIES",
    "EVAL_NOW",
    "LANGUAGES",
    "PATTERNS",
    "Case",
    "CaseFileError",
    "CaseResult",
    "CountryCode",
    "Expected",
    "Language",
    "LoadedCase",
    "Pattern",
    "Report",
    "Sample",
    "Score",
    "default_cases_path",
    "default_samples_dir",
    "evaluate",
    "format_report",
    "load_cases",
    "run",
]
