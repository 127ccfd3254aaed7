"""The one-timer bound on the asyncio Redis producer's calls (alligator._deadlines)."""

from __future__ import annotations

import asyncio

from alligator._deadlines import Deadlines


async def _call(deadlines: Deadlines, key: object, seconds: float) -> float:
    """A call that takes ``seconds``; returns how long it ran."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    with deadlines.bound(key):
        await asyncio.sleep(seconds)
    return loop.time() - began


def test_a_call_past_the_bound_raises_timeout_and_its_task_goes_on() -> None:
    async def main() -> tuple[BaseException | None, int, bool]:
        deadlines = Deadlines(0.05)
        error: BaseException | None = None
        try:
            await _call(deadlines, "conn", 30.0)
        except TimeoutError as exc:
            error = exc
        task = asyncio.current_task()
        assert task is not None
        # The task is not left cancelled: it can await again
        await asyncio.sleep(0)
        return error, task.cancelling(), True

    error, cancelling, went_on = asyncio.run(main())
    assert isinstance(error, TimeoutError)
    assert cancelling == 0
    assert went_on


def test_calls_in_time_return_their_results_and_leave_one_timer_at_most() -> None:
    async def main() -> tuple[list[float], int]:
        deadlines = Deadlines(30.0)
        loop = asyncio.get_running_loop()
        spans = [await _call(deadlines, "conn", 0) for _ in range(1_000)]
        # asyncio.timeout would leave 1,000 cancelled timers here (the reason for Deadlines)
        return spans, len(loop._scheduled)  # type: ignore[attr-defined]

    spans, scheduled = asyncio.run(main())
    assert len(spans) == 1_000
    assert scheduled <= 1


def test_the_callers_own_cancel_stays_a_cancel() -> None:
    async def main() -> BaseException | None:
        deadlines = Deadlines(30.0)
        call = asyncio.create_task(_call(deadlines, "conn", 30.0))
        await asyncio.sleep(0.01)
        call.cancel()
        try:
            await call
        except BaseException as exc:
            return exc
        return None

    assert isinstance(asyncio.run(main()), asyncio.CancelledError)


def test_a_call_begun_after_the_timer_was_armed_is_bounded_from_its_own_start() -> None:
    async def main() -> tuple[float, BaseException | None, float]:
        deadlines = Deadlines(0.2)
        loop = asyncio.get_running_loop()
        # One call arms the timer and returns; a second one begins halfway
        quick = asyncio.create_task(_call(deadlines, "a", 0.1))
        await asyncio.sleep(0.1)
        began = loop.time()
        error: BaseException | None = None
        try:
            await _call(deadlines, "b", 30.0)
        except TimeoutError as exc:
            error = exc
        return await quick, error, loop.time() - began

    quick, error, ran = asyncio.run(main())
    assert quick < 0.2  # the first call was not cut short
    assert isinstance(error, TimeoutError)
    assert ran >= 0.2  # not cut at the first call's bound, 0.1 s after it began


def test_calls_on_a_later_event_loop_are_bounded_too() -> None:
    deadlines = Deadlines(0.05)

    async def main() -> BaseException | None:
        try:
            await _call(deadlines, "conn", 30.0)
        except TimeoutError as exc:
            return exc
        return None

    # One Deadlines (one producer's) used by two asyncio.run calls in turn
    errors = [asyncio.run(main()) for _ in range(2)]
    assert all(isinstance(error, TimeoutError) for error in errors)
