"""Runs ``mypy --strict`` over tests/typing/ and checks exactly what it reports.

``pass_*.py`` files must type-check cleanly (they use ``assert_type`` for what
must hold). In ``fail_*.py`` files every line marked ``# E: <code>`` must get
exactly that error code and no unmarked line may get any error, so a check
that silently stops firing is caught as surely as a false alarm.
``fail_known_gaps.py`` holds mismatches the API does not catch yet: each
marked line is its own strict xfail, so fixing one gap turns exactly that test
into a failure to update, while any error the file was not meant to have (an
unmarked line, another code) fails outright.

All files go through one mypy invocation with the project's configuration
(strict, ``mypy_path = stubs``) and a persistent cache, so this stays fast.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TYPING_DIR = ROOT / "tests" / "typing"
PASS_FILES = sorted(TYPING_DIR.glob("pass_*.py"))
FAIL_FILES = sorted(p for p in TYPING_DIR.glob("fail_*.py") if p.name != "fail_known_gaps.py")
GAPS_FILE = TYPING_DIR / "fail_known_gaps.py"

ERROR_LINE = re.compile(r"^(?P<path>[^:\n]+\.py):(?P<line>\d+): error: .*\[(?P<code>[a-z0-9-]+)\]$")
MARKER = re.compile(r"#\s*E:\s*(?P<codes>[a-z0-9-]+(?:\s*,\s*[a-z0-9-]+)*)\s*$")

Errors = Counter[tuple[int, str]]


@pytest.fixture(scope="module")
def mypy_errors() -> dict[str, Errors]:
    """``{file name: Counter((line, code))}`` from a single mypy run over every file."""
    api = pytest.importorskip("mypy.api")
    files = [str(p.relative_to(ROOT)) for p in (*PASS_FILES, *FAIL_FILES, GAPS_FILE)]
    previous = Path.cwd()
    os.chdir(ROOT)  # mypy_path and the tests package resolve from the project root
    try:
        stdout, stderr, status = api.run(
            [
                "--config-file",
                str(ROOT / "pyproject.toml"),
                "--strict",
                "--cache-dir",
                str(ROOT / ".mypy_cache"),
                "--show-error-codes",
                "--no-error-summary",
                "--no-pretty",
                *files,
            ]
        )
    finally:
        os.chdir(previous)
    assert status in (0, 1), f"mypy crashed (status {status}):\n{stderr}\n{stdout}"
    assert not stderr.strip(), stderr
    found: dict[str, Errors] = {Path(f).name: Counter() for f in files}
    for line in stdout.splitlines():
        if ": note: " in line:
            continue
        match = ERROR_LINE.match(line)
        assert match, f"unexpected mypy output line: {line!r}"
        name = Path(match["path"]).name
        assert name in found, f"mypy reported on a file outside tests/typing: {line!r}"
        found[name][(int(match["line"]), match["code"])] += 1
    return found


def expected_errors(path: Path) -> Errors:
    expected: Errors = Counter()
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        marker = MARKER.search(text)
        if marker:
            for code in marker["codes"].split(","):
                expected[(number, code.strip())] += 1
    return expected


def describe(errors: Errors) -> list[str]:
    return [f"line {line}: [{code}]" for line, code in sorted(errors.elements())]


def test_the_typing_files_exist_and_are_marked() -> None:
    assert PASS_FILES and FAIL_FILES
    for path in PASS_FILES:
        assert "assert_type(" in path.read_text() or "protocols." in path.read_text()
        assert not expected_errors(path), f"{path.name}: pass files carry no # E: markers"
    for path in (*FAIL_FILES, GAPS_FILE):
        assert expected_errors(path), f"{path.name} has no # E: markers"


@pytest.mark.parametrize("path", PASS_FILES, ids=lambda p: p.name)
def test_pass_file_type_checks_cleanly(path: Path, mypy_errors: dict[str, Errors]) -> None:
    assert describe(mypy_errors[path.name]) == []


@pytest.mark.parametrize("path", FAIL_FILES, ids=lambda p: p.name)
def test_fail_file_errors_exactly_where_marked(path: Path, mypy_errors: dict[str, Errors]) -> None:
    # Given the lines marked "# E: <code>"
    expected = expected_errors(path)
    # Then mypy reported those codes on those lines, and nothing else
    found = mypy_errors[path.name]
    assert describe(found - expected) == [], "errors on unmarked lines (or wrong code)"
    assert describe(expected - found) == [], "marked lines mypy did not flag"


#: Each known gap, as (line, code): one strict xfail per gap, so fixing one of
#: them (and only that one) fails its own test until its marker moves to a fail file.
KNOWN_GAPS = sorted(expected_errors(GAPS_FILE))


def test_known_gaps_file_has_no_other_errors(mypy_errors: dict[str, Errors]) -> None:
    # A stray error (an unmarked line, or another code on a marked one) is a real
    # failure, never absorbed by the gaps' expected failures.
    extra = mypy_errors[GAPS_FILE.name] - expected_errors(GAPS_FILE)
    assert describe(extra) == [], "errors on unmarked lines (or wrong code)"


@pytest.mark.xfail(
    reason="on_start/on_error are typed for any task, so one annotated for another result "
    "type is accepted; a Task[Coroutine] annotation picks the plain overload "
    "(see fail_known_gaps.py)",
    strict=True,
)
@pytest.mark.parametrize("gap", KNOWN_GAPS, ids=lambda gap: f"line{gap[0]}-{gap[1]}")
def test_known_typing_gap_is_caught(gap: tuple[int, str], mypy_errors: dict[str, Errors]) -> None:
    expected = expected_errors(GAPS_FILE)[gap]
    assert mypy_errors[GAPS_FILE.name][gap] == expected, f"line {gap[0]}: [{gap[1]}] not reported"
