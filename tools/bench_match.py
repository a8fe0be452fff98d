"""The matching benchmark: articles per second and MB/s of the full engine against a raw single-pass
scan of the same text (the ceiling) and two naive baselines (one alternation regex, a loop of
per-term regexes), with watchlists of growing size. Every figure is per core, in CPU time, the best
of five rounds; still, figures only count as ratios within one run: the machines are shared and
noisy.

Articles: about 4 KB each, in English, Dutch, French, German and Spanish, built from ordinary news
sentences with a watched sentence (a technology and a high-risk destination) in one article in 20,
as watched terms are rare in real news. Watchlists: a small real core (technologies, destinations and
vendors from the bundled lists) topped up with synthetic vendor and product names to the size asked
for; synthetic names never occur in the articles, as most watchlist terms never occur in a given
article.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import platform
import random
import re
import sys
import time
from collections.abc import Callable, Sequence
from importlib import resources

from schemas.events import NewsArticle
from services.match.core.engine import Matcher
from services.match.core.terms import TermIndex
from services.match.core.text import fold
from services.match.core.watchlists import (
    DestinationEntry,
    RolesFile,
    TechnologyEntry,
    TermItem,
    VendorEntry,
    Watchlists,
    load,
)

LANGUAGES = ("en", "nl", "fr", "de", "es")
ARTICLE_BYTES = 4096
WATCHED_SHARE = 20  # one article in 20 carries a watched sentence
_SYLLABLES = [
    "ka",
    "ro",
    "vel",
    "tri",
    "max",
    "on",
    "qua",
    "zen",
    "lor",
    "bix",
    "tal",
    "mer",
    "sun",
    "dra",
    "vo",
    "nix",
    "pel",
    "gar",
    "tor",
    "lin",
    "sa",
    "fe",
    "ku",
    "ob",
    "zy",
    "ra",
    "quo",
    "vim",
    "dex",
    "len",
    "har",
    "pos",
    "cul",
    "mib",
    "tes",
    "ner",
    "gol",
    "fra",
    "ju",
    "wek",
]
_SUFFIXES = ("Systems", "Labs", "Vision", "Networks", "Analytics", "Defence", "Intelligence", "Technologies")


def _lines(name: str) -> list[str]:
    text = resources.files("tools.benchdata").joinpath(name).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip()]


def articles(count: int, seed: int = 7) -> list[NewsArticle]:
    """``count`` articles of about ARTICLE_BYTES bytes, the languages in turn."""
    rng = random.Random(seed)
    ordinary = {lang: _lines(f"{lang}.txt") for lang in LANGUAGES}
    watched: dict[str, list[str]] = {lang: [] for lang in LANGUAGES}
    for line in _lines("watched.txt"):
        lang, sentence = line.split("\t", 1)
        watched[lang].append(sentence)
    out = []
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for i in range(count):
        lang = LANGUAGES[i % len(LANGUAGES)]
        paragraphs: list[str] = []
        size = 0
        while size < ARTICLE_BYTES:
            paragraph = " ".join(rng.sample(ordinary[lang], 3))
            paragraphs.append(paragraph)
            size += len(paragraph.encode()) + 2
        if i % WATCHED_SHARE == WATCHED_SHARE - 1:
            paragraphs.insert(rng.randrange(len(paragraphs)), rng.choice(watched[lang]))
        body = "\n\n".join(paragraphs).encode()[:ARTICLE_BYTES].decode("utf-8", "ignore")
        out.append(
            NewsArticle(
                id=f"bench-{i}",
                source="benchmark",
                url=f"https://example.org/bench/{i}",
                title=paragraphs[0][:80],
                body=body,
                language=lang,
                published_at=now,
            )
        )
    return out


def _core(lists: Watchlists) -> Watchlists:
    """A small real core of the bundled lists (about 75 terms), the same for every size."""
    technologies: dict[str, TechnologyEntry] = {}
    for ident in ("facial-recognition", "spyware", "emotion-recognition", "network-surveillance"):
        entry = lists.technologies[ident]
        terms = {lang: items[:2] for lang, items in entry.terms.items()}
        technologies[ident] = entry.model_copy(update={"terms": terms})
    destinations: dict[str, DestinationEntry] = {}
    for ident in ("CN", "EG", "BH", "AE", "BY", "SA", "VE"):
        dest = lists.destinations[ident]
        destinations[ident] = dest.model_copy(
            update={"cldr": True, "names": [], "adjectives": dest.adjectives[:2], "places": dest.places[:1]}
        )
    vendors = {k: v for k, v in list(lists.vendors.items())[:4]}
    return dataclasses.replace(
        lists,
        technologies=technologies,
        context={},
        destinations=destinations,
        vendors=vendors,
        version=lists.version + "-core",
    )


def _pseudo_word(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()


def sized(lists: Watchlists, terms: int, seed: int = 11) -> Matcher:
    """A matcher with the core lists topped up with synthetic vendors to about ``terms`` terms."""
    base = _core(lists)
    have = len(Matcher(base).index)
    rng = random.Random(seed)
    vendors = dict(base.vendors)
    seen: set[str] = set()
    while have < terms:
        name = _pseudo_word(rng)
        product = _pseudo_word(rng)
        words = [name, f"{name} {rng.choice(_SUFFIXES)}", product, f"{product} {_pseudo_word(rng)}"]
        words = [w for w in words if fold(w) not in seen][: max(1, terms - have)]
        if not words:
            continue
        seen.update(fold(w) for w in words)
        ident = f"synthetic-{len(vendors)}"
        vendors[ident] = VendorEntry(
            id=ident,
            name=name,
            rationale="synthetic benchmark entry",
            technologies=["spyware"],
            aliases=words[:1],
            products=words[1:],
        )
        have += len(words)
    return Matcher(dataclasses.replace(base, vendors=vendors, version=f"{base.version}-{terms}"))


def _all_terms(matcher: Matcher) -> list[str]:
    """The written terms of the lists, for the naive regex baselines."""
    lists = matcher.lists
    items: list[TermItem] = []
    for tech in lists.technologies.values():
        items.extend(item for group in tech.terms.values() for item in group)
    for dest in lists.destinations.values():
        items.extend([*dest.names, *dest.adjectives, *dest.places])
    for vendor in lists.vendors.values():
        items.extend([*vendor.aliases, *vendor.products])
    return list(dict.fromkeys(item if isinstance(item, str) else item.term for item in items))


@dataclasses.dataclass
class Figure:
    name: str
    terms: int
    articles: float  # per second
    megabytes: float  # per second
    note: str = ""


ROUNDS = 5


def _measure(
    name: str, terms: int, run: Callable[[str], object], texts: Sequence[str], seconds: float
) -> Figure:
    """Run ``run`` over the texts round-robin for about ``seconds`` of CPU time in ROUNDS rounds (at
    least one text each), and keep the fastest round: per core, and as little as possible of the
    time the shared machine gives to others."""
    return _interleaved([(name, terms, run)], texts, seconds, ROUNDS)[0]


def _interleaved(
    runs: Sequence[tuple[str, int, Callable[[str], object]]],
    texts: Sequence[str],
    seconds: float,
    rounds: int,
) -> list[Figure]:
    """Like ``_measure`` for several runs at once, taking turns round by round, so that a busy
    moment of the machine slows all of them alike and their ratios stay fair."""
    best = [Figure(name, terms, 0.0, 0.0) for name, terms, _ in runs]
    done = [0] * len(runs)
    for _ in range(rounds):
        for i, (name, terms, run) in enumerate(runs):
            count = 0
            size = 0
            started = time.process_time()
            while True:
                text = texts[done[i] % len(texts)]
                run(text)
                done[i] += 1
                count += 1
                size += len(text.encode())
                elapsed = time.process_time() - started
                if elapsed >= seconds / rounds:
                    break
            if count / elapsed > best[i].articles:
                best[i] = Figure(name, terms, count / elapsed, size / elapsed / 1e6)
    return best


def _raw(index: TermIndex) -> Callable[[str], object]:
    def scan(text: str) -> object:
        return index.raw_scan(text.lower())

    return scan


def _alternation(pattern: re.Pattern[str]) -> Callable[[str], object]:
    def scan(text: str) -> object:
        return pattern.findall(text)

    return scan


def _loop(patterns: list[re.Pattern[str]]) -> Callable[[str], object]:
    def scan(text: str) -> object:
        return [p.search(text) for p in patterns]

    return scan


def run(
    sizes: Sequence[int], count: int, seconds: float, naive_limit: int, out: Callable[[str], None]
) -> list[Figure]:
    docs = articles(count)
    texts = [f"{d.title}\n{d.body}" for d in docs]
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    bundled = load()
    figures: list[Figure] = []
    matchers: list[tuple[str, Matcher]] = [("bundled", Matcher(bundled))]
    for terms in sizes:
        started = time.perf_counter()
        matchers.append((str(terms), sized(bundled, terms)))
        out(f"built the {terms}-term watchlist in {time.perf_counter() - started:.1f} s")
    for label, matcher in matchers:
        n = len(matcher.index)
        alerts = sum(len(matcher.evaluate(d, now)) for d in docs)
        pair = [
            (f"full engine ({label})", n, _engine(matcher, docs, now)),
            (f"raw scan ({label})", n, _raw(matcher.index)),
        ]
        engine, raw = _interleaved(pair, texts, seconds, ROUNDS)  # in turns: a fair ratio
        engine.note = f"{alerts} alerts in {len(docs)} articles"
        figures.extend([engine, raw])
        if label == "bundled":
            continue
        words = sorted(_all_terms(matcher), key=len, reverse=True)
        started = time.perf_counter()
        alternation = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b", re.IGNORECASE)
        compile_note = f"compiled in {time.perf_counter() - started:.1f} s"
        figures.append(
            _measure(f"one alternation regex ({label})", n, _alternation(alternation), texts, seconds)
        )
        figures[-1].note = compile_note
        if len(words) <= naive_limit:
            loop = [re.compile(r"\b" + re.escape(w) + r"\b", re.IGNORECASE) for w in words]
            figures.append(
                _measure(
                    f"per-term regex loop ({label})",
                    n,
                    _loop(loop),
                    texts,
                    seconds,
                )
            )
    return figures


def _engine(matcher: Matcher, docs: Sequence[NewsArticle], now: dt.datetime) -> Callable[[str], object]:
    position = 0

    def evaluate(_text: str) -> object:
        nonlocal position
        doc = docs[position % len(docs)]
        position += 1
        return matcher.evaluate(doc, now)

    return evaluate


def _lemmatiser(docs: Sequence[NewsArticle]) -> Callable[[str], object] | None:
    """simplemma lemmatising every word of the article in its language, if simplemma is installed
    (it is not a dependency: the engine generates forms instead; this measures the alternative)."""
    try:
        import simplemma  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    word = re.compile(r"\w+")
    position = 0

    def lemmatise(_text: str) -> object:
        nonlocal position
        doc = docs[position % len(docs)]
        position += 1
        return [
            simplemma.lemmatize(w, lang=doc.language or "en")
            for text in (doc.title, doc.body)
            for w in word.findall(text)
        ]

    for _ in range(len(docs)):  # load the dictionaries and fill the cache first
        lemmatise("")
    return lemmatise


def costs(count: int, seconds: float, out: Callable[[str], None]) -> list[Figure]:
    """What the inflected forms and the role cues cost: the full engine against the same engine
    compiled without the generated forms, and without any role cue (every country neutral), with
    the bundled lists and at 10,000 terms; and lemmatising every word with simplemma instead."""
    docs = articles(count)
    texts = [f"{d.title}\n{d.body}" for d in docs]
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    bundled = load()
    runs: list[tuple[str, int, Callable[[str], object]]] = []
    notes: list[str] = []
    for label, lists in (("bundled", bundled), ("10000", sized(bundled, 10_000).lists)):
        variants = (
            ("full engine", Matcher(lists)),
            ("without generated forms", Matcher(lists, inflect=False)),
            ("without role cues", Matcher(dataclasses.replace(lists, roles=RolesFile()))),
        )
        for name, matcher in variants:
            runs.append((f"{name} ({label})", len(matcher.index), _engine(matcher, docs, now)))
            notes.append(f"{matcher.index.keys} automaton keys")
    lemmatise = _lemmatiser(docs)
    if lemmatise is None:
        out("simplemma is not installed: pip install simplemma to measure lemmatising every word")
    else:
        runs.append(("simplemma, every word", 0, lemmatise))
        notes.append("the alternative: lemmatise the text")
    out(f"measuring {len(runs)} runs in turns, about {seconds:g} s of CPU time each")
    figures = _interleaved(runs, texts, seconds, rounds=3 * ROUNDS)
    for figure, note in zip(figures, notes, strict=True):
        figure.note = note
    return figures


def _table(figures: Sequence[Figure], out: Callable[[str], None]) -> None:
    out(f"{'measurement':44} {'terms':>8} {'articles/s':>11} {'MB/s':>8}  note")
    for f in figures:
        out(f"{f.name:44} {f.terms:>8} {f.articles:>11.1f} {f.megabytes:>8.2f}  {f.note}")


def cost_report(figures: Sequence[Figure], out: Callable[[str], None]) -> None:
    _table(figures, out)
    by = {f.name: f for f in figures}
    out("")
    out("time per article against the full engine (same run; 1.00 = as fast):")
    for f in figures:
        label = f.name.split("(")[1].rstrip(")") if "(" in f.name else "bundled"
        full = by.get(f"full engine ({label})")
        if full is not None and f is not full:
            out(f"  {f.name} / full engine ({label}): {full.articles / f.articles:.2f}")


def report(figures: Sequence[Figure], out: Callable[[str], None]) -> None:
    _table(figures, out)
    by = {f.name: f for f in figures}
    out("")
    out("ratios (same run):")
    for f in figures:
        if not f.name.startswith("full engine ("):
            continue
        label = f.name[len("full engine (") : -1]
        raw = by.get(f"raw scan ({label})")
        if raw:
            out(f"  full engine / raw scan, {label} terms: {f.megabytes / raw.megabytes:.2f}")
    engines = [f for f in figures if f.name.startswith("full engine (") and "bundled" not in f.name]
    if len(engines) >= 2:
        smallest, largest = engines[0], engines[-1]
        out(
            f"  full engine at {largest.terms} terms / at {smallest.terms} terms: "
            f"{largest.megabytes / smallest.megabytes:.2f}"
        )
    for f in figures:
        if f.name.startswith(("one alternation", "per-term")):
            label = f.name.split("(")[1].rstrip(")")
            engine = by.get(f"full engine ({label})")
            if engine:
                out(f"  full engine / {f.name}: {engine.articles / f.articles:.1f}x")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="exportwatch bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,10000,100000", help="watchlist sizes in terms (comma list)")
    parser.add_argument("--articles", type=int, default=500, help="distinct articles (default 500)")
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement (default 2 s)")
    parser.add_argument(
        "--naive-limit",
        type=int,
        default=10000,
        help="largest list for the per-term regex loop (it takes seconds per article beyond)",
    )
    parser.add_argument(
        "--costs",
        action="store_true",
        help="instead: what the generated inflected forms and the role cues cost, and simplemma "
        "lemmatising every word (when installed)",
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    def out(line: str) -> None:
        print(line, flush=True)

    out(f"python {platform.python_version()} on {platform.machine()}, one core, {args.articles} articles")
    if args.costs:
        cost_report(costs(args.articles, args.seconds, out), out)
        return 0
    figures = run(sizes, args.articles, args.seconds, args.naive_limit, out)
    report(figures, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
