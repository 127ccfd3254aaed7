"""Issue 16's part of the report: the asyncio targets, and Alligator beside arq, SAQ and taskiq.

Every figure is a median over the run's repeats. Alligator's lead over a
peer is the peer's time over Alligator's for the sleep drain, and
Alligator's rate over the peer's for the no-op drain and the enqueue: above
1 it is ahead, below 1 it is behind by that factor.
"""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks.asyncio_bench import enqueue_system, noop_system, sleep_system
from benchmarks.asyncio_peers import PEERS
from benchmarks.rows import Row, Target, index

__all__ = ["peer_targets", "tables", "targets"]

OURS = "alligator redis"
#: Where it is said why a peer is ahead, when one is.
WHY = "benchmarks/README.md (asyncio peers)"


def targets(rows: Sequence[Row]) -> list[Target]:
    """Issue 16's targets against this run's medians (none when asyncio was skipped)."""
    found = index(rows)
    out: list[Target] = []
    for backend in ("redis", "sqlite"):
        sleep = found.get((sleep_system(f"alligator {backend}"), "sleep_drain_s"))
        if sleep is not None:
            out.append(
                Target(
                    f"1,000 x sleep(0.1), concurrency 200, {backend}: <= 1.5 s",
                    f"{sleep.median:.2f} s",
                    sleep.median <= 1.5,
                )
            )
        coro = found.get((noop_system(f"alligator {backend}"), "drain"))
        plain = found.get((f"alligator {backend} sync no-op", "drain"))
        if coro is not None and plain is not None:
            ratio = coro.median / plain.median
            out.append(
                Target(
                    f"async no-op drain >= 0.8 x sync no-op drain, {backend}",
                    f"{ratio:.2f} x ({coro.median:,.0f} vs {plain.median:,.0f}/s)",
                    ratio >= 0.8,
                )
            )
    ours = found.get((enqueue_system(OURS), "enqueue"))
    base = found.get(("raw redis.asyncio LPUSH", "enqueue"))
    if ours is not None and base is not None:
        ratio = ours.median / base.median
        out.append(
            Target(
                "AsyncGator enqueue on Redis >= 0.9 x raw redis.asyncio LPUSH",
                f"{ratio:.2f} x ({ours.median:,.0f} vs {base.median:,.0f}/s)",
                ratio >= 0.9,
            )
        )
    return out + peer_targets(rows)


def _lead(ours: Row, theirs: Row) -> float:
    """How many times Alligator is ahead (see the module's docstring)."""
    if theirs.metric == "sleep_drain_s":
        return theirs.median / ours.median
    return ours.median / theirs.median


def peer_targets(rows: Sequence[Row]) -> list[Target]:
    """Alligator ahead of each asyncio peer on both drains, on the same Redis."""
    found = index(rows)
    out: list[Target] = []
    drains = [
        ("sleep_drain_s", sleep_system, "1,000 x sleep(0.1) drain"),
        ("drain", noop_system, "async no-op drain"),
    ]
    for label, _note in PEERS.values():
        for metric, system, what in drains:
            ours = found.get((system(OURS), metric))
            theirs = found.get((system(label), metric))
            if ours is None or theirs is None:
                continue
            lead = _lead(ours, theirs)
            if metric == "sleep_drain_s":
                figure = f"{lead:.2f} x ({ours.median:.2f} vs {theirs.median:.2f} s)"
            else:
                figure = f"{lead:.2f} x ({ours.median:,.0f} vs {theirs.median:,.0f}/s)"
            if lead < 1:
                figure += f"; behind by {1 - lead:.0%}, why: {WHY}"
            out.append(Target(f"Alligator ahead of {label}: {what}, Redis", figure, lead >= 1))
    return out


def _peer_table(rows: Sequence[Row]) -> list[str]:
    """Alligator and each asyncio peer side by side, with Alligator's lead over it."""
    found = index(rows)
    columns = (
        ("sleep_drain_s", sleep_system, "{:.2f}"),
        ("drain", noop_system, "{:,.0f}"),
        ("enqueue", enqueue_system, "{:,.0f}"),
    )
    labels = [OURS] + [label for label, _note in PEERS.values()]
    lines: list[str] = []
    for label in labels:
        cells: list[str] = []
        for metric, system, fmt in columns:
            row = found.get((system(label), metric))
            ours = found.get((system(OURS), metric))
            if row is None:
                cells += ["-", "-"]
                continue
            lead = "" if ours is None or label == OURS else f"{_lead(ours, row):.2f}"
            cells += [fmt.format(row.median), lead]
        if any(cell != "-" for cell in cells):
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if len(lines) < 2:
        return []
    notes = [f"| {label} | {note} |" for label, note in PEERS.values()]
    return [
        "",
        "## asyncio: Alligator and its peers on the same Redis (issue 16)",
        "",
        "One worker process, 200 tasks at once; the lead columns are how many times Alligator "
        f"is ahead of that peer (below 1: behind, and {WHY} says why).",
        "",
        "| system | 1,000 x sleep(0.1) s | lead | async no-op drain/s | lead | enqueue/s | lead |",
        "|---" * 7 + "|",
        *lines,
        "",
        "| peer | settings |",
        "|---|---|",
        *notes,
    ]


def tables(rows: Sequence[Row]) -> list[str]:
    """The asyncio targets' table and the peers' table (nothing when asyncio was skipped)."""
    found = targets(rows)
    if not found:
        return []
    return [
        "",
        "## asyncio targets (issue 16)",
        "",
        "| target | this run | verdict |",
        "|---|---|---|",
        *(f"| {t.name} | {t.figure} | {t.verdict} |" for t in found),
        *_peer_table(rows),
    ]
