"""The benchmark report: which baselines a figure is compared with, and how samples show."""

from __future__ import annotations

from benchmarks import report
from benchmarks.rows import Row

OURS = report.OURS


def raw_and_ours() -> list[Row]:
    return [
        Row(report.RAW, "raw", "drain", [10_000.0]),
        Row(report.RAW, "raw", "drain_batch", [100_000.0]),
        Row(OURS, "alligator", "drain", [30_000.0]),
    ]


def test_a_drain_is_reported_against_one_rpop_and_against_pipelined_rpop() -> None:
    # Given a worker's drain three times one RPOP per round trip, and a third
    # of RPOP pipelined by the worker's batch size
    targets = {t.name: t for t in report.targets(raw_and_ours())}
    # Then both comparisons are in the targets, the fair one named as such
    per_rpop = targets["one worker's drain, Redis msgpack >= 0.9 x raw RPOP"]
    [fair] = [t for t in targets.values() if "fair baseline" in t.name]
    assert (per_rpop.figure, per_rpop.verdict) == ("3.00 x", "met")
    assert (fair.figure, fair.verdict) == ("0.30 x", "NOT met")
    # And the table has a column for each
    table = report._main_table(raw_and_ours())
    assert "| x RPOP | x piped RPOP |" in table[0]
    [ours] = [line for line in table if line.startswith(f"| {OURS} |")]
    assert "| 3.00 | 0.30 |" in ours


def test_idle_cpu_shows_the_p50_and_p99_of_its_samples() -> None:
    # One spike in 200 samples is under the p99; three are not
    samples = [0.1] * 199 + [4.0]
    rows = [Row(OURS, "alligator", "idle_cpu", samples), Row(OURS, "alligator", "wake_p50", [1.0])]
    [ours] = [line for line in report._main_table(rows) if line.startswith(f"| {OURS} |")]
    assert ours.endswith("| 0.10 / 0.10 |")
    rows[0].values = [0.1] * 197 + [4.0] * 3
    [ours] = [line for line in report._main_table(rows) if line.startswith(f"| {OURS} |")]
    assert ours.endswith("| 0.10 / 4.00 |")


def test_the_scale_run_has_its_table_and_target() -> None:
    # Given lookups at a million ready tasks: fast medians, one slow outlier
    rows = [
        Row(OURS, "alligator", "get_ms", [0.1] * 199 + [9.0], n=1_000_000),
        Row(OURS, "alligator", "cancel_ms", [0.2] * 100, n=1_000_000),
        Row(OURS, "alligator", "bytes_scale", [174.0], n=1_000_000),
    ]
    # Then the target is judged on the medians and shows the p99s
    [target] = [t for t in report.targets(rows) if "at scale" in t.name]
    assert target.verdict == "met"
    assert target.figure == "0.100 / 0.200 ms at 1,000,000 (p99 0.10 / 0.20 ms)"
    # And a median over 1 ms is not met
    rows[1].values = [1.5] * 100
    [target] = [t for t in report.targets(rows) if "at scale" in t.name]
    assert target.verdict == "NOT met"
    # And the scale table lists every figure
    table = "\n".join(report._scale_table(rows))
    assert "| get by id ms | 0.100 | 0.100 | 9.000 | 200 | 1,000,000 |" in table
    assert "| Redis B/task at scale | 174 |" in table
