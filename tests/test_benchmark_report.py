"""The benchmark report: which baselines a figure is compared with, and how samples show."""

from __future__ import annotations

from benchmarks import asyncio_report, report
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


def test_the_results_run_has_its_targets() -> None:
    # Given a results drain at 0.9 x the plain one, latencies, and the peers' bytes
    rows = [
        Row(OURS, "alligator", "drain_plain", [10_000.0]),
        Row(OURS, "alligator", "drain_results", [9_000.0]),
        Row(OURS, "alligator", "wait_ms", [0.5] * 99 + [40.0]),
        Row(report.LOCMEM_OURS, "alligator", "wait_ms", [6.0] * 100),
        Row(OURS, "alligator", "dependent_ms", [2.0] * 100),
        Row(OURS, "alligator", "bytes_result", [286.0]),
        Row("RQ", "peer", "bytes_result", [5_681.0]),
    ]
    found = {t.name.split(":")[0]: t for t in report.results_targets(rows)}
    # Then each target is judged on its median (the p50 of the samples)
    drain = found["Redis drain with results=True >= 0.8 x without"]
    assert (drain.figure, drain.verdict) == ("0.90 x (9,000/s vs 10,000/s)", "met")
    assert found["Redis wait() after the ack"].verdict == "met"
    assert found["locmem wait() after the ack"].verdict == "NOT met"
    assert found["Redis dependent start after its last parent's ack"].verdict == "met"
    # And the bytes are shown beside the peers', with no verdict
    bytes_row = found["Redis bytes per add(1, 2) result, beside RQ and Dramatiq"]
    assert (bytes_row.figure, bytes_row.verdict) == ("286 B vs RQ 5,681 B", "n/a")
    assert "## Results and dependencies (issue 15)" in report._results_table(rows)
    # And a run without results rows has no such section
    assert report.results_targets(rows[-1:]) == []


#: The run's description render() needs, for a report with no real run behind it.
META: dict[str, object] = {"command": "test", "machine": "m", "date": "d", "n": 1, "repeats": 1}
META["versions"] = {}


def asyncio_rows(arq_sleep_s: float, arq_noop: float) -> list[Row]:
    return [
        Row("alligator redis 1,000 x sleep(0.1)", "asyncio", "sleep_drain_s", [0.6, 0.5, 0.7]),
        Row("alligator redis async no-op", "asyncio", "drain", [5000.0]),
        Row("alligator redis AsyncGator", "asyncio", "enqueue", [8000.0]),
        Row("arq 1,000 x sleep(0.1)", "asyncio", "sleep_drain_s", [arq_sleep_s]),
        Row("arq async no-op", "asyncio", "drain", [arq_noop]),
        Row("arq enqueue", "asyncio", "enqueue", [2000.0]),
    ]


def test_each_asyncio_peer_is_judged_on_both_drains_and_tabled_beside_alligator() -> None:
    # Given arq slower on the sleep drain and faster on the no-op drain
    rows = asyncio_rows(arq_sleep_s=1.2, arq_noop=10_000.0)
    found = {t.name: t for t in asyncio_report.peer_targets(rows)}
    # Then Alligator is ahead on the one (by arq's time over its own) ...
    sleep = found["Alligator ahead of arq: 1,000 x sleep(0.1) drain, Redis"]
    assert (sleep.figure, sleep.verdict) == ("2.00 x (0.60 vs 1.20 s)", "met")
    # ... and behind on the other, by how much and where it is said why
    noop = found["Alligator ahead of arq: async no-op drain, Redis"]
    assert noop.verdict == "NOT met"
    assert noop.figure.startswith("0.50 x (5,000 vs 10,000/s); behind by 50%, why: ")
    # And a peer not measured is left out rather than judged
    assert not any("SAQ" in name for name in found)
    # And the side-by-side table shows each figure with Alligator's lead
    text = report.render(rows, META, [])
    assert "| arq | 1.20 | 2.00 | 10,000 | 0.50 | 2,000 | 4.00 |" in text
    assert "| alligator redis | 0.60 |  | 5,000 |  | 8,000 |  |" in text
