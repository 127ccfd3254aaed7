"""Shared pieces of the conformance suite: the kit runs over every backend here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from alligator.backends import locmem_backend


@pytest.fixture(autouse=True)
def fresh_locmem_stores() -> Iterator[None]:
    """Each test starts with no in-process stores left over from another."""
    locmem_backend.reset_stores()
    yield
    locmem_backend.reset_stores()
