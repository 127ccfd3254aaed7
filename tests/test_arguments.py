"""Arguments checked against the function at enqueue, and restored to their declared types.

A call that cannot bind to its function fails at enqueue, not in a worker;
a value that a codec would change (a set, a datetime, a Decimal, a UUID, a
dict with int keys) arrives in the type the parameter declares, on every
codec, and eager mode (``is_async=False``) goes through the same round trip.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

import pytest

from alligator import Gator, InvalidTaskError, Task, Worker
from alligator.codecs import registry
from tests import tasks

WHEN = dt.datetime(2026, 12, 2, 13, 30, tzinfo=dt.UTC)
REF = uuid.UUID("12345678-1234-5678-1234-567812345678")


@pytest.mark.parametrize(
    ("args", "kwargs", "words"),
    [
        ((1,), {}, "missing required argument(s) 'b'"),
        ((1, 2, 3), {}, "takes 2 positional arguments but 3 were given"),
        ((1,), {"c": 2}, "unexpected keyword argument 'c'"),
        ((1, 2), {"a": 2}, "multiple values for argument 'a'"),
    ],
)
def test_a_call_that_cannot_bind_fails_at_enqueue(
    locmem_gator: Gator, args: tuple[Any, ...], kwargs: dict[str, Any], words: str
) -> None:
    with pytest.raises(InvalidTaskError, match="a worker could not call it") as caught:
        locmem_gator.task(tasks.add, *args, **kwargs)
    assert words in str(caught.value)
    assert locmem_gator.len() == 0


def test_varargs_and_keyword_only_signatures_are_bound_too(locmem_gator: Gator) -> None:
    with pytest.raises(InvalidTaskError, match="missing a required argument: 'tags'"):
        locmem_gator.task(tasks.describe, WHEN)  # type: ignore[call-overload]


@pytest.mark.parametrize("codec", registry.names())
def test_arguments_arrive_in_their_declared_types_on_every_codec(
    codec: str, locmem_dsn: str
) -> None:
    # Given a function whose parameters declare types a codec would change
    gator = Gator(locmem_dsn, queue_name="q", codec=codec)
    gator.task(
        tasks.describe,
        WHEN,
        {"b", "a"},
        decimal.Decimal("12.50"),
        REF,
        {1: "one", 2: "two"},
        (3, 4),
        dt.date(2026, 1, 1),
        primes=frozenset({2, 3}),
    )
    # When a worker runs it
    worker = Worker(gator, recycle_after=1, poll_timeout=0.05)
    worker.run_forever()
    # Then every argument had its declared type (describe raises otherwise)
    assert worker.tasks_complete == 1, gator.broker.buried("q")
    assert [("describe", WHEN.isoformat(), ["a", "b"])] == tasks.EVENTS


def test_eager_mode_runs_with_what_a_worker_would_get(locmem_gator: Gator) -> None:
    # Given the same call, run at once
    task = locmem_gator.push(
        Task(is_async=False),
        tasks.describe,
        WHEN,
        {"x"},
        decimal.Decimal(1),
        REF,
        {7: "seven"},
    )
    # Then it ran on the decoded values, and they were restored
    assert task.result == "typed"
    assert isinstance(task.func_args[1], set)


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ({1, 2}, "set"),
        (WHEN, "datetime"),
        (decimal.Decimal("1.5"), "Decimal"),
        (REF, "UUID"),
        (b"raw", "bytes"),
        ([{"nested": {3}}], "set"),
    ],
)
def test_an_unannotated_parameter_refuses_values_that_would_change(
    locmem_gator: Gator, value: object, kind: str
) -> None:
    with pytest.raises(InvalidTaskError, match=f"holds a {kind}.*annotate the parameter"):
        locmem_gator.task(tasks.untyped, value)


def test_an_unannotated_parameter_refuses_int_keys_and_takes_plain_values(
    locmem_gator: Gator,
) -> None:
    with pytest.raises(InvalidTaskError, match="dict key 1 that is not a str"):
        locmem_gator.task(tasks.untyped, {1: "a"})
    plain: dict[str, Any] = {"a": [1, 2.5, None, True, "s", {"b": []}]}
    assert tasks.result_of(locmem_gator.push(Task(is_async=False), tasks.untyped, plain)) == plain


def test_the_same_refusal_holds_in_eager_mode(locmem_gator: Gator) -> None:
    with pytest.raises(InvalidTaskError, match="holds a set"):
        locmem_gator.push(Task(is_async=False), tasks.untyped, {1})


def test_async_def_tasks_are_checked_against_their_signature_too(locmem_gator: Gator) -> None:
    with pytest.raises(InvalidTaskError, match="missing required argument"):
        locmem_gator.task(tasks.fetch_page)  # type: ignore[call-overload]
    assert locmem_gator.len() == 0
    locmem_gator.task(tasks.fetch_page, "https://example.com")
    assert locmem_gator.len() == 1


def test_a_required_keyword_only_argument_is_checked_too(locmem_gator: Gator) -> None:
    with pytest.raises(InvalidTaskError, match="missing required argument"):
        locmem_gator.task(tasks.keyword_only, 1)  # type: ignore[call-overload]
    assert tasks.result_of(locmem_gator.push(Task(is_async=False), tasks.keyword_only, 1, b=2)) == 3
