"""The versioned wire envelope every built-in codec carries.

Encoded as an array (``array_like``) so field names cost no bytes; new fields
are only ever appended with defaults, so an older worker can still read what a
newer producer writes as long as ``version`` is unchanged. The same rule lets
the codecs leave out trailing fields that hold their defaults
(:func:`wire_fields`): a decoder fills them back in. Fields are never
reordered: ``Task.to_envelope`` builds the struct positionally.
"""

from __future__ import annotations

from typing import Any, Final

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
    #: Seconds the task may run before a worker stops it (``None``: the worker's default).
    timeout: float | None = None
    #: Epoch seconds the producer enqueued the task (``None``: written by an older producer).
    #: A worker's queue-wait metric counts from it, or from ``delay_until`` when later.
    enqueued_at: float | None = None
    #: The producer's trace context (W3C ``traceparent``), when it traces (alligator.tracing).
    trace: dict[str, str] | None = None


def check_version(envelope: Envelope, data: bytes) -> Envelope:
    """Refuse envelopes written by an incompatible future release, keeping ``data``."""
    if envelope.version != ENVELOPE_VERSION:
        raise DecodeError(
            f"unsupported envelope version {envelope.version} "
            f"(this worker reads version {ENVELOPE_VERSION})",
            data,
        )
    return envelope


def _default(field: msgspec.structs.FieldInfo) -> Any:
    if field.default is not msgspec.NODEFAULT:
        return field.default
    if field.default_factory is not msgspec.NODEFAULT:
        return field.default_factory()
    return msgspec.NODEFAULT  # required: never equal to a value, never trimmed


_DEFAULTS: Final = tuple(_default(field) for field in msgspec.structs.fields(Envelope))
_OPTIONS_AT: Final = 6  # retries onwards: default for almost every task
_DEFAULT_OPTIONS: Final = _DEFAULTS[_OPTIONS_AT:]


def wire_fields(envelope: Envelope) -> tuple[Any, ...]:
    """The envelope as the array a codec writes, without its trailing defaults.

    ``array_like`` still writes every field, so a plain ``add(1, 2)`` carried
    ten trailing defaults (``0,0,true,null,null,null,null,[],null,{}``):
    38 of its ~100 JSON bytes, 12 of its 56 msgpack bytes, stored per queued
    task. Decoding a shorter array fills the defaults back in, so the result
    decodes to an equal :class:`Envelope` on every worker of this wire
    version. The common case (no options set) is one tuple comparison.
    """
    fields = msgspec.structs.astuple(envelope)
    if fields[_OPTIONS_AT:] == _DEFAULT_OPTIONS:
        if fields[5]:  # kwargs
            return fields[:6]
        return fields[:5] if fields[4] else fields[:4]
    end = len(fields)
    while fields[end - 1] == _DEFAULTS[end - 1]:
        end -= 1
    return fields[:end]
