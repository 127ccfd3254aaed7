"""Figures the docs prose quotes, read from the committed benchmark results.

``conf.py`` puts :func:`rst_prolog` in front of every page, so prose writes
``|bench-sqlite-wake-p50|`` instead of a number typed by hand that the next
``make bench`` would contradict. A clone without results (or a results file
from before a figure was measured) gets ``n/a``, and the build still passes.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path
from typing import Any

__all__ = ["figures", "rst_prolog"]

MISSING = "n/a"


def _rows(root: Path) -> list[dict[str, Any]]:
    path = root / "benchmarks" / "results" / "results.json"
    if not path.is_file():
        return []
    rows: list[dict[str, Any]] = json.loads(path.read_text())["rows"]
    return rows


def _values(rows: list[dict[str, Any]], system: str, metric: str) -> list[float]:
    for row in rows:
        if row["system"] == system and row["metric"] == metric:
            return [float(v) for v in row["values"]]
    return []


def _pct(values: list[float], pct: float) -> float:
    """Nearest-rank percentile, as ``benchmarks.rows.percentile`` computes it."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def _n(rows: list[dict[str, Any]], system: str, metric: str) -> str:
    """How many tasks a row was measured with, as prose writes it."""
    for row in rows:
        if row["system"] == system and row["metric"] == metric and row.get("n"):
            return format(int(row["n"]), ",")
    return MISSING


def figures(root: Path) -> dict[str, str]:
    """Substitution name -> text, for every figure the prose quotes."""
    rows = _rows(root)

    def fmt(values: list[float], how: str, spec: str) -> str:
        if not values:
            return MISSING
        value = {
            "median": statistics.median(values),
            "min": min(values),
            "max": max(values),
            "p50": _pct(values, 50),
            "p99": _pct(values, 99),
        }[how]
        return format(value, spec)

    redis, sqlite, raw = "alligator redis msgpack", "alligator sqlite msgpack", "raw redis-py"
    lpush = _values(rows, raw, "enqueue")
    sqlite_cpu = _values(rows, sqlite, "idle_cpu")
    payload = MISSING
    for row in rows:
        found = re.search(r"(\d+) B payload", str(row.get("note", "")))
        if row["system"] == raw and found:
            payload = found.group(1)
    return {
        "bench-raw-lpush": fmt(lpush, "median", ",.0f"),
        "bench-raw-lpush-min": fmt(lpush, "min", ",.0f"),
        "bench-raw-lpush-max": fmt(lpush, "max", ",.0f"),
        "bench-sqlite-wake-p50": fmt(_values(rows, sqlite, "wake_p50"), "median", ".1f"),
        "bench-sqlite-wake-p99": fmt(_values(rows, sqlite, "wake_p99"), "median", ".1f"),
        "bench-sqlite-idle-cpu": fmt(sqlite_cpu, "p50", ".2f"),
        "bench-sqlite-idle-cpu-p99": fmt(sqlite_cpu, "p99", ".2f"),
        "bench-redis-payload": payload,
        "bench-redis-bytes": fmt(_values(rows, redis, "bytes"), "median", ",.0f"),
        "bench-redis-json-bytes": fmt(
            _values(rows, "alligator redis json", "bytes"), "median", ",.0f"
        ),
        "bench-redis-bytes-delayed": fmt(_values(rows, redis, "bytes_delayed"), "median", ",.0f"),
        "bench-redis-scale-n": _n(rows, redis, "bytes_scale"),
        "bench-redis-scale-bytes": fmt(_values(rows, redis, "bytes_scale"), "median", ",.0f"),
        "bench-redis-get-p50": fmt(_values(rows, redis, "get_ms"), "p50", ".2f"),
        "bench-redis-get-p99": fmt(_values(rows, redis, "get_ms"), "p99", ".2f"),
        "bench-redis-cancel-p50": fmt(_values(rows, redis, "cancel_ms"), "p50", ".2f"),
        "bench-redis-replace-p50": fmt(_values(rows, redis, "replace_ms"), "p50", ".2f"),
    }


def rst_prolog(root: Path) -> str:
    """``.. |name| replace:: text`` for each figure."""
    return "\n".join(f".. |{name}| replace:: {text}" for name, text in figures(root).items())
