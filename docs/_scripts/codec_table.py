"""Measure every built-in codec on a small and a large task envelope.

Run it directly (``python docs/_scripts/codec_table.py``) to print the table,
or let ``docs/conf.py`` render it into the codecs page at build time. Times
are the best of several timed batches on the machine that builds the docs;
compare codecs with each other, not with numbers from another machine.
"""

from __future__ import annotations

import functools
import platform
import timeit
from collections.abc import Callable
from typing import Any

from alligator import codecs
from alligator.wire import Envelope

CODECS = ("json", "msgpack", "json+zlib", "msgpack+zlib", "json+bz2", "msgpack+bz2")


def small_envelope() -> Envelope:
    """``send_welcome_email(42, template="welcome")`` with two retries."""
    return Envelope(
        version=1,
        task_id="Hk3vQ9xLp2Wm7aZt",
        module="myapp.tasks",
        callable="send_welcome_email",
        args=(42,),
        kwargs={"template": "welcome"},
        retries=2,
    )


def _rows(count: int) -> list[dict[str, Any]]:
    """Records of mixed text and numbers, about 115 bytes each as JSON."""
    return [
        {
            "id": i,
            "email": f"user{i}@example.com",
            "name": f"User number {i}",
            "score": i * 1.5,
            "tags": ["alpha", "beta", "gamma"][: i % 3 + 1],
            "active": i % 2 == 0,
        }
        for i in range(count)
    ]


def medium_envelope() -> Envelope:
    """12 records (about 1.4 KB of JSON): over both compression thresholds."""
    return Envelope(
        version=1,
        task_id="Qm8rT2vX5nB7cY1k",
        module="myapp.tasks",
        callable="import_rows",
        args=(_rows(12),),
    )


def large_envelope() -> Envelope:
    """A batch import: 400 records (about 47 KB of JSON)."""
    return Envelope(
        version=1,
        task_id="a9Fz0Lq4Ws6Ed8Rb",
        module="myapp.tasks",
        callable="import_rows",
        args=(_rows(400),),
    )


def _best_us(func: Callable[[], object], number: int) -> float:
    """Best per-call time over five batches, in microseconds."""
    return min(timeit.repeat(func, number=number, repeat=5)) / number * 1e6


def measure() -> list[tuple[str, str, int, float, float]]:
    """Rows of (codec, envelope, size in bytes, encode us, decode us)."""
    rows = []
    for label, envelope, number in (
        ("small", small_envelope(), 2000),
        ("medium", medium_envelope(), 200),
        ("large", large_envelope(), 10),
    ):
        for name in CODECS:
            codec = codecs.get_codec(name)
            data = codec.encode(envelope)
            # Every codec must round-trip, and workers must recognise it unaided.
            assert codec.decode(data) == codecs.decode(data) == envelope
            rows.append(
                (
                    name,
                    label,
                    len(data),
                    _best_us(functools.partial(codec.encode, envelope), number),
                    _best_us(functools.partial(codec.decode, data), number),
                )
            )
    return rows


def render_rst() -> str:
    """The measurements as a reStructuredText table with a caption."""
    lines = [
        ".. list-table:: Measured on {} ({}, Python {})".format(
            platform.machine() or "unknown", platform.system(), platform.python_version()
        ),
        "   :header-rows: 1",
        "",
        "   * - codec",
        "     - envelope",
        "     - size (bytes)",
        "     - encode (µs)",
        "     - decode (µs)",
    ]
    for name, label, size, enc, dec in measure():
        lines += [
            f"   * - ``{name}``",
            f"     - {label}",
            f"     - {size:,}",
            f"     - {enc:,.1f}",
            f"     - {dec:,.1f}",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_rst())
