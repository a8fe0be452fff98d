"""The load harness's events: its options, the events of a run made from a seed (news articles in five
languages and licence records), and the workload pushed, with the alerts the matcher must raise on it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
from collections.abc import Iterator
from importlib import resources
from typing import Any

from schemas import parse_event

LANGUAGES = ("en", "nl", "fr", "de", "es")

# Licence data: most licences are for goods of no interest or to destinations not watched; surveillance
# codes to watched destinations are the few that alert. The matcher decides, offline, which do.
ORDINARY_CODES = ("ML1a", "ML10d", "1C350", "2B350", "9A610", "6A003", "ML22a", "3A001.a", "End Use")
WATCHED_CODES = ("5A001.j", "5A001.f", "4A005", "4D004", "5D001.a", "5A004.a")
ORDINARY_DESTINATIONS = ("US", "NO", "JP", "CH", "AU", "CA", "KR", "NZ", "FR", "DE")
WATCHED_DESTINATIONS = ("CN", "RU", "EG", "SA", "AE", "BH", "IR", "BY")


@dataclasses.dataclass(frozen=True)
class LoadConfig:
    events: int = 200_000
    match_share: float = 0.05
    licence_share: float = 0.25
    body_bytes: int = 2000
    batch: int = 500
    senders: int = 4
    poison_every: int = 20_000
    raw: bool = True
    timeout: float = 1800.0
    seed: int = 2026
    notify_concurrency: int = 32
    rate: float = 0.0  # events per second offered to the push API; 0: as fast as ingest takes them


# --- the events ---------------------------------------------------------------------------------------


def _lines(name: str) -> list[str]:
    text = resources.files("tools.benchdata").joinpath(name).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip()]


class EventSource:
    """The events of a run, the same for the same options and seed."""

    def __init__(self, cfg: LoadConfig, run: str) -> None:
        self.cfg = cfg
        self.run = run
        rng = random.Random(cfg.seed)
        self.sentences: dict[str, list[str]] = {}
        for lang in LANGUAGES:
            # Ordinary news vocabulary in random order: thousands of distinct sentences per language, so
            # that no two articles share enough text to be taken for copies of one story.
            words = sorted({w.strip(".,;:«»\"'") for w in " ".join(_lines(f"{lang}.txt")).split()} - {""})
            self.sentences[lang] = [
                " ".join(rng.choices(words, k=rng.randint(8, 18))).capitalize() + "." for _ in range(4000)
            ]
        self.watched: dict[str, list[str]] = {lang: [] for lang in LANGUAGES}
        for line in _lines("watched.txt"):
            lang, sentence = line.split("\t", 1)
            self.watched[lang].append(sentence)
        self.start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)

    def _news(self, i: int, rng: random.Random) -> dict[str, Any]:
        lang = LANGUAGES[i % len(LANGUAGES)]
        pool = self.sentences[lang]
        paragraphs: list[str] = []
        size = 0
        while size < self.cfg.body_bytes:
            paragraph = " ".join(rng.choices(pool, k=rng.randint(2, 4)))
            paragraphs.append(paragraph)
            size += len(paragraph.encode()) + 2
        if rng.random() < self.cfg.match_share:
            paragraphs.insert(rng.randrange(len(paragraphs) + 1), rng.choice(self.watched[lang]))
        return {
            "type": "news_article",
            "id": f"load-{self.run}-{i}",
            "source": f"outlet-{i % 37}.example",
            "url": f"https://outlet-{i % 37}.example/{self.run}/{i}",
            "title": rng.choice(pool)[:90],
            "body": "\n\n".join(paragraphs),
            "language": lang,
            "published_at": (self.start + dt.timedelta(seconds=i)).isoformat(),
        }

    def _licence(self, i: int, rng: random.Random) -> dict[str, Any]:
        if rng.random() < self.cfg.match_share:
            code, destination = rng.choice(WATCHED_CODES), rng.choice(WATCHED_DESTINATIONS)
        elif rng.random() < 0.5:
            code, destination = rng.choice(WATCHED_CODES), rng.choice(ORDINARY_DESTINATIONS)
        else:
            code = rng.choice(ORDINARY_CODES)
            destination = rng.choice(ORDINARY_DESTINATIONS + WATCHED_DESTINATIONS)
        return {
            "type": "licence_record",
            "id": f"load-{self.run}-{i}",
            "authority": "Load harness (synthetic)",
            "licensing_country": "NL",
            "destination_country": destination,
            "exporter": f"Exporter {i % 211} B.V.",
            "items": [{"control_code": code, "description": f"goods line {i}"}],
            "value": float(rng.randint(1_000, 5_000_000)),
            "currency": "EUR",
            "decision": rng.choice(("granted", "granted", "granted", "refused")),
            "decided_on": (self.start.date() - dt.timedelta(days=i % 900)).isoformat(),
        }

    def events(self) -> Iterator[dict[str, Any]]:
        rng = random.Random(self.cfg.seed + 1)
        for i in range(self.cfg.events):
            yield self._licence(i, rng) if rng.random() < self.cfg.licence_share else self._news(i, rng)


@dataclasses.dataclass
class Workload:
    """The push bodies (JSON Lines of ``batch`` events), made before the clock starts, and the alerts the
    bundled watchlists must raise on them (alert id -> event id), computed offline by the same matcher."""

    bodies: list[bytes]
    events: int
    expected: dict[str, str]

    def messages(self) -> Iterator[bytes]:
        for body in self.bodies:
            yield from body.split(b"\n")


def prepare(source: EventSource) -> Workload:
    from services.match.core.engine import Matcher

    matcher = Matcher.load()
    now = dt.datetime.now(dt.UTC)
    expected: dict[str, str] = {}
    bodies: list[bytes] = []
    chunk: list[bytes] = []
    count = 0
    for raw in source.events():
        count += 1
        event = parse_event(raw)
        for alert in matcher.evaluate(event, now):
            expected[alert.id] = event.id
        chunk.append(json.dumps(raw, ensure_ascii=False).encode())
        if len(chunk) == source.cfg.batch:
            bodies.append(b"\n".join(chunk))
            chunk = []
    if chunk:
        bodies.append(b"\n".join(chunk))
    return Workload(bodies, count, expected)
