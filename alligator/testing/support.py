"""Small helpers shared by the contract tests and the state machines."""

from __future__ import annotations

import uuid

__all__ = ["unique_queue_name"]


def unique_queue_name(prefix: str = "alligator-test") -> str:
    """A queue name no other test uses, valid for every built-in backend."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"
