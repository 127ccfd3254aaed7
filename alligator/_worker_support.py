"""Pieces of the worker that are not the loop: queue lists and signal handling."""

from __future__ import annotations

import contextlib
import copy
import logging
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from types import FrameType

from alligator.exceptions import ConfigurationError
from alligator.gator import Gator

__all__ = ["for_queue", "queue_names", "signal_handlers"]

log = logging.getLogger("alligator.worker")


@contextlib.contextmanager
def signal_handlers(ident: Callable[[], str], interrupt: Callable[[], None]) -> Iterator[None]:
    """SIGINT/SIGTERM call ``interrupt`` once; a second signal acts at once.

    Installed only in the main thread (``signal.signal`` fails elsewhere), and
    the previous handlers are put back on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.getsignal(sig) for sig in signals}

    def handle(signum: int, frame: FrameType | None) -> None:
        log.info("%s got signal %d; stopping after the current task", ident(), signum)
        # A second signal acts at once.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        interrupt()

    for sig in signals:
        signal.signal(sig, handle)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def queue_names(to_consume: str | Sequence[str] | None, default: str) -> tuple[str, ...]:
    if to_consume is None:
        return (default,)
    if isinstance(to_consume, str):
        return (to_consume,)
    names = tuple(to_consume)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ConfigurationError(f"to_consume needs one or more queue names, got {to_consume!r}")
    if len(set(names)) != len(names):
        raise ConfigurationError(f"to_consume names a queue twice: {names!r}")
    return names


def for_queue(gator: Gator, queue_name: str) -> Gator:
    """``gator`` itself, or a shallow copy on another queue sharing its backend."""
    if queue_name == gator.queue_name:
        return gator
    other = copy.copy(gator)
    other.queue_name = queue_name
    validate = getattr(other.backend, "validate_queue_name", None)
    if callable(validate):
        validate(queue_name)
    return other
