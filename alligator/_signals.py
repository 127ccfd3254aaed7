"""SIGINT/SIGTERM handling shared by the worker, the thread runner, the pool and the CLI.

Each of them asks for the same thing: on the first signal, call a function
(finish the current task, then stop); afterwards, let a second signal act
at once or keep handling it themselves; and put the previous handlers back
when done. ``signal.signal`` only works in the main thread, so elsewhere
nothing is installed (the owner of the main thread handles signals).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Literal

__all__ = ["STOP_SIGNALS", "stop_signals"]

#: The signals that ask a worker, a pool or the CLI to stop.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

#: What a second signal does once the first was handled:
#: ``"default"``: SIGINT raises KeyboardInterrupt, SIGTERM kills the process;
#: ``"raise"``: both raise KeyboardInterrupt (a thread runner's main loop);
#: ``"keep"``: the handler is called again and decides.
Then = Literal["default", "raise", "keep"]


@contextlib.contextmanager
def stop_signals(on_signal: Callable[[int], None], *, then: Then) -> Iterator[None]:
    """Call ``on_signal(signum)`` on SIGINT/SIGTERM while the block runs.

    Installed only in the main thread; the previous handlers are put back
    on exit, whatever ``then`` did meanwhile.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}

    def handle(signum: int, frame: FrameType | None) -> None:
        if then == "default":
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        elif then == "raise":
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, signal.default_int_handler)
        on_signal(signum)

    for sig in STOP_SIGNALS:
        signal.signal(sig, handle)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
