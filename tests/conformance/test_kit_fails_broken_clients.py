"""The conformance kit can fail: each deliberately broken client is caught.

Every client in :mod:`tests.kit_clients` but one gets one thing wrong. The
contract classes run against each in a nested pytest session (``pytester``),
which must report the tests that catch the fault as failed; the state
machine must end in an ``AssertionError`` naming it. The correct clients
pass both, so a failure here is the fault and not the harness.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable

import pytest
from hypothesis import Phase, settings

from alligator.backends.locmem_backend import Client as LocmemClient
from alligator.capabilities import Capabilities
from alligator.protocols import Client, ReliableClient
from alligator.testing import (
    DEFAULT_SETTINGS,
    ClientContract,
    Clock,
    run_client_machine,
    run_reliable_client_machine,
)
from tests import kit_clients
from tests.kit_clients import DelayingClient

#: Derandomized, so the outcome never depends on the seed; one failure reported,
#: not a group; no shrinking (the kit's first assertion is what is checked, and
#: shrinking would only cost time). Each fault is found within a few examples.
HUNT = settings(
    DEFAULT_SETTINGS,
    max_examples=200,
    derandomize=True,
    database=None,
    report_multiple_bugs=False,
    phases=[Phase.explicit, Phase.generate],
)
#: The correct clients' control runs (their own suites run them longer).
CONTROL = settings(DEFAULT_SETTINGS, derandomize=True, database=None)


def run_contract(pytester: pytest.Pytester, contract: str, make: str) -> tuple[set[str], int]:
    """Run ``contract`` against the client ``make`` builds; (failed test names, passed count)."""
    pytester.makepyfile(
        test_kit_on_client=textwrap.dedent(
            f"""
            from alligator.backends.locmem_backend import Client as LocmemClient
            from alligator.testing import {contract}
            from tests import kit_clients

            class TestClient({contract}):
                def make_client(self, clock):
                    return {make}
            """
        )
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q")
    passed, _, failed = result.reprec.listoutcomes()  # type: ignore[attr-defined]
    errors = [r for r in result.reprec.getreports("pytest_runtest_logreport") if r.when != "call"]  # type: ignore[attr-defined]
    assert not [r.nodeid for r in errors if r.failed], "the harness itself failed"
    return {r.nodeid.rpartition("::")[2].partition("[")[0] for r in failed}, len(passed)


# -- the contract tests ------------------------------------------------------------


@pytest.mark.parametrize(
    ("contract", "make", "caught_by"),
    [
        (
            "ClientContract",
            "kit_clients.LosesTasks()",
            {"test_pop_is_first_in_first_out", "test_get_removes_the_task_it_returns"},
        ),
        (
            "ClientContract",
            "kit_clients.PopsLifo()",
            {"test_pop_is_first_in_first_out", "test_get_removes_the_task_it_returns"},
        ),
        (
            "ClientContract",
            "kit_clients.GetKeepsTheTask()",
            {"test_get_removes_the_task_it_returns"},
        ),
        (
            "ClientContract",
            "kit_clients.IgnoresDelay(clock=clock)",
            {"test_a_delayed_task_waits_until_due"},
        ),
        (
            "ReliableClientContract",
            "kit_clients.HandsOutLeasedTasks('locmem://kit-leased', clock=clock)",
            {"test_a_reserved_task_is_hidden", "test_ack_deletes_the_task"},
        ),
        (
            "ReliableClientContract",
            "kit_clients.IgnoresReliableDelay('locmem://kit-delay', clock=clock)",
            {"test_a_delayed_task_waits_until_due", "test_due_time_orders_reservations"},
        ),
        (
            "ReliableClientContract",
            "kit_clients.IgnoresPriority('locmem://kit-priority', clock=clock)",
            {
                "test_lower_priority_first_and_fifo_among_equals",
                "test_push_many_carries_each_items_priority",
                "test_a_released_task_keeps_its_priority",
                "test_reserve_many_takes_by_priority",
            },
        ),
        (
            "ReliableClientContract",
            "kit_clients.StoresEveryUniquePush('locmem://kit-unique', clock=clock)",
            {
                "test_a_held_unique_key_stores_no_second_task",
                "test_a_race_for_one_key_stores_one_task",
            },
        ),
        (
            "ReliableClientContract",
            "kit_clients.ForgetsDependents('locmem://kit-deps', clock=clock)",
            {"test_a_dependent_waits_blocked_until_its_dependencies_succeed"},
        ),
        (
            "ReliableClientContract",
            "kit_clients.StoresStaleOutcomes('locmem://kit-stale', clock=clock)",
            {"test_a_lost_lease_stores_no_outcome", "test_complete_acks_and_stores_the_outcome"},
        ),
        (
            "ReliableClientContract",
            "kit_clients.AdmitsOverTheLimit('locmem://kit-limits', clock=clock)",
            {
                "test_a_concurrency_limit_admits_that_many",
                "test_a_rate_limit_counts_starts_in_its_window",
            },
        ),
    ],
    ids=[
        "loses-a-task",
        "pops-lifo",
        "get-keeps",
        "ignores-delay",
        "hands-out-leased",
        "reliable-ignores-delay",
        "ignores-priority",
        "stores-every-unique-push",
        "forgets-dependents",
        "stores-stale-outcomes",
        "admits-over-the-limit",
    ],
)
def test_the_contract_fails_a_broken_client(
    pytester: pytest.Pytester, contract: str, make: str, caught_by: set[str]
) -> None:
    # Given a client with one fault / When the contract runs against it
    failed, passed = run_contract(pytester, contract, make)
    # Then the tests aimed at that fault fail (and the run itself worked)
    assert caught_by <= failed, f"not caught by {sorted(caught_by - failed)}; failed: {failed}"
    assert passed > 0


@pytest.mark.parametrize(
    ("contract", "make"),
    [
        ("ClientContract", "kit_clients.DelayingClient(clock=clock)"),
        ("ReliableClientContract", "LocmemClient('locmem://kit-good', clock=clock)"),
    ],
    ids=["plain-with-delays", "locmem"],
)
def test_the_contract_passes_the_correct_clients(
    pytester: pytest.Pytester, contract: str, make: str
) -> None:
    failed, passed = run_contract(pytester, contract, make)
    assert failed == set()
    assert passed > 10


class TestDelayingClient(ClientContract):
    """The plain client with delays, collected directly: no skip for its delay test."""

    capabilities = Capabilities(reliable=False, delays=True)

    def make_client(self, clock: Clock) -> Client:
        return DelayingClient(clock=clock)


# -- the state machine -------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda clock: kit_clients.LosesTasks(), r"len\(|pop returned None"),
        (lambda clock: kit_clients.PopsLifo(), r"pop returned .*, expected one of"),
        (lambda clock: kit_clients.GetKeepsTheTask(), r"len\(|get\("),
        (
            lambda clock: kit_clients.IgnoresDelay(clock=clock),
            r"pop returned .* (from a queue with nothing due|expected one of)",
        ),
    ],
    ids=["loses-a-task", "pops-lifo", "get-keeps", "ignores-delay"],
)
def test_the_plain_machine_fails_a_broken_client(
    make: Callable[[Clock], Client], message: str
) -> None:
    with pytest.raises(AssertionError, match=message):
        run_client_machine(make, settings=HUNT)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda clock: kit_clients.HandsOutLeasedTasks("locmem://kit-m-leased", clock=clock),
            # (run_some's complete finds the lease it was just handed already gone)
            r"len\(|stats\(|reserve(_many)? (returned|leased|took|left)"
            r"|(complete|fail) refused a reservation whose lease is held",
        ),
        (
            lambda clock: kit_clients.IgnoresReliableDelay("locmem://kit-m-delay", clock=clock),
            r"stats\(|(reserve|pop) returned",
        ),
        (
            lambda clock: kit_clients.IgnoresPriority("locmem://kit-m-priority", clock=clock),
            r"(reserve|pop) (returned|took)|reserve_many left",
        ),
    ],
    # A client storing stale outcomes (or forgetting dependents) is caught by
    # the contract above; among the many rules the machine reaches it only
    # after some hundreds of examples, a budget this suite does not spend.
    ids=["hands-out-leased", "ignores-delay", "ignores-priority"],
)
def test_the_reliable_machine_fails_a_broken_client(
    make: Callable[[Clock], ReliableClient], message: str
) -> None:
    with pytest.raises(AssertionError, match=message):
        run_reliable_client_machine(make, settings=HUNT)


def test_the_machines_pass_the_correct_clients() -> None:
    run_client_machine(lambda clock: DelayingClient(clock=clock), settings=CONTROL)
    run_reliable_client_machine(
        lambda clock: LocmemClient("locmem://kit-m-good", clock=clock), settings=CONTROL
    )


def test_a_failing_machine_shows_the_calls_it_made() -> None:
    # Given a client that pops the newest task first
    with pytest.raises(AssertionError) as failed:
        run_client_machine(lambda clock: kit_clients.PopsLifo(), settings=HUNT)
    # Then the report holds each call as made: the ids and payloads actually used
    notes = "\n".join(getattr(failed.value, "__notes__", []))
    push = r"client\.push\('[^']+', '[^']+', b'[^']*', delay_until=None\) -> '"
    assert re.search(push, notes), notes
    assert re.search(r"client\.pop\('[^']+'\) -> b'", notes), notes
