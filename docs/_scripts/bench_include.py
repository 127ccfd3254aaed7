"""Bring the latest benchmark results into the docs, or a stub when there are none.

``make bench`` writes ``benchmarks/results/results.md`` (a Markdown report)
and possibly plots beside it. Sphinx here reads reStructuredText only, so the
report is shown as a literal block (pipe tables stay readable as text) and
each plot (``*.png``/``*.svg``) is copied next to the generated page and shown
as an image. A clone without results gets a short note instead of a build
error.
"""

from __future__ import annotations

import shutil
from pathlib import Path

STUB = """\
.. note::

   No benchmark results are checked in yet. Run ``make bench`` (or
   ``make bench BENCH_ARGS=--quick``); it writes
   ``benchmarks/results/results.md``, and the next docs build shows it here.
"""


def render_rst(root: Path, generated: Path) -> str:
    """The include text for the benchmarks page; copies plots into ``generated``."""
    results = root / "benchmarks" / "results"
    report = results / "results.md"
    if not report.is_file():
        return STUB
    parts = [
        f"From ``benchmarks/results/results.md`` ({report.stat().st_size:,} bytes):",
        "",
        ".. code-block:: text",
        "",
    ]
    parts += [f"   {line}".rstrip() for line in report.read_text(errors="replace").splitlines()]
    parts.append("")
    for plot in sorted([*results.glob("*.png"), *results.glob("*.svg")]):
        shutil.copyfile(plot, generated / plot.name)
        parts += [f".. image:: /_generated/{plot.name}", f"   :alt: {plot.stem}", ""]
    return "\n".join(parts) + "\n"
