"""A task's arguments, checked against its function at enqueue and restored in the worker.

Two things go wrong between a producer and a worker that a typed library can
catch:

* **A call that cannot work** (a missing argument, one too many, a keyword
  the function does not take) used to be found by the worker, retried until
  buried. :func:`check` binds the call to the function's signature at
  enqueue, so it fails there with the reason.
* **Values change type on the wire.** A codec carries JSON-like values, so a
  ``set`` arrives as a list, a ``datetime``, ``Decimal`` or ``UUID`` as a
  string and ``{1: "a"}`` as ``{"1": "a"}`` (JSON). :func:`restore` converts
  each argument back into the type its parameter declares (msgspec's
  ``convert``, lax about strings where the codec wrote strings), so
  ``def f(when: datetime, tags: set[str])`` gets a ``datetime`` and a
  ``set``. A parameter with no annotation (or ``Any``) cannot be restored,
  so :func:`check` refuses values that would not survive the trip for it and
  says how to fix the call (annotate the parameter, or pass a plain value).

What a function needs is worked out once per function and cached, so the
common call (a few annotated scalars) costs one tuple length check and a
set lookup or two.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import inspect
import typing
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final

import msgspec

from alligator.exceptions import InvalidTaskError

__all__ = ["check", "is_coroutine", "restore", "returns"]

#: Annotations whose values the codecs carry exactly: nothing to convert.
_EXACT: Final = frozenset({int, str, bool, float, type(None), Any, object, inspect.Parameter.empty})
#: Values a codec carries as they are.
_PLAIN: Final = frozenset({int, str, bool, float, type(None)})
#: Values that come back as another type unless the parameter's annotation restores them.
_CHANGED: Final = (
    set, frozenset, bytes, bytearray, dt.datetime, dt.date, dt.time, dt.timedelta,
    decimal.Decimal, uuid.UUID,
)  # fmt: skip


class _Plan:
    """How to check and restore the arguments of one function."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.name = getattr(func, "__qualname__", repr(func))
        self.coroutine = inspect.iscoroutinefunction(func)
        try:
            self.signature: inspect.Signature | None = inspect.signature(func)
        except (TypeError, ValueError):  # a builtin without a signature: nothing to check
            self.signature = None
            params: list[inspect.Parameter] = []
        else:
            params = list(self.signature.parameters.values())
        try:
            hints = typing.get_type_hints(func)
        except Exception:  # unresolvable string annotations: restore nothing
            hints = {}
        kinds = {p.kind for p in params}
        self.simple = not kinds & {
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        }
        self.positional = tuple(
            p.name for p in params if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        )
        self.names = frozenset(p.name for p in params)
        # The common call, positional arguments only, checks by count alone:
        # defaults trail, so the first ``min_args`` are the required ones
        # (unless a keyword-only parameter is required too: an empty range
        # sends every call to the full check).
        self.max_args = len(self.positional)
        self.required = frozenset(
            p.name
            for p in params
            if p.default is inspect.Parameter.empty
            and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        )
        required_keyword = self.required - set(self.positional)
        self.min_args = self.max_args + 1 if required_keyword else len(self.required)
        #: Parameters whose values are converted back into their declared type.
        self.types: dict[str, Any] = {}
        #: Parameters with no usable annotation: their values must travel unchanged.
        self.untyped: set[str] = set()
        for p in params:
            hint = hints.get(p.name, p.annotation)
            if hint in _EXACT:
                if hint in (Any, object, inspect.Parameter.empty):
                    self.untyped.add(p.name)
                continue
            if _decodable(hint):
                self.types[p.name] = hint
            else:
                self.untyped.add(p.name)
        self.params = params
        ret = hints.get("return", Any)
        #: The declared return type, when a stored result must be converted into it.
        self.returns: Any = None if ret in _EXACT or not _decodable(ret) else ret

    def bound(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """Each parameter's value (a ``*args`` one gets a tuple, a ``**kwargs`` one a dict)."""
        if self.simple:
            values = dict(zip(self.positional, args, strict=False))
            values.update(kwargs)
            return values
        assert self.signature is not None
        return dict(self.signature.bind(*args, **kwargs).arguments)


@functools.lru_cache(maxsize=2048)
def _plan(func: Callable[..., Any]) -> _Plan:
    return _Plan(func)


def _plan_for(func: Callable[..., Any]) -> _Plan:
    try:
        return _plan(func)
    except TypeError:  # unhashable callable
        return _Plan(func)


@functools.lru_cache(maxsize=512)
def _decodable(hint: Any) -> bool:
    """Whether msgspec can convert a decoded value into ``hint``."""
    try:
        msgspec.json.Decoder(hint)
    except (TypeError, ValueError):
        return False
    return True


def check(func: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Refuse, at enqueue, a call the worker could not make or whose values would change.

    Raises:
        InvalidTaskError: the arguments do not bind to ``func``'s signature,
            or a parameter without an annotation gets a value that would
            arrive as another type.
    """
    plan = _plan_for(func)
    if plan.signature is None:
        return
    if plan.simple:
        if kwargs or not plan.min_args <= len(args) <= plan.max_args:
            _check_simple(plan, args, kwargs)
    else:
        try:
            plan.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidTaskError(f"{plan.name}(): {exc}; a worker could not call it") from exc
    if plan.untyped:
        for name, value in plan.bound(args, kwargs).items():
            if name in plan.untyped:
                _check_plain(plan.name, name, value)


def is_coroutine(func: Callable[..., Any]) -> bool:
    """Whether ``func`` is an ``async def`` function (its call must be awaited); cached."""
    return _plan_for(func).coroutine


def _check_simple(plan: _Plan, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    if len(args) > len(plan.positional):
        raise InvalidTaskError(
            f"{plan.name}() takes {len(plan.positional)} positional arguments but "
            f"{len(args)} were given; a worker could not call it"
        )
    filled = set(plan.positional[: len(args)])
    for key in kwargs:
        if key not in plan.names:
            raise InvalidTaskError(
                f"{plan.name}() got an unexpected keyword argument {key!r}; "
                "a worker could not call it"
            )
        if key in filled:
            raise InvalidTaskError(
                f"{plan.name}() got multiple values for argument {key!r}; "
                "a worker could not call it"
            )
    missing = plan.required.difference(filled, kwargs)
    if missing:
        names = ", ".join(repr(n) for n in sorted(missing))
        raise InvalidTaskError(
            f"{plan.name}() missing required argument(s) {names}; a worker could not call it"
        )


def _check_plain(func: str, param: str, value: Any) -> None:
    """Refuse a value that a codec would hand to the worker as another type."""
    todo = [value]
    while todo:
        item = todo.pop()
        kind = type(item)
        if kind in _PLAIN:
            continue
        if isinstance(item, list | tuple):
            todo.extend(item)
        elif isinstance(item, dict):
            for key in item:
                if not isinstance(key, str):
                    raise InvalidTaskError(
                        f"{func}(): argument {param!r} has a dict key {key!r} that is not a "
                        "str; it would arrive as a str. Annotate the parameter (e.g. "
                        f"'{param}: dict[int, str]') so the worker restores it"
                    )
            todo.extend(item.values())
        elif isinstance(item, _CHANGED):
            raise InvalidTaskError(
                f"{func}(): argument {param!r} holds a {kind.__name__}, which would arrive as "
                f"another type; annotate the parameter (e.g. '{param}: "
                f"{_example(kind)}') so the worker restores it"
            )


def _example(kind: type) -> str:
    if kind in (set, frozenset):
        return f"{kind.__name__}[str]"
    return (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )


def restore(
    func: Callable[..., Any], args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Decoded arguments converted back into the types ``func``'s parameters declare.

    Raises:
        msgspec.ValidationError: a value cannot be converted (the payload
            does not match the function: the task is buried as undecodable).
    """
    plan = _plan_for(func)
    if not plan.types:
        return tuple(args), kwargs
    if plan.simple:
        out = list(args)
        for index, name in enumerate(plan.positional[: len(out)]):
            hint = plan.types.get(name)
            if hint is not None:
                out[index] = msgspec.convert(out[index], hint, strict=False)
        if kwargs:
            kwargs = {
                key: value
                if key not in plan.types
                else msgspec.convert(value, plan.types[key], strict=False)
                for key, value in kwargs.items()
            }
        return tuple(out), kwargs
    return _restore_bound(plan, args, kwargs)


def _restore_bound(
    plan: _Plan, args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    assert plan.signature is not None
    bound = plan.signature.bind(*args, **kwargs)
    for param in plan.params:
        hint = plan.types.get(param.name)
        if hint is None or param.name not in bound.arguments:
            continue
        value = bound.arguments[param.name]
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            bound.arguments[param.name] = tuple(
                msgspec.convert(v, hint, strict=False) for v in value
            )
        elif param.kind is inspect.Parameter.VAR_KEYWORD:
            bound.arguments[param.name] = {
                k: msgspec.convert(v, hint, strict=False) for k, v in value.items()
            }
        else:
            bound.arguments[param.name] = msgspec.convert(value, hint, strict=False)
    return bound.args, bound.kwargs


def returns(func: Callable[..., Any], value: Any) -> Any:
    """A stored result converted back into the type ``func`` declares it returns.

    A ``def f() -> datetime`` task's result comes out of the store as text;
    ``wait()`` gives the ``datetime``. A value that does not fit is returned
    as stored.
    """
    hint = _plan_for(func).returns
    if hint is None:
        return value
    try:
        return msgspec.convert(value, hint, strict=False)
    except msgspec.ValidationError:
        return value
