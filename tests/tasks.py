"""Importable task functions and hooks for the tests.

A worker imports tasks by ``module:qualname``, so every task a test enqueues
lives here. Tasks that run in another process record to a ledger file given
as an argument (one line per run, appended with ``O_APPEND`` so concurrent
writers never interleave); in-process hooks record to :data:`EVENTS`, which
the autouse fixture in ``conftest.py`` clears.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import os
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from alligator import Status, Task

#: What in-process tasks and hooks saw, in order.
EVENTS: list[tuple[Any, ...]] = []
#: How often each key was called, for tasks that fail a given number of times.
CALLS: Counter[str] = Counter()
#: Events an in-process task blocks on, by name (see :func:`block_on_event`).
GATES: dict[str, threading.Event] = {}

#: Longest a task waits for a flag, so a broken test never hangs a worker.
FLAG_TIMEOUT = 30.0


def reset() -> None:
    EVENTS.clear()
    CALLS.clear()
    GATES.clear()


def append_line(ledger: str, line: str) -> None:
    """Append one line atomically (a single ``write`` with ``O_APPEND``)."""
    fd = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)


def read_ledger(ledger: str | Path) -> list[str]:
    path = Path(ledger)
    return path.read_text().splitlines() if path.exists() else []


def add(a: int, b: int) -> int:
    EVENTS.append(("add", a, b))
    return a + b


def record(ledger: str, key: str) -> str:
    """Append ``key`` to the ledger: one line per execution."""
    append_line(ledger, key)
    return key


def wait_for_flag(ledger: str, key: str, started: str, flag: str) -> str:
    """Say it started, wait until the test writes ``flag``, then record ``key``."""
    Path(started).write_text(key)
    deadline = time.monotonic() + FLAG_TIMEOUT
    while not os.path.exists(flag):
        if time.monotonic() > deadline:
            raise TimeoutError(f"flag {flag} never appeared")
        time.sleep(0.01)
    append_line(ledger, key)
    return key


def block_on_event(name: str) -> str:
    """Run until the test sets ``GATES[name]`` (in-process workers only)."""
    EVENTS.append(("blocked", name))
    if not GATES[name].wait(FLAG_TIMEOUT):
        raise TimeoutError(f"gate {name} never opened")
    EVENTS.append(("unblocked", name))
    return name


def fail(message: str) -> None:
    CALLS[message] += 1
    EVENTS.append(("fail", message))
    raise ValueError(message)


def fail_times(key: str, times: int) -> str:
    """Fail the first ``times`` calls for ``key``, then succeed."""
    CALLS[key] += 1
    if CALLS[key] <= times:
        raise ConnectionError(f"{key}: failure {CALLS[key]}")
    return key


def on_start(task: Task[Any]) -> None:
    EVENTS.append(("start", task.task_id))


def on_success(task: Task[Any], result: Any) -> None:
    EVENTS.append(("success", task.task_id, result))


def on_error(task: Task[Any], err: Exception) -> None:
    EVENTS.append(("error", task.task_id, str(err)))


def grant_one_more(task: Task[Any], err: Exception) -> None:
    """The seed's hook: one extra try, granted on the first failure only."""
    EVENTS.append(("error", task.task_id, str(err)))
    if task.attempts == 0:
        task.retries += 1


def swap_args(task: Task[Any]) -> None:
    """A hook that changes what the task will run with."""
    task.func_args = (10, 20)


class Thing:
    def method(self, x: int) -> int:
        return x


class Tally:
    """A module-level instance whose bound method the module exposes, like ``random.choice``."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def bump(self, n: int) -> int:
        self.seen.append(n)
        return len(self.seen)


_TALLY = Tally()
#: ``tests.tasks.bump`` is a bound method, reachable by module and name.
bump = _TALLY.bump


def result_of(task: Task[Any] | None) -> Any:
    """The result of a task ``gator.pop()``/``get()`` ran here (which must exist)."""
    assert task is not None, "nothing was run"
    return task.result


def status_of(task: Task[Any] | None) -> Status:
    """The status of a task ``gator.pop()``/``get()`` ran here (which must exist)."""
    assert task is not None, "nothing was run"
    return task.status


def broken_hook(task: Task[Any], value: Any) -> None:
    """An on_success/on_error hook with a bug of its own."""
    EVENTS.append(("broken-hook", task.task_id))
    raise RuntimeError("the hook itself is broken")


def die_hard(code: int) -> None:
    """Kill the worker process running it, as a segfault or the OOM killer would."""
    os._exit(code)


def exit_with(code: int) -> None:
    """Task code that calls sys.exit."""
    EVENTS.append(("exit", code))
    sys.exit(code)


def interrupt_self() -> None:
    """Task code that raises KeyboardInterrupt itself (no signal was sent)."""
    EVENTS.append(("interrupt", 0))
    raise KeyboardInterrupt


def nap(seconds: float) -> float:
    """Sleep in Python code, where SIGALRM can interrupt it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.01)
    return seconds


def nap_deaf(seconds: float) -> float:
    """Sleep with SIGALRM blocked, as C code holding the GIL would ignore it."""
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])
    time.sleep(seconds)
    return seconds


