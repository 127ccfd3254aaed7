"""``make demo``: the embedded SQLite demo runs end to end."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_demo_runs_and_reports_ok() -> None:
    # When the demo runs with 100 tasks
    done = subprocess.run(
        [sys.executable, "-m", "alligator.demo", "--tasks", "100"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # Then it exits 0 and says so, with nothing left behind
    assert done.returncode == 0, done.stdout + done.stderr
    assert "demo OK" in done.stdout
    assert "enqueued 100 tasks" in done.stdout
