"""What a failed Redis call means: unreachable, lost after sending, or any other error.

The driver (:mod:`alligator.backends._redis_driver`), its pooled script
path (:mod:`alligator.backends._redis_pooled`) and the asyncio driver
(:mod:`alligator.backends._redis_async`) judge redis-py's errors the same
way: one classification, here, below all three.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import redis.exceptions as rexc

from alligator.exceptions import (
    BackendConnectionError,
    BackendError,
    Family,
    OutcomeUnknownError,
)

__all__ = ["CONNECTION_ERRORS", "ERRORS", "NOT_SENT", "outcome_unknown"]

#: Driver errors meaning "the server cannot be reached right now".
CONNECTION_ERRORS: Final = (
    rexc.ConnectionError,
    rexc.TimeoutError,
    rexc.ClusterDownError,
    rexc.SlotNotCoveredError,
    rexc.TryAgainError,
)

#: How redis-py's errors become ours: "cannot reach the server" first.
ERRORS: Final[Mapping[type[Exception], Family]] = {
    **dict.fromkeys(CONNECTION_ERRORS, BackendConnectionError),
    rexc.RedisError: BackendError,
}

#: Words of redis-py's connection errors raised before a request was sent
#: whole: connecting, or writing to the socket. Any other connection error
#: may have come after the server received the request.
NOT_SENT: Final = ("connecting to", "writing to socket", "Timeout connecting")


def outcome_unknown(exc: Exception) -> OutcomeUnknownError:
    """The error of a call whose reply was lost after the request was sent."""
    return OutcomeUnknownError(
        f"redis: the connection failed after the request was sent, so it may or may not "
        f"have run (it is not sent again): {type(exc).__name__}: {exc}"
    )