def describe(  # noqa: PLR0917 - a signature with every kind of parameter
    when: dt.datetime,
    tags: set[str],
    amount: decimal.Decimal,
    ref: uuid.UUID,
    counts: dict[int, str],
    pair: tuple[int, int] = (0, 0),
    *extra: dt.date,
    **named: frozenset[int],
) -> str:
    """Every argument in the type its parameter declares, or a TypeError."""
    checks = [
        (when, dt.datetime), (tags, set), (amount, decimal.Decimal), (ref, uuid.UUID),
        (pair, tuple), *((e, dt.date) for e in extra), *((v, frozenset) for v in named.values()),
    ]  # fmt: skip
    for value, kind in checks:
        if not isinstance(value, kind):
            raise TypeError(f"{value!r} is not a {kind.__name__}")
    if not all(isinstance(k, int) for k in counts):
        raise TypeError(f"keys of {counts!r} are not ints")
    EVENTS.append(("describe", when.isoformat(), sorted(tags)))
    return "typed"


def untyped(value):  # type: ignore[no-untyped-def]
    """A parameter with no annotation: the worker cannot restore its value's type."""
    return value


async def fetch_page(url: str) -> bytes:
    """An async def task."""
    return url.encode()


def keyword_only(a: int, *, b: int) -> int:
    return a + b


def today_plus(days: int) -> dt.date:
    """A result msgpack carries as text: wait() gives it back as a date."""
    return dt.date(2026, 12, 2) + dt.timedelta(days=days)


def unstorable() -> object:
    """A result no codec can store."""
    return object()


def total(*parts: int) -> int:
    """Fan-in: the sum of what the parts returned (passed in by the test)."""
    return sum(parts)


def run_and_tag(ledger: str) -> str:
    """Record this run's pid and return it: each run's outcome is told apart."""
    tag = f"ran-{os.getpid()}"
    append_line(ledger, tag)
    return tag


def hold_before_the_ack(task: Task[str], result: str) -> None:
    """``on_success``: the function returned; say so, then block until ``<ledger>.go`` exists.

    A worker killed here has run the task and not yet settled it.
    """
    ledger = str(task.func_args[0])
    Path(f"{ledger}.returned").write_text(result)
    deadline = time.monotonic() + FLAG_TIMEOUT
    while not os.path.exists(f"{ledger}.go"):
        if time.monotonic() > deadline:
            raise TimeoutError("the test never let the task settle")
        time.sleep(0.01)


async def anap(seconds: float) -> float:
    """An I/O-bound coroutine task; counts how many run at once (``CALLS["peak"]``)."""
    CALLS["running"] += 1
    CALLS["peak"] = max(CALLS["peak"], CALLS["running"])
    try:
        await asyncio.sleep(seconds)
    finally:
        CALLS["running"] -= 1
    EVENTS.append(("anap", seconds))
    return seconds


async def anoop() -> None:
    """A coroutine task that does nothing."""


async def arecord(ledger: str, key: str, seconds: float = 0.0) -> str:
    """Record ``start <key>``, sleep on the loop, then record ``done <key>``."""
    append_line(ledger, f"start {key}")
    await asyncio.sleep(seconds)
    append_line(ledger, f"done {key}")
    return key


async def afail_times(key: str, times: int) -> str:
    """Fail the first ``times`` awaits for ``key``, then succeed."""
    await asyncio.sleep(0)
    CALLS[key] += 1
    if CALLS[key] <= times:
        raise ConnectionError(f"{key}: failure {CALLS[key]}")
    return key


async def ablock(seconds: float) -> str:
    """A coroutine that blocks the event loop (the mistake the lag warning names)."""
    time.sleep(seconds)
    return "blocked"


async def aexit() -> None:
    """A coroutine task that calls sys.exit()."""
    await asyncio.sleep(0)
    sys.exit(3)


async def aon_start(task: Task[Any]) -> None:
    await asyncio.sleep(0)
    EVENTS.append(("astart", task.task_id))


async def aon_success(task: Task[Any], result: Any) -> None:
    await asyncio.sleep(0)
    EVENTS.append(("asuccess", task.task_id, result))


async def aon_error(task: Task[Any], err: Exception) -> None:
    await asyncio.sleep(0)
    EVENTS.append(("aerror", task.task_id, str(err)))


async def await_flag(ledger: str, key: str, flag: str) -> str:
    """Record ``start <key>``, wait on the loop until ``flag`` exists, record ``done <key>``."""
    append_line(ledger, f"start {key}")
    deadline = time.monotonic() + FLAG_TIMEOUT
    while not os.path.exists(flag):
        if time.monotonic() > deadline:
            raise TimeoutError(f"flag {flag} never appeared")
        await asyncio.sleep(0.01)
    append_line(ledger, f"done {key}")
    return key


def current_span() -> str:
    """The ids of the span current while the task runs: ``<trace id>/<span id>`` in hex."""
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}/{context.span_id:016x}"


async def acurrent_span() -> str:
    """:func:`current_span`, seen from a coroutine task after it yielded to the loop."""
    await asyncio.sleep(0)
    return current_span()
