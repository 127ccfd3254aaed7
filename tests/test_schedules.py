"""Periodic tasks on a fake clock: ticks, time zones across DST, misfire policies, dedup.

Everything here runs in one process on the locmem backend with an injected
clock (the real-process tests with several schedulers are in
``test_schedule_processes.py``).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from alligator import Gator, Task
from alligator.backends.locmem_backend import Client as Locmem
from alligator.backends.locmem_backend import reset_stores
from alligator.exceptions import ConfigurationError
from alligator.schedules import Cron, Every, Misfire, Schedule, Scheduler
from alligator.testing import FakeClock
from tests import tasks

UTC = dt.UTC
BERLIN = ZoneInfo("Europe/Berlin")


def utc(  # noqa: PLR0917 - datetime's own order
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> float:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


def walk(trigger: Cron | Every, start: float, count: int) -> list[float]:
    found: list[float] = []
    t = start
    for _ in range(count):
        nxt = trigger.after(t)
        assert nxt is not None
        found.append(nxt)
        t = nxt
    return found


def walk_back(trigger: Cron | Every, start: float, count: int) -> list[float]:
    found: list[float] = []
    t = start
    for _ in range(count):
        prev = trigger.before(t)
        assert prev is not None
        found.append(prev)
        t = prev
    return found[::-1]


def berlin(t: float) -> str:
    return dt.datetime.fromtimestamp(t, BERLIN).strftime("%m-%d %H:%M %Z")


# -- ticks ---------------------------------------------------------------------


def test_every_ticks_at_multiples_of_its_interval_since_the_epoch() -> None:
    every = Every(dt.timedelta(minutes=15))
    t = utc(2025, 1, 1, 10, 7, 30)
    assert every.after(t) == utc(2025, 1, 1, 10, 15)
    assert every.at_or_before(t) == utc(2025, 1, 1, 10, 0)
    assert every.before(utc(2025, 1, 1, 10, 0)) == utc(2025, 1, 1, 9, 45)
    assert every.at_or_before(utc(2025, 1, 1, 10, 0)) == utc(2025, 1, 1, 10, 0)
    # Sub-second intervals count in microseconds: no float drift over many ticks
    tenth = Every(0.1)
    ticks = walk(tenth, 1_700_000_000.0, 1000)
    assert ticks[-1] == 1_700_000_100.0
    assert walk_back(tenth, ticks[-1], 999) == ticks[:-1]


@pytest.mark.parametrize("interval", [0, -1, 0.0001, float("nan"), float("inf"), True, "5"])
def test_every_refuses_an_interval_that_is_not_a_positive_number(interval: Any) -> None:
    with pytest.raises(ConfigurationError, match="every"):
        Every(interval)


def test_cron_in_utc_is_plain_cron() -> None:
    cron = Cron("*/5 * * * *")
    t = utc(2025, 6, 1, 12, 2)
    assert walk(cron, t, 3) == [utc(2025, 6, 1, 12, m) for m in (5, 10, 15)]
    assert cron.at_or_before(utc(2025, 6, 1, 12, 5)) == utc(2025, 6, 1, 12, 5)
    assert cron.before(utc(2025, 6, 1, 12, 5)) == utc(2025, 6, 1, 12, 0)
    assert Cron("@daily").after(t) == utc(2025, 6, 2)
    assert Cron("@hourly").after(t) == utc(2025, 6, 1, 13)


@pytest.mark.parametrize(
    ("expr", "reason"),
    [
        ("61 * * * *", "Bad minute"),
        ("* * *", "Wrong number of fields"),
        ("0 0 31 2 *", "day-of-month"),
        ("every day", "Wrong number"),
    ],
)
def test_an_invalid_cron_expression_fails_at_definition_naming_it(expr: str, reason: str) -> None:
    pattern = f"invalid cron expression {re.escape(repr(expr))}: .*{reason}"
    with pytest.raises(ConfigurationError, match=pattern):
        Cron(expr)


def test_an_unknown_time_zone_fails_at_definition_naming_the_expression() -> None:
    with pytest.raises(
        ConfigurationError, match=r"cron '0 3 \* \* \*': unknown time zone 'Mars/Olympus'"
    ):
        Cron("0 3 * * *", "Mars/Olympus")


def test_a_local_time_skipped_by_the_clocks_going_forward_fires_shifted_by_the_gap() -> None:
    # Berlin, 2025-03-30: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist
    cron = Cron("30 2 * * *", "Europe/Berlin")
    ticks = walk(cron, utc(2025, 3, 28), 4)
    assert [berlin(t) for t in ticks] == [
        "03-28 02:30 CET",
        "03-29 02:30 CET",
        "03-30 03:30 CEST",  # 02:30 as if the clocks had not moved: 1 h later on the wall
        "03-31 02:30 CEST",
    ]
    # Read backwards, the same ticks
    assert walk_back(cron, ticks[-1], 3) == ticks[:-1]
    # Asked from inside the hour the gap moved it to, the shifted tick is still found
    assert cron.after(utc(2025, 3, 30, 1, 10)) == utc(2025, 3, 30, 1, 30)
    assert cron.at_or_before(utc(2025, 3, 30, 1, 40)) == utc(2025, 3, 30, 1, 30)


def test_across_the_gap_an_every_half_hour_expression_keeps_real_time_and_fires_once_each() -> None:
    cron = Cron("*/30 * * * *", "Europe/Berlin")
    ticks = walk(cron, utc(2025, 3, 30, 0, 0), 5)
    assert [dt.datetime.fromtimestamp(t, UTC).strftime("%H:%M") for t in ticks] == [
        "00:30", "01:00", "01:30", "02:00", "02:30",
    ]  # fmt: skip
    assert walk_back(cron, ticks[-1], 4) == ticks[:-1]
    # Skipped wall times landing where later ones are (02:10 -> 03:10, 02:45 -> 03:45)
    mixed = Cron("10,45 2,3 * * *", "Europe/Berlin")
    assert [berlin(t) for t in walk(mixed, utc(2025, 3, 30, 0, 0), 3)] == [
        "03-30 03:10 CEST", "03-30 03:45 CEST", "03-31 02:10 CEST",
    ]  # fmt: skip
    assert mixed.after(utc(2025, 3, 30, 1, 0)) == utc(2025, 3, 30, 1, 10)


def test_a_local_time_that_occurs_twice_fires_once_at_its_first_occurrence() -> None:
    # Berlin, 2025-10-26: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice
    cron = Cron("30 2 * * *", "Europe/Berlin")
    ticks = walk(cron, utc(2025, 10, 25), 3)
    assert [berlin(t) for t in ticks] == ["10-25 02:30 CEST", "10-26 02:30 CEST", "10-27 02:30 CET"]
    assert walk_back(cron, ticks[-1], 2) == ticks[:-1]
    # From inside the repeated hour, the second 02:30 does not fire
    second_pass = utc(2025, 10, 26, 1, 15)  # 02:15 CET, the second time round
    assert berlin(cron.after(second_pass) or 0) == "10-27 02:30 CET"
    assert cron.at_or_before(second_pass) == ticks[1]
    # Every half hour across the night: each wall time once, so one real hour has none
    half = Cron("*/30 * * * *", "Europe/Berlin")
    night = walk(half, utc(2025, 10, 25, 23, 0), 5)
    assert [berlin(t) for t in night] == [
        "10-26 01:30 CEST", "10-26 02:00 CEST", "10-26 02:30 CEST",
        "10-26 03:00 CET", "10-26 03:30 CET",
    ]  # fmt: skip
    assert walk_back(half, night[-1], 4) == night[:-1]


# -- a schedule on a fake clock ------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(utc(2025, 1, 1, 12, 0, 0))


@pytest.fixture
def store() -> Iterator[str]:
    name = f"schedules-{uuid.uuid4().hex[:8]}"
    yield name
    reset_stores(name)


def gator_on(store: str, clock: FakeClock) -> Gator:
    return Gator(
        f"locmem://{store}",
        queue_name="periodic",
        backend_class=lambda dsn: Locmem(dsn, clock=clock),
        clock=clock,
    )


def queued(gator: Gator, queue: str = "periodic") -> list[str]:
    """Ids of the tasks waiting in the queue, taking them off."""
    found: list[str] = []
    while (held := gator.broker.reserve(queue, 60.0)) is not None:
        found.append(held.task_id)
        gator.broker.ack(queue, held)
    return sorted(found)


def test_ticks_come_from_the_schedule_not_from_when_the_scheduler_ran(
    store: str, clock: FakeClock
) -> None:
    gator = gator_on(store, clock)
    schedule = Schedule(gator)
    schedule.options(name="add").every(60, tasks.add, 1, 2)
    scheduler = Scheduler(schedule, clock=clock)
    scheduler.start()
    # When the scheduler wakes a little late, each time
    for _ in range(5):
        clock.advance(60.7)
        scheduler.run_pending()
    # Then the ticks are still on the minute: no drift
    assert queued(gator) == [f"add@2025-01-01T12:0{m}:00Z" for m in range(1, 6)]
    # And the next wake is the next minute
    assert scheduler.next_wake() == utc(2025, 1, 1, 12, 6)


def test_a_tick_runs_the_entry_call_with_its_options(store: str, clock: FakeClock) -> None:
    gator = gator_on(store, clock)
    schedule = Schedule(gator)
    schedule.options(name="sum", retries=2, queue="other").every(10, tasks.add, 1, b=2)
    scheduler = Scheduler(schedule, clock=clock)
    scheduler.start()
    clock.advance(10)
    [fired] = scheduler.run_pending()
    assert fired.enqueued and fired.task_id == "sum@2025-01-01T12:00:10Z"
    data = gator.broker.get("other", fired.task_id)
    assert data is not None
    task = Task.deserialize(data)
    assert (task.func, task.func_args, task.func_kwargs, task.retries) == (
        tasks.add, (1,), {"b": 2}, 2,
    )  # fmt: skip


def test_two_schedulers_enqueue_each_tick_once(store: str, clock: FakeClock) -> None:
    gators = [gator_on(store, clock) for _ in range(2)]
    schedulers = []
    for gator in gators:
        schedule = Schedule(gator)
        schedule.every(1, tasks.add, 1, 2)
        schedulers.append(Scheduler(schedule, clock=clock))
    for scheduler in schedulers:
        scheduler.start()
    for _ in range(10):
        clock.advance(1)
        for scheduler in schedulers:
            scheduler.run_pending()
    fired = [f for s in schedulers for f in s.fired]
    assert len(fired) == 20
    assert sorted(f.task_id for f in fired if f.enqueued) == sorted({f.task_id for f in fired})
    assert len(queued(gators[0])) == 10


def test_a_slow_scheduler_does_not_enqueue_a_tick_that_already_ran(
    store: str, clock: FakeClock
) -> None:
    fast, slow = gator_on(store, clock), gator_on(store, clock)
    schedules = [Schedule(g) for g in (fast, slow)]
    for schedule in schedules:
        schedule.options(name="job").every(60, tasks.add, 1, 2)
    first, late = (Scheduler(s, clock=clock) for s in schedules)
    first.start()
    late.start()
    clock.advance(60)
    assert [f.enqueued for f in first.run_pending()] == [True]
    # The task runs and is acked: it is gone from the queue
    assert queued(fast) == ["job@2025-01-01T12:01:00Z"]
    # When the other scheduler gets to that tick within its grace
    clock.advance(5)
    assert [f.enqueued for f in late.run_pending()] == [False]
    assert queued(fast) == []


@pytest.mark.parametrize(
    ("misfire", "expected"),
    [
        # Down from 12:00:30 to 12:10:30: the ticks 12:01 .. 12:10 were missed
        ("skip", []),
        ("once", ["12:10"]),
        ("all", [f"12:{m:02d}" for m in range(1, 11)]),
        (Misfire.all(3), ["12:08", "12:09", "12:10"]),
    ],
)
def test_a_restarted_scheduler_applies_the_misfire_policy(
    store: str, clock: FakeClock, misfire: Any, expected: list[str]
) -> None:
    gator = gator_on(store, clock)
    schedule = Schedule(gator)
    schedule.options(name="job", misfire=misfire).every(60, tasks.add, 1, 2)
    before = Scheduler(schedule, clock=clock)
    before.start()
    clock.advance(30)
    before.run_pending()
    assert queued(gator) == []
    # When every scheduler is down for ten minutes, and one starts again
    clock.advance(600)
    after = Scheduler(schedule, clock=clock)
    after.run_pending()
    # Then the missed ticks are caught up as the policy says
    assert queued(gator) == [f"job@2025-01-01T{hm}:00Z" for hm in expected]
    # And the ticks after are on time again
    clock.advance(30)
    after.run_pending()
    assert queued(gator) == ["job@2025-01-01T12:11:00Z"]


def test_a_restart_within_the_grace_fires_the_current_tick_whatever_the_policy(
    store: str, clock: FakeClock
) -> None:
    gator = gator_on(store, clock)
    schedule = Schedule(gator, grace=10)
    schedule.options(name="job", misfire="skip").every(60, tasks.add, 1, 2)
    Scheduler(schedule, clock=clock).start()
    clock.advance(64)  # the 12:01 tick is 4 s old: on time
    Scheduler(schedule, clock=clock).run_pending()
    assert queued(gator) == ["job@2025-01-01T12:01:00Z"]


def test_catch_up_never_repeats_a_tick_that_was_enqueued(store: str, clock: FakeClock) -> None:
    gator = gator_on(store, clock)
    schedule = Schedule(gator)
    schedule.options(name="job", misfire="all").every(60, tasks.add, 1, 2)
    running = Scheduler(schedule, clock=clock)
    running.start()
    for _ in range(3):
        clock.advance(60)
        running.run_pending()
    assert len(queued(gator)) == 3
    # A second scheduler starts later: it looks back, finds those ticks taken
    clock.advance(20)
    joining = Scheduler(schedule, clock=clock)
    assert [f.enqueued for f in joining.run_pending()] == [False, False, False]
    assert queued(gator) == []


def test_a_new_entry_and_a_retimed_one_start_afresh_with_no_catch_up(
    store: str, clock: FakeClock
) -> None:
    gator = gator_on(store, clock)
    first = Schedule(gator)
    first.options(name="retimed", misfire="all").every(60, tasks.add, 1, 2)
    first.options(name="removed", misfire="all").every(60, tasks.add, 3, 4)
    Scheduler(first, clock=clock).run_pending()
    clock.advance(600)
    # The next start runs a changed schedule: one entry retimed, one removed, one new
    second = Schedule(gator)
    second.options(name="retimed", misfire="all").every(120, tasks.add, 1, 2)
    second.options(name="added", misfire="all").every(60, tasks.add, 5, 6)
    restarted = Scheduler(second, clock=clock)
    assert restarted.run_pending() == []
    clock.advance(120)
    restarted.run_pending()
    assert queued(gator) == [
        "added@2025-01-01T12:11:00Z",
        "added@2025-01-01T12:12:00Z",
        "retimed@2025-01-01T12:12:00Z",
    ]


def test_a_cron_entry_in_a_time_zone_fires_across_the_clocks_going_back(
    store: str, clock: FakeClock
) -> None:
    clock.advance(utc(2025, 10, 25, 23, 0) - clock())
    gator = gator_on(store, clock)
    schedule = Schedule(gator)
    schedule.options(name="night", tz="Europe/Berlin").cron("30 * * * *", tasks.add, 1, 2)
    scheduler = Scheduler(schedule, clock=clock)
    scheduler.start()
    while clock() < utc(2025, 10, 26, 4, 0):
        clock.advance(60)
        scheduler.run_pending()
    # 02:30 happened twice on the wall; it fired once
    assert [berlin(f.tick) for f in scheduler.fired] == [
        "10-26 01:30 CEST", "10-26 02:30 CEST", "10-26 03:30 CET", "10-26 04:30 CET",
    ]  # fmt: skip
    assert all(f.enqueued for f in scheduler.fired)


def test_an_idle_scheduler_sleeps_until_the_next_tick_and_stops_when_told(
    store: str, clock: FakeClock
) -> None:
    gator = Gator(f"locmem://{store}", queue_name="periodic")
    schedule = Schedule(gator)
    schedule.every(3600, tasks.add, 1, 2)
    scheduler = Scheduler(schedule)
    thread = threading.Thread(target=scheduler.run_forever)
    thread.start()
    time.sleep(0.2)
    assert thread.is_alive()
    started = time.monotonic()
    scheduler.interrupt()
    thread.join(5)
    assert not thread.is_alive() and time.monotonic() - started < 1.0


# -- bad input -----------------------------------------------------------------


def test_bad_entries_are_refused_at_definition(store: str, clock: FakeClock) -> None:
    schedule = Schedule(gator_on(store, clock))
    schedule.every(60, tasks.add, 1, 2)
    with pytest.raises(ConfigurationError, match=r"already has an entry named 'tests\.tasks:add'"):
        schedule.cron("* * * * *", tasks.add, 3, 4)
    with pytest.raises(ConfigurationError, match="every"):
        schedule.every(0, tasks.add, 1, 2)
    with pytest.raises(ConfigurationError, match="every"):
        schedule.every(dt.timedelta(seconds=-5), tasks.add, 1, 2)
    with pytest.raises(ConfigurationError, match="invalid cron expression '0 3 \\* \\*'"):
        schedule.options(name="x").cron("0 3 * *", tasks.add, 1, 2)
    with pytest.raises(ConfigurationError, match="unknown time zone 'Nowhere/Land'"):
        schedule.options(name="y", tz="Nowhere/Land").cron("0 3 * * *", tasks.add, 1, 2)
    with pytest.raises(ConfigurationError, match="tz applies to cron"):
        schedule.options(name="z", tz="UTC").every(60, tasks.add, 1, 2)
    with pytest.raises(ConfigurationError, match="name"):
        schedule.options(name="a@b").every(60, tasks.add, 1, 2)
    with pytest.raises(ConfigurationError, match="misfire"):
        schedule.options(name="m", misfire="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="cannot be enqueued"):
        schedule.options(name="args").every(60, tasks.add, 1)  # type: ignore[call-overload]
    with pytest.raises(ConfigurationError, match="grace"):
        Schedule(schedule.gator, grace=-1)
    assert [e.name for e in schedule] == ["tests.tasks:add"]


def test_next_fire_times_are_shown_in_the_entry_zone(store: str, clock: FakeClock) -> None:
    schedule = Schedule(gator_on(store, clock))
    entry = schedule.options(tz="Europe/Berlin").cron("0 3 * * MON", tasks.add, 1, 2)
    times = entry.next_fire_times(2, after=utc(2025, 1, 1))
    assert [t.isoformat() for t in times] == [
        "2025-01-06T03:00:00+01:00",
        "2025-01-13T03:00:00+01:00",
    ]
