"""Capture the ``--help`` of every command so the CLI reference cannot drift.

``docs/conf.py`` writes each into ``_generated/cli-<name>.txt`` at build
time, and ``cli.rst`` includes them: a flag added to the CLI appears in the
docs on the next build, with no one having to remember.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

LATERGATOR = "import sys; from alligator.cli import latergator; sys.exit(latergator())"

#: (file stem, argv after the interpreter)
COMMANDS: list[tuple[str, list[str]]] = [
    ("latergator", ["-c", LATERGATOR]),
    ("main", ["-m", "alligator"]),
    ("worker", ["-m", "alligator", "worker"]),
    ("info", ["-m", "alligator", "info"]),
    ("failed", ["-m", "alligator", "failed"]),
    ("failed-list", ["-m", "alligator", "failed", "list"]),
    ("failed-show", ["-m", "alligator", "failed", "show"]),
    ("failed-requeue", ["-m", "alligator", "failed", "requeue"]),
    ("failed-purge", ["-m", "alligator", "failed", "purge"]),
    ("migrate", ["-m", "alligator", "migrate"]),
    ("web", ["-m", "alligator", "web"]),
    ("scheduler", ["-m", "alligator", "scheduler"]),
]


def write_all(root: Path, out: Path) -> None:
    """Write ``cli-<stem>.txt`` into ``out`` for every command that exists."""
    env = {**os.environ, "COLUMNS": "88", "PYTHONPATH": str(root)}
    for stem, argv in COMMANDS:
        proc = subprocess.run(
            [sys.executable, *argv, "--help"],
            capture_output=True,
            text=True,
            env=env,
            cwd=root,
            check=False,
        )
        text = proc.stdout if proc.returncode == 0 else f"(not available: {proc.stderr.strip()})\n"
        text = text.replace("usage: -c", "usage: latergator")
        path = out / f"cli-{stem}.txt"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
