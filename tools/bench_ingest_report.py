"""The ingest benchmark's figures: each pass, each baseline, the licences topic read back, the report
of a run, what does not add up in it, and the report as lines of text."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class PassResult:
    """One run of the service over the folder: the item outcomes its metrics counted, and its time from
    creating the service to the end of its first poll (``startup`` of it before polling began)."""

    name: str
    rows: int  # rows in the files the pass had to read (0 when the file was unchanged)
    seconds: float
    startup: float = 0.0
    published: int = 0
    updated: int = 0
    near_duplicate: int = 0
    duplicate: int = 0
    rejected: int = 0
    poll_outcome: str = "ok"
    cpu: float = 0.0  # CPU seconds of this process (every thread) during the pass
    broker_cpu: float | None = None  # CPU seconds of the embedded broker during the pass
    expect_published: int | None = None
    expect_updated: int | None = None

    @property
    def accounted(self) -> int:
        return self.published + self.updated + self.near_duplicate + self.duplicate + self.rejected

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclasses.dataclass
class Rate:
    """A baseline: ``count`` items (``size`` bytes) in ``seconds``."""

    name: str
    count: int
    seconds: float
    size: int = 0

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0

    @property
    def megabytes_per_second(self) -> float:
        return self.size / self.seconds / 1e6 if self.seconds > 0 else 0.0


@dataclasses.dataclass
class TopicCheck:
    """What the licences topic holds of this run's ids: records in all, distinct ids, per revision."""

    records: int
    distinct: int
    by_revision: dict[int, int]
    expected: int
    complete: bool  # every expected record was read before the timeout


@dataclasses.dataclass
class Report:
    source: str
    file_bytes: int
    database: str
    broker: str
    parse: Rate
    rejected_rows: int
    passes: list[PassResult]
    produce: Rate | None = None
    topic: TopicCheck | None = None
    peak_rss_mib: float = 0.0  # this process, after the first ingest
    peak_rss_end_mib: float = 0.0  # this process, at the end (the baseline keeps its messages in memory)
    broker_rss_mib: float | None = None  # the embedded broker's peak
    warnings: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def first(self) -> PassResult:
        return self.passes[0]

    @property
    def ratio(self) -> float | None:
        """Full ingest rows/s over raw produce messages/s: the share of the broker-bound ceiling reached."""
        if self.produce is None or self.produce.per_second == 0:
            return None
        return self.first.rows_per_second / self.produce.per_second


def problems(report: Report) -> list[str]:
    """Every count that does not add up; empty when the run is sound."""
    out: list[str] = []
    for p in report.passes:
        if p.poll_outcome != "ok":
            out.append(f"{p.name}: the poll ended with {p.poll_outcome}")
        if p.accounted != p.rows:
            out.append(
                f"{p.name}: published {p.published} + updated {p.updated} + near duplicates "
                f"{p.near_duplicate} + duplicates {p.duplicate} + rejected {p.rejected} = {p.accounted}, "
                f"not the {p.rows} rows read"
            )
        if p.expect_published is not None and p.published != p.expect_published:
            out.append(f"{p.name}: {p.published} published, expected {p.expect_published}")
        if p.expect_updated is not None and p.updated != p.expect_updated:
            out.append(f"{p.name}: {p.updated} updates published, expected {p.expect_updated}")
    if report.topic is not None:
        t = report.topic
        published = sum(p.published for p in report.passes)
        updated = sum(p.updated for p in report.passes)
        if t.records != t.expected or t.records != published + updated:
            out.append(
                f"licences topic: {t.records} records of this run, expected {t.expected} "
                f"({published} published + {updated} updates)"
                + ("" if t.complete else "; the read timed out")
            )
        if t.distinct != published:
            out.append(f"licences topic: {t.distinct} distinct ids, expected {published}")
        if t.by_revision.get(1, 0) != published:
            out.append(
                f"licences topic: {t.by_revision.get(1, 0)} records of revision 1, expected {published}"
            )
        if sum(n for r, n in t.by_revision.items() if r > 1) != updated:
            out.append(f"licences topic: {t.by_revision} by revision, expected {updated} updates")
    return out


def _n(value: float) -> str:
    return f"{value:,.0f}"


def format_report(report: Report) -> list[str]:
    """The report as lines of text: the input, one line per pass and per baseline, then the ratios."""
    lines = [
        f"input: {report.source}, {_n(report.parse.count)} rows, {report.file_bytes / 1e6:.1f} MB "
        f"({report.rejected_rows} rejected by the parser)",
        f"database: {report.database}; broker: {report.broker}",
        "",
        f"{'measurement':38} {'rows':>8} {'seconds':>8} {'rows/s':>9} {'publ.':>7} {'upd.':>6} "
        f"{'dup.':>7} {'rej.':>5} {'cpu s':>6} {'broker cpu s':>12}",
    ]
    for p in report.passes:
        broker_cpu = "" if p.broker_cpu is None else f"{p.broker_cpu:.1f}"
        lines.append(
            f"{p.name:38} {_n(p.rows):>8} {p.seconds:>8.2f} {_n(p.rows_per_second):>9} {_n(p.published):>7} "
            f"{_n(p.updated):>6} {_n(p.duplicate + p.near_duplicate):>7} {_n(p.rejected):>5} "
            f"{p.cpu:>6.1f} {broker_cpu:>12}"
        )
    baselines = [report.parse] + ([report.produce] if report.produce else [])
    for b in baselines:
        lines.append(f"{b.name:38} {_n(b.count):>8} {b.seconds:>8.2f} {_n(b.per_second):>9}")
    lines.append("")
    first = report.first
    lines.append(
        f"first ingest: {first.seconds:.1f} s from start to the end of the poll "
        f"({first.startup:.1f} s of it starting the service)"
    )
    if report.produce is not None and report.ratio is not None:
        lines.append(
            f"raw produce: {report.produce.megabytes_per_second:.1f} MB/s, "
            f"{report.produce.size / max(1, report.produce.count):.0f} bytes a message"
        )
        lines.append(f"ratio full ingest / raw produce (rows/s): {report.ratio:.2f}")
    if report.parse.per_second:
        lines.append(
            f"ratio full ingest / parse only (rows/s): {first.rows_per_second / report.parse.per_second:.2f}"
        )
    if report.topic is not None:
        t = report.topic
        revisions = ", ".join(f"revision {r}: {_n(n)}" for r, n in sorted(t.by_revision.items()))
        lines.append(
            f"licences topic: {_n(t.records)} records of this run ({revisions}), "
            f"{_n(t.distinct)} distinct ids; expected {_n(t.expected)}"
            + ("" if t.complete else " (read timed out)")
        )
    if report.warnings:
        lines.append("warnings: " + ", ".join(f"{k} {_n(v)}" for k, v in sorted(report.warnings.items())))
    memory = (
        f"peak RSS: {report.peak_rss_mib:.0f} MiB after the first ingest, "
        f"{report.peak_rss_end_mib:.0f} MiB at the end"
    )
    if report.broker_rss_mib is not None:
        memory += f"; embedded broker {report.broker_rss_mib:.0f} MiB"
    lines.append(memory)
    found = problems(report)
    lines.append("")
    lines.extend(["PROBLEMS:", *(f"  - {p}" for p in found)] if found else ["every count adds up"])
    return lines
