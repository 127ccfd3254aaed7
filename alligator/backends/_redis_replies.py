"""Script replies narrowed to the RESP2 shapes Lua produces, so callers stay typed.

redis-py's command results are loose unions (``bytes | str | None``, or
untyped for scripts); every reply the Redis backend reads goes through one
of these checks, which raise :class:`~alligator.exceptions.BackendError` for
a shape no script of ours returns.
"""

from __future__ import annotations

from alligator.exceptions import BackendError

__all__ = ["Reply", "as_bytes", "as_float", "as_int", "as_list", "bulk_or_none", "narrow"]

#: Script results are nested lists of these (RESP2 through Lua).
Reply = bytes | int | None | list["Reply"]


def narrow(reply: object) -> Reply:
    """Check a script reply has the RESP2 shape Lua produces."""
    if reply is None or isinstance(reply, bytes | int):
        return reply
    if isinstance(reply, list):
        return [narrow(item) for item in reply]
    raise BackendError(f"redis: unexpected script reply type {type(reply).__name__}")


def as_list(reply: Reply) -> list[Reply]:
    if not isinstance(reply, list):
        raise BackendError(f"redis: expected an array reply, got {reply!r}")
    return reply


def as_bytes(reply: Reply) -> bytes:
    if not isinstance(reply, bytes):
        raise BackendError(f"redis: expected a bulk string reply, got {reply!r}")
    return reply


def as_int(reply: Reply) -> int:
    if isinstance(reply, int):
        return reply
    if isinstance(reply, bytes) and reply.lstrip(b"-").isdigit():
        return int(reply)
    raise BackendError(f"redis: expected an integer reply, got {reply!r}")


def as_float(reply: Reply) -> float | None:
    """A score returned as a string (Lua would truncate a number); ``None`` if empty."""
    raw = as_bytes(reply)
    return float(raw) if raw else None


def bulk_or_none(reply: object) -> bytes | None:
    if reply is None or isinstance(reply, bytes):
        return reply
    raise BackendError(f"redis: expected a bulk string reply, got {reply!r}")
