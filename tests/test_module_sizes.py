"""Issue 11's size rules, for the modules split by responsibility so far.

A module that grows past its bound is a sign that a second responsibility
moved in; these checks say so before review does. Modules not listed here
(the protocols, the backends) are still being split and are not held to the
bound yet.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import alligator

PACKAGE = Path(alligator.__file__).parent

#: The modules split so far, with the names they were split into.
SPLIT = [
    "gator.py",
    "pushing.py",
    "consuming.py",
    "options.py",
    "transactional.py",
    "tracing.py",
    "tasks.py",
    "_task_steps.py",
    "_task_times.py",
    "_task_wire.py",
    "codecs.py",
    "_serializers.py",
    "_decompressors.py",
    "schedules/schedule.py",
    "schedules/entry.py",
    "cli/worker.py",
    "cli/worker_options.py",
]


def _lines(name: str) -> int:
    return len((PACKAGE / name).read_text().splitlines())


def test_the_gator_stays_well_under_300_lines() -> None:
    # Given the producer's module, When its lines are counted, Then they stay well under 300
    assert _lines("gator.py") < 280


@pytest.mark.parametrize("name", SPLIT)
def test_a_split_module_stays_under_400_lines(name: str) -> None:
    # Given a module split by responsibility, When its lines are counted, Then they stay under 400
    assert _lines(name) <= 400
