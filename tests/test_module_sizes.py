"""Issue 11's size rules: the producer well under 300 lines, every module under ~400.

A module that grows past its bound is a sign that a second responsibility
moved in; these checks say so before review does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import alligator

PACKAGE = Path(alligator.__file__).parent

#: Every module of the package, by its path inside it.
MODULES = sorted(str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py"))


def _lines(name: str) -> int:
    return len((PACKAGE / name).read_text().splitlines())


def test_the_gator_stays_well_under_300_lines() -> None:
    # Given the producer's module, When its lines are counted, Then they stay well under 300
    assert _lines("gator.py") < 280


def test_every_module_stays_under_400_lines() -> None:
    # Given every module of the package, When their lines are counted, Then none passes 400
    over = {name: _lines(name) for name in MODULES if _lines(name) > 400}
    assert over == {}


@pytest.mark.parametrize("name", ["gator.py", "protocols/__init__.py", "backends/redis_backend.py"])
def test_the_modules_named_exist(name: str) -> None:
    # Given a module the checks rely on, Then it is where they look (else they pass vacuously)
    assert name in MODULES
