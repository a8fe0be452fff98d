"""The ingest benchmark's input and arithmetic, without a broker (its figures are read by people, not
asserted: speed is checked with ratios in docs/benchmarks.md, not by timed tests)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from schemas import LicenceRecord
from services.ingest.core.caat import COLUMNS, parse_caat_values
from tests.conftest import ROOT
from tools import bench_ingest as benchmark
from tools.bench_ingest import PassResult, Rate, Report, TopicCheck
from tools.cli import build_parser, main


def records(data: bytes) -> list[LicenceRecord]:
    parsed = list(parse_caat_values(data, "values.csv"))
    out = [p for p in parsed if isinstance(p, LicenceRecord)]
    assert len(out) == len(parsed), "the parser rejected a row"
    return out


def test_the_synthetic_file_is_deterministic_with_the_rows_asked_for() -> None:
    data = benchmark.synthetic_values(5000)
    assert data == benchmark.synthetic_values(5000)
    assert data.count(b"\n") == 5001  # the header and one line per row
    assert benchmark.synthetic_values(0).splitlines() == [b",".join(c.encode() for c in COLUMNS)]
    with pytest.raises(ValueError):
        benchmark.synthetic_values(-1)


def test_synthetic_rows_have_distinct_ids_and_dates_spread_over_2008_to_2015() -> None:
    rows = 5000  # more than the 2,133 rows of the sample: it is replicated
    parsed = records(benchmark.synthetic_values(rows))
    assert len(parsed) == rows
    assert len({r.id for r in parsed}) == rows
    dates = [r.decided_on for r in parsed if r.decided_on is not None]
    assert len(dates) == rows
    assert dates == sorted(dates)
    assert dates[0] == dt.date(2008, 1, 1)
    assert dt.date(2015, 12, 1) <= dates[-1] <= dt.date(2015, 12, 31)
    assert {d.year for d in dates} == set(range(2008, 2016))
    # The rest of each row is the real sample's: destinations, codes and values repeat.
    sample = records(
        ROOT.joinpath("services", "ingest", "samples", "uk-caat-values-2014-sample.csv").read_bytes()
    )
    assert [(r.destination_name, r.value) for r in parsed[: len(sample)]] == [
        (r.destination_name, r.value) for r in sample
    ]


def test_parse_only_counts_rows_rejections_and_ids() -> None:
    data = benchmark.synthetic_values(300) + b"x,not-a-date,ML1,1,10,France,0\n"
    parsed = benchmark.parse_only(data)
    assert (parsed.rows, parsed.rejected, len(parsed.ids)) == (301, 1, 300)
    assert parsed.seconds > 0


def test_a_corrected_release_changes_the_value_of_one_row_in_n_and_nothing_else() -> None:
    data = benchmark.synthetic_values(1000)
    corrected, changed = benchmark.corrected_release(data, every=100)
    assert changed == 10
    before, after = records(data), records(corrected)
    assert [r.id for r in before] == [r.id for r in after]
    differing = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert len(differing) == changed
    for a, b in differing:
        assert b.value == (a.value or 0) + 1
        assert b.model_copy(update={"value": a.value}) == a
    old_lines, new_lines = data.splitlines(), corrected.splitlines()
    assert sum(o != n for o, n in zip(old_lines, new_lines, strict=True)) == changed
    assert benchmark.corrected_release(data, every=0) == (data, 0)


def test_a_corrected_release_keeps_the_real_files_quoting_and_line_ends() -> None:
    data = (
        b"licence_group,date,rating,count,value,country,refused\r\n"
        b"1,2008-01-02,ML10,1,3540,Italy,0\r\n"
        b'2,2008-01-02,ML7,1,3600,"United Arab Emirates",0\r\n'
        b"3,2008-01-02,ML10,1,,Philippines,0\r\n"
        b'4,2008-01-02,ML10,1,90720,"United States of America",0\r\n'
    )
    corrected, changed = benchmark.corrected_release(data, every=2)
    assert changed == 2
    assert corrected.splitlines(keepends=True) == [
        b"licence_group,date,rating,count,value,country,refused\r\n",
        b"1,2008-01-02,ML10,1,3540,Italy,0\r\n",
        b'2,2008-01-02,ML7,1,3601,"United Arab Emirates",0\r\n',
        b"3,2008-01-02,ML10,1,,Philippines,0\r\n",
        b'4,2008-01-02,ML10,1,90721,"United States of America",0\r\n',
    ]
    assert [r.value for r in records(corrected)] == [3540, 3601, 0, 90721]
    corrected, changed = benchmark.corrected_release(data, every=3)  # an empty value is 0: it becomes 1
    assert changed == 1
    assert corrected.splitlines()[3] == b"3,2008-01-02,ML10,1,1,Philippines,0"


def _report(**changes: object) -> Report:
    rows = 96_000
    passes = [
        PassResult("first ingest (new file)", rows, 40.0, startup=0.2, published=rows, expect_published=rows),
        PassResult("restart, same file (unchanged)", 0, 0.1, expect_published=0),
        PassResult("same rows in another file", rows, 8.0, duplicate=rows, expect_published=0),
        PassResult(
            "corrected release (960 changed)",
            rows,
            10.0,
            updated=960,
            duplicate=rows - 960,
            expect_published=0,
            expect_updated=960,
        ),
    ]
    report = Report(
        source="synthetic",
        file_bytes=4_000_000,
        database="SQLite",
        broker="embedded",
        parse=Rate("parse only (parse_caat_values)", rows, 1.5),
        rejected_rows=0,
        passes=passes,
        produce=Rate("raw produce (aiokafka, acks=all)", rows, 3.0, size=rows * 520),
        topic=TopicCheck(rows + 960, rows, {1: rows, 2: 960}, rows + 960, complete=True),
        peak_rss_mib=200,
        peak_rss_end_mib=260,
        broker_rss_mib=190,
    )
    for name, value in changes.items():
        setattr(report, name, value)
    return report


def test_report_arithmetic() -> None:
    report = _report()
    first = report.first
    assert first.accounted == 96_000
    assert first.rows_per_second == 2_400
    assert report.produce is not None and report.produce.per_second == 32_000
    assert report.produce.megabytes_per_second == pytest.approx(16.64)
    assert report.ratio == pytest.approx(0.075)
    assert PassResult("empty", 0, 0.0).rows_per_second == 0
    assert Rate("none", 0, 0.0).per_second == 0
    assert benchmark.problems(report) == []
    text = "\n".join(benchmark.format_report(report))
    assert "ratio full ingest / raw produce (rows/s): 0.07" in text  # 0.075 rounds to even
    assert "ratio full ingest / parse only (rows/s): 0.04" in text
    assert "raw produce: 16.6 MB/s, 520 bytes a message" in text
    assert "first ingest: 40.0 s from start to the end of the poll (0.2 s of it starting the service)" in text
    assert "revision 1: 96,000, revision 2: 960" in text
    assert "peak RSS: 200 MiB after the first ingest, 260 MiB at the end; embedded broker 190 MiB" in text
    assert text.endswith("every count adds up")
    line = next(x for x in text.splitlines() if x.startswith("first ingest (new file)"))
    assert line.split()[4:7] == ["96,000", "40.00", "2,400"]


def test_counts_that_do_not_add_up_are_reported() -> None:
    report = _report()
    report.passes[0].published -= 5  # five rows went nowhere
    report.passes[1].published = 3  # a rerun published something
    report.passes[3].updated -= 1
    report.passes[3].duplicate += 1
    report.passes[2].poll_outcome = "publish_error=1"
    found = benchmark.problems(report)
    assert any("first ingest" in p and "not the 96000 rows read" in p for p in found)
    assert any("first ingest" in p and "95995 published, expected 96000" in p for p in found)
    assert any("restart" in p and "3 published, expected 0" in p for p in found)
    assert any("corrected release" in p and "959 updates published, expected 960" in p for p in found)
    assert any("publish_error=1" in p for p in found)
    assert "PROBLEMS:" in benchmark.format_report(report)


def test_a_topic_missing_records_is_reported() -> None:
    lost = TopicCheck(95_000, 94_100, {1: 94_100, 2: 900}, 96_960, complete=False)
    found = benchmark.problems(_report(topic=lost))
    assert any("95000 records of this run, expected 96960" in p and "timed out" in p for p in found)
    assert any("94100 distinct ids, expected 96000" in p for p in found)
    assert any("expected 960 updates" in p for p in found)


def test_the_command_is_wired(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert "bench-ingest" in build_parser().format_help()
    with pytest.raises(SystemExit) as exit_:
        main(["bench-ingest", "--help"])
    assert exit_.value.code == 0
    assert "exportwatch bench-ingest" in capsys.readouterr().out
    existing = tmp_path / "state.db"
    existing.write_bytes(b"")
    assert main(["bench-ingest", "--database-url", f"sqlite:///{existing}"]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["bench-ingest", "--database-url", "mysql://x@y/z"]) == 2
