"""Print every chaos run's figures at the end of the test session."""

from __future__ import annotations

import pytest

from tests.chaos.harness import REPORTS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not REPORTS:
        return
    terminalreporter.section("chaos suite")
    for report in REPORTS:
        terminalreporter.write_line(report.line())
