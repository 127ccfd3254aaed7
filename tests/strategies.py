"""Hypothesis strategies for task envelopes and their arguments, shared by tests.

What survives a codec differs per format, so each strategy comes with the
normalisation that says what a value looks like after the round trip:

- JSON has no tuples (they come back as lists) and no bytes (msgspec writes
  them as base64 strings).
- msgpack has no tuples either, but keeps bytes as bytes.

Integers stay within 64 bits (msgpack cannot carry more) and floats are
finite (NaN never equals itself, and JSON has no infinity).
"""

from __future__ import annotations

import base64
from typing import Any

from hypothesis import strategies as st

from alligator.constants import ENVELOPE_VERSION
from alligator.wire import Envelope

__all__ = [
    "JSON_SAFE_SCALARS",
    "MSGPACK_SAFE_SCALARS",
    "args_and_kwargs",
    "envelopes",
    "normalize_json",
    "normalize_msgpack",
    "values",
]

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
TEXT = st.text(max_size=40)
_NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)
IDENTIFIERS = st.lists(_NAME, min_size=1, max_size=3).map(".".join)

JSON_SAFE_SCALARS: st.SearchStrategy[Any] = st.none() | st.booleans() | INT64 | FLOATS | TEXT
MSGPACK_SAFE_SCALARS: st.SearchStrategy[Any] = JSON_SAFE_SCALARS | st.binary(max_size=40)


def values(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Nested lists, tuples and str-keyed dicts of ``scalars``."""
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=5)
            | st.lists(inner, max_size=5).map(tuple)
            | st.dictionaries(TEXT, inner, max_size=5)
        ),
        max_leaves=10,
    )


def args_and_kwargs(
    scalars: st.SearchStrategy[Any],
) -> st.SearchStrategy[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Positional and keyword arguments for a task."""
    return st.tuples(
        st.lists(values(scalars), max_size=5).map(tuple),
        st.dictionaries(IDENTIFIERS, values(scalars), max_size=5),
    )


@st.composite
def envelopes(draw: st.DrawFn, scalars: st.SearchStrategy[Any] = JSON_SAFE_SCALARS) -> Envelope:
    """Any envelope a producer could write, with arguments drawn from ``scalars``."""
    args, kwargs = draw(args_and_kwargs(scalars))
    hooks = st.none() | st.builds(lambda m, n: f"{m}:{n}", IDENTIFIERS, IDENTIFIERS)
    return Envelope(
        version=ENVELOPE_VERSION,
        task_id=draw(st.text(min_size=1, max_size=40)),
        module=draw(IDENTIFIERS),
        callable=draw(IDENTIFIERS),
        args=args,
        kwargs=kwargs,
        retries=draw(st.integers(min_value=0, max_value=1000)),
        attempts=draw(st.integers(min_value=0, max_value=1000)),
        is_async=draw(st.booleans()),
        on_start=draw(hooks),
        on_success=draw(hooks),
        on_error=draw(hooks),
        delay_until=draw(st.none() | st.floats(min_value=0, max_value=4e9)),
        depends_on=draw(st.lists(st.text(min_size=1, max_size=20), max_size=3)),
        priority=draw(st.none() | st.integers(min_value=-100, max_value=100)),
        options=draw(st.dictionaries(IDENTIFIERS, values(scalars), max_size=3)),
    )


def normalize_json(value: Any) -> Any:
    """``value`` as it comes back from JSON: tuples as lists, bytes as base64 text."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, (list, tuple)):
        return [normalize_json(item) for item in value]
    if isinstance(value, dict):
        return {key: normalize_json(item) for key, item in value.items()}
    return value


def normalize_msgpack(value: Any) -> Any:
    """``value`` as it comes back from msgpack: tuples as lists, bytes kept."""
    if isinstance(value, (list, tuple)):
        return [normalize_msgpack(item) for item in value]
    if isinstance(value, dict):
        return {key: normalize_msgpack(item) for key, item in value.items()}
    return value
