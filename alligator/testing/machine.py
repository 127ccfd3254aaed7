"""Hypothesis state machines that run a client against the reference model.

Each step calls the client and :class:`~alligator.testing.model.QueueModel`
with the same operation and compares results; invariants compare ``len``,
``stats`` and ``buried`` after every step. Hypothesis shrinks a failure to the
shortest sequence of calls that shows it.

The rules live in :mod:`alligator.testing.plain_machine` (the 1.0 contract),
:mod:`alligator.testing.reliable_machine` and
:mod:`alligator.testing.prefetch_machine`; this module builds runnable
machines from a client factory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from alligator.protocols import Client, ReliableClient
from alligator.testing.clock import Clock
from alligator.testing.plain_machine import ClientMachine
from alligator.testing.reliable_machine import ReliableClientMachine
from alligator.testing.support import unique_queue_name

__all__ = [
    "DEFAULT_SETTINGS",
    "ClientMachine",
    "ReliableClientMachine",
    "client_machine",
    "reliable_client_machine",
    "run_client_machine",
    "run_reliable_client_machine",
    "unique_queue_name",
]

#: Modest defaults: one backend's run takes seconds, not minutes. No health
#: check is suppressed: the draws are cheap and never filtered (preconditions
#: pick the rules, nothing is drawn then thrown away).
DEFAULT_SETTINGS = settings(max_examples=50, stateful_step_count=40, deadline=None)


def client_machine(
    make_client: Callable[[Clock], Client],
    *,
    real_time: bool = False,
    strict_fifo: bool = True,
    caller_ids: bool = True,
    replaces_on_push: bool = True,
    delays: bool | None = None,
    settings: settings | None = None,
) -> type[ClientMachine]:
    """A machine for a plain 1.0 :class:`~alligator.protocols.Client`.

    Args:
        make_client: Called once per example with the clock to inject.
        real_time: The client cannot take a clock (a :class:`RealClock` is passed).
        strict_fifo: Check that ``pop`` returns the oldest due task.
        caller_ids: ``push`` stores under the id it is given and returns it;
            ``False`` for a backend that picks ids (the returned one is then
            what ``get`` is checked with).
        replaces_on_push: Accepted for symmetry with
            :func:`reliable_client_machine`; this machine never pushes an id
            the queue holds, as 1.0 leaves replacing open.
        delays: Push tasks with ``delay_until`` and move the clock. By default
            (``None``) exactly when the Gator would delay tasks on the client:
            its ``push`` takes ``delay_until``.
        settings: Replaces :data:`DEFAULT_SETTINGS`; derive from it to change
            one option: ``settings(DEFAULT_SETTINGS, max_examples=200)``.

    Returns:
        A machine class; its ``TestCase`` attribute is a collectable test.
    """

    class Machine(ClientMachine):
        def new_client(self, clock: Clock) -> Client:
            return make_client(clock)

    Machine.real_time = real_time
    Machine.strict_fifo = strict_fifo
    Machine.caller_ids = caller_ids
    Machine.replaces_on_push = replaces_on_push
    Machine.delays = delays
    Machine.TestCase.settings = settings or DEFAULT_SETTINGS
    return Machine


def reliable_client_machine(
    make_client: Callable[[Clock], ReliableClient],
    *,
    real_time: bool = False,
    strict_fifo: bool = True,
    caller_ids: bool = True,
    replaces_on_push: bool = True,
    release_with_data_keeps_id_and_attempts: bool = True,
    settings: settings | None = None,
) -> type[ReliableClientMachine]:
    """A machine for a :class:`~alligator.protocols.ReliableClient`.

    Args are those of :func:`client_machine` (delays are always on), plus:

    Args:
        replaces_on_push: Pushing an id the queue holds replaces that task,
            and is refused with ``TaskInProgressError`` while its lease is
            held; ``False`` (or ``caller_ids=False``): the machine never does it.
        release_with_data_keeps_id_and_attempts: ``release`` with a new
            payload keeps the task's id and ``attempts``; ``False`` for a
            backend that stores it as a new job, which must then come back
            exactly once with the new payload, under any id, attempts restarting.

    In real-time mode the clock is never advanced: delays and leases are an
    hour long, so the run checks everything except expiry.
    """

    class Machine(ReliableClientMachine):
        def new_client(self, clock: Clock) -> ReliableClient:
            return make_client(clock)

    Machine.real_time = real_time
    Machine.strict_fifo = strict_fifo
    Machine.caller_ids = caller_ids
    Machine.replaces_on_push = replaces_on_push
    Machine.release_with_data_keeps_id_and_attempts = release_with_data_keeps_id_and_attempts
    Machine.TestCase.settings = settings or DEFAULT_SETTINGS
    return Machine


def run_client_machine(make_client: Callable[[Clock], Client], **options: Any) -> None:
    """Run :func:`client_machine` now, e.g. inside a test that has fixtures."""
    machine = client_machine(make_client, **options)
    run_state_machine_as_test(machine, settings=machine.TestCase.settings)


def run_reliable_client_machine(
    make_client: Callable[[Clock], ReliableClient], **options: Any
) -> None:
    """Run :func:`reliable_client_machine` now, e.g. inside a test that has fixtures."""
    machine = reliable_client_machine(make_client, **options)
    run_state_machine_as_test(machine, settings=machine.TestCase.settings)
