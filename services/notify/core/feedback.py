"""Researchers' feedback on alerts (pure): the reasons a researcher can give, in plain words.

``REASONS`` (id -> label) and ``NOT_RELEVANT``/``RELEVANT`` are what the API and the console offer;
``check`` names every problem with a judgement, ``precision`` turns counts of judgements into precision
per (rule, language), and ``eval_cases`` turns judged alerts into draft cases of ``tests/eval``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from schemas import Alert
from schemas.events import LicenceFacts

# Why an alert was not relevant: id -> what the console shows.
NOT_RELEVANT: dict[str, str] = {
    "wrong_destination": "Wrong destination country",
    "not_surveillance": "Not surveillance technology",
    "domestic_use": "Domestic use, no export",
    "duplicate": "Duplicate of another alert",
    "wrong_vendor": "Wrong company",
    "old_news": "Old news, not a new deal",
    "other": "Another reason (say in the note)",
}
# Why an alert was relevant (optional).
RELEVANT: dict[str, str] = {
    "new_deal": "A new deal or licence",
    "new_detail": "New detail on a known case",
    "other": "Another reason (say in the note)",
}
REASONS: dict[str, str] = {**NOT_RELEVANT, **RELEVANT}

# The eval set's languages (tools/evaluation_cases.py LANGUAGES); a case needs one of them.
EVAL_LANGUAGES = ("en", "nl", "fr", "de", "es")
UNKNOWN = "unknown"
MAX_NOTE = 2000
DRAFT_MARK = "DRAFT from researcher feedback, rewrite the body in your own words"


@dataclass(frozen=True)
class Judgement:
    """What a researcher said of one alert: the part of a stored feedback the export needs."""

    relevant: bool
    reason: str | None
    note: str | None


def check(relevant: Any, reason: Any, note: Any) -> list[tuple[str, str]]:
    """Every problem with a judgement sent by a researcher, as (field, message) pairs; empty when fine."""
    problems: list[tuple[str, str]] = []
    if not isinstance(relevant, bool):
        problems.append(("relevant", "say true (the alert was useful) or false (it was not)"))
    if reason is not None:
        known = RELEVANT if relevant is True else NOT_RELEVANT if relevant is False else REASONS
        if not isinstance(reason, str) or reason not in known:
            listed = ", ".join(known)
            problems.append(("reason", f"unknown reason {reason!r}; the known reasons are: {listed}"))
    if note is not None and (not isinstance(note, str) or len(note) > MAX_NOTE):
        problems.append(("note", f"a note is text of at most {MAX_NOTE} characters"))
    return problems


def label_language(language: str | None) -> str:
    """A language code fit for a metric label: a two-letter lower-case code, else ``unknown``."""
    if language and len(language) == 2 and language.isascii() and language.isalpha():
        return language.lower()
    return UNKNOWN


def label_rule(rule: str) -> str:
    """A rule id fit for a metric label: the matcher's ids are short dotted names; anything else is
    ``other`` (a label never carries free text)."""
    return rule if re.fullmatch(r"[a-z][a-z0-9_.-]{0,63}", rule) else "other"


def precision(counts: Mapping[tuple[str, str, bool], int]) -> dict[tuple[str, str], float]:
    """Precision as researchers see it per (rule, language): relevant / (relevant + not relevant).

    ``counts`` maps (rule, language, relevant) to the number of judgements; a pair nobody judged has no
    precision (it is left out rather than reported as 0 or 1)."""
    totals: dict[tuple[str, str], list[int]] = {}
    for (rule, language, relevant), n in counts.items():
        pair = totals.setdefault((rule, language), [0, 0])
        pair[0 if relevant else 1] += n
    return {key: good / (good + bad) for key, (good, bad) in totals.items() if good + bad > 0}


def _case_id(alert: Alert, owner_index: int) -> str:
    slug = re.sub(r"[^a-z0-9._-]+", "-", alert.id.lower()).strip("-._") or "alert"
    return f"feedback-{slug}"[:110] + (f"-{owner_index}" if owner_index else "")


def _why(alert: Alert, judgement: Judgement) -> str:
    if judgement.relevant:
        why = f"Researcher confirmed alert {alert.id} ({alert.rule}) as relevant"
        if judgement.reason:
            why += f": {RELEVANT.get(judgement.reason, judgement.reason)}"
    else:
        label = NOT_RELEVANT.get(judgement.reason or "other", judgement.reason or "")
        why = f"Researcher marked alert {alert.id} ({alert.rule}) not relevant: {label}"
    if judgement.note:
        why += f". Note: {judgement.note.strip()}"
    return f"{DRAFT_MARK}. {why}."


def _expect(alert: Alert, judgement: Judgement) -> dict[str, Any]:
    if not judgement.relevant:
        return {"alert": False}
    expect: dict[str, Any] = {"alert": True}
    if alert.technologies:
        expect["technologies"] = sorted(alert.technologies)
    if alert.destinations:
        expect["destinations"] = sorted(alert.destinations)
    return expect


def _news(alert: Alert) -> dict[str, Any]:
    # Notify never holds the article, only the sentences that made the rule fire: the body is those
    # snippets, one per paragraph, in order and without repeats, for the researcher to rewrite.
    snippets: list[str] = []
    for evidence in alert.evidence:
        text = " ".join(evidence.snippet.split())
        if evidence.field != "title" and text and text not in snippets:
            snippets.append(text)
    body = "\n\n".join(snippets) or alert.summary
    return {"title": alert.title, "body": body + "\n"}


def _licence(facts: LicenceFacts) -> dict[str, Any]:
    licence = facts.model_dump(mode="json", exclude_none=True)
    licence["items"] = [{k: v for k, v in item.items() if v is not None} for item in licence.get("items", [])]
    return licence


def _bare_licence(alert: Alert) -> dict[str, Any]:
    licence: dict[str, Any] = {"items": [{"control_code": code} for code in alert.control_codes]}
    if len(alert.destinations) == 1:
        licence["destination_country"] = alert.destinations[0]
    return licence


def eval_case(alert: Alert, judgement: Judgement, owner_index: int = 0) -> dict[str, Any]:
    """The eval case (``tests/eval`` form) a judgement suggests: a draft, marked as such in ``why``.

    ``owner_index`` tells apart the cases of several researchers who judged the same alert."""
    language = alert.language if alert.language in EVAL_LANGUAGES else "en"
    case: dict[str, Any] = {
        "id": _case_id(alert, owner_index),
        "language": language,
        "why": _why(alert, judgement),
    }
    if alert.url and re.match(r"^https?://\S+$", alert.url):
        case["source"] = alert.url
    if alert.licence is not None:
        case["pattern"] = "licence"
        case["licence"] = _licence(alert.licence)
    elif alert.event_type == "licence_record":
        # From a matcher older than LicenceFacts: the codes and the destination are all there is.
        case["pattern"] = "licence"
        case["licence"] = _bare_licence(alert)
    else:
        case["news"] = _news(alert)
    case["expect"] = _expect(alert, judgement)
    return case


def eval_cases(pairs: Iterable[tuple[Alert, Judgement]]) -> list[dict[str, Any]]:
    """The draft eval cases of several judgements, ids unique (one per alert and researcher)."""
    seen: dict[str, int] = {}
    cases: list[dict[str, Any]] = []
    for alert, judgement in pairs:
        index = seen.get(alert.id, 0)
        seen[alert.id] = index + 1
        cases.append(eval_case(alert, judgement, index))
    return cases
