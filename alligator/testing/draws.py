"""What the state machines draw: task ids, payloads, delays, clock steps, reasons."""

from __future__ import annotations

from hypothesis import strategies as st

__all__ = [
    "ADVANCES",
    "DELAYS",
    "FAR",
    "ID_NAMES",
    "PAYLOADS",
    "PRIORITIES",
    "REASONS",
    "TASK_IDS",
]

#: Clock steps and delays are multiples of 0.5 s (exact in floating point), so
#: a task becomes due exactly when the clock reaches its time; leases end on a
#: quarter second the clock never shows, as the protocol leaves that instant open.
ADVANCES = (0.5, 1.0, 1.5, 2.5, 6.0)
DELAYS = (None, None, 0.0, 0.5, 1.5, 4.0)
#: Real-time mode never waits: delays and leases are too long to end in a run.
FAR = 3600.0

#: Priorities for a client that orders by them (mostly none, so ties are common;
#: 0 given explicitly must behave as none; the range's ends must order too).
PRIORITIES = (None, None, None, 0, -3, 2, 2, -(2**31), 2**31 - 1)

#: Few ids, so pushes and gets of an id the queue holds are frequent.
ID_NAMES = ("a", "b", "c", "d", "e")
TASK_IDS = st.sampled_from(ID_NAMES)
#: The bytes a protocol is most likely to mangle, and anything else. The
#: machine makes each live task's payload unique (see ``ClientMachine.unique``),
#: so the bytes ``pop`` returns always say which task it took.
PAYLOADS = st.one_of(
    st.sampled_from([b"", b"\x00", b"\r\n", b"\xff\xfe", b"x"]), st.binary(max_size=24)
)
REASONS = st.sampled_from(["boom", "Traceback (most recent call last):\nValueError: x", "ünï"])
