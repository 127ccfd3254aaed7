"""The versioned wire envelope every built-in codec carries.

Encoded as an array (``array_like``) so field names cost no bytes; new fields
are only ever appended with defaults, so an older worker can still read what a
newer producer writes as long as ``version`` is unchanged.
"""

from __future__ import annotations

from typing import Any

import msgspec

from alligator.constants import ENVELOPE_VERSION
from alligator.exceptions import DecodeError


class Envelope(msgspec.Struct, array_like=True, omit_defaults=True, gc=False):
    """One task on the wire.

    Hooks are ``"module:qualname"`` references, never code.
    """

    version: int
    task_id: str
    module: str
    callable: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = msgspec.field(default_factory=dict)
    retries: int = 0
    attempts: int = 0
    is_async: bool = True
    on_start: str | None = None
    on_success: str | None = None
    on_error: str | None = None
    delay_until: float | None = None
    depends_on: list[str] = msgspec.field(default_factory=list)
    priority: int | None = None
    options: dict[str, Any] = msgspec.field(default_factory=dict)


def check_version(envelope: Envelope, data: bytes) -> Envelope:
    """Refuse envelopes written by an incompatible future release, keeping ``data``."""
    if envelope.version != ENVELOPE_VERSION:
        raise DecodeError(
            f"unsupported envelope version {envelope.version} "
            f"(this worker reads version {ENVELOPE_VERSION})",
            data,
        )
    return envelope
