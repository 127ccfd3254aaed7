"""Finding callables by name, and refusing those a worker could never find.

The 1.0 names ``determine_module``, ``determine_name`` and ``import_attr``
are kept.
"""

from __future__ import annotations

import binascii
import contextlib
import functools
import importlib
import inspect
import os
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any, Final

from alligator.exceptions import (
    DisallowedModuleError,
    NotImportableError,
    UnknownCallableError,
    UnknownModuleError,
)


def determine_module(func: Callable[..., Any]) -> str:
    """The module a worker imports to find ``func``."""
    module = getattr(func, "__module__", None)
    if not isinstance(module, str):
        raise NotImportableError(f"{func!r} has no __module__; a worker could not import it")
    return module


def determine_name(func: Callable[..., Any]) -> str:
    """The name of ``func``, as Alligator 1.0 gave it: its ``__name__``.

    For a bound method of a module-level instance (``random.choice``) that
    is the attribute name the module exposes it under. A callable object
    without ``__name__`` gives its class's name, as in 1.0.
    """
    name = getattr(func, "__name__", None)
    if isinstance(name, str):
        return name
    cls = getattr(func, "__class__", None)
    if cls is not None and isinstance(cls.__name__, str):
        return cls.__name__
    raise NotImportableError(f"{func!r} has no name; a worker could not import it")


#: Length of a generated task id: 16 characters carry 96 random bits.
TASK_ID_LENGTH: Final = 16
_ID_BYTES: Final = 12  # a multiple of 3, so base64 needs no padding
_IDS_PER_DRAW: Final = 256
# Standard base64 with "+/" swapped for "_." : only characters that need no
# quoting in a URL path, a shell word or a Redis key, and never a leading "-"
# that a command line would read as an option.
_ID_ALPHABET: Final = bytes.maketrans(b"+/", b"_.")
_ids: Iterator[str] = iter(())


def _draw_ids() -> Iterator[str]:
    text = (
        binascii.b2a_base64(os.urandom(_ID_BYTES * _IDS_PER_DRAW), newline=False)
        .translate(_ID_ALPHABET)
        .decode("ascii")
    )
    return iter([text[i : i + TASK_ID_LENGTH] for i in range(0, len(text), TASK_ID_LENGTH)])


def new_task_id() -> str:
    """A fresh random task id: 16 URL- and shell-safe characters, 96 random bits.

    One ``os.urandom`` call serves 256 ids: the syscall, not the encoding, is
    what a per-id ``uuid4().hex`` (2 us) or ``os.urandom(16).hex()`` (0.5 us)
    spends its time on, and enqueueing pays it per task. The ids are as
    unpredictable as ``uuid4``'s (the same kernel source) and a third shorter,
    which Redis stores twice per queued task. Thread-safe under the GIL: a
    list iterator hands each id out once, and a refill race only discards a
    few unused ids. A forked child starts a fresh draw (``register_at_fork``),
    so parent and child never share ids.
    """
    global _ids
    try:
        return next(_ids)
    except StopIteration:
        _ids = _draw_ids()
        return next(_ids)


def _forget_ids() -> None:
    global _ids
    _ids = iter(())


os.register_at_fork(after_in_child=_forget_ids)


@functools.lru_cache(maxsize=2048)
def _import_attr(module_name: str, attr_name: str) -> Any:
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UnknownModuleError(f"cannot import module {module_name!r}: {exc}") from exc
    obj: Any = module
    for part in attr_name.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UnknownCallableError(
                f"module {module_name!r} has no attribute {attr_name!r}"
            ) from None
    return obj


def import_attr(module_name: str, attr_name: str) -> Any:
    """Import ``module_name`` and follow the dotted ``attr_name`` inside it.

    Results are cached: a worker imports each task function once.

    Raises:
        UnknownModuleError: the module cannot be imported.
        UnknownCallableError: the attribute path does not exist.
    """
    return _import_attr(module_name, attr_name)


def _dotted(name: object) -> bool:
    return isinstance(name, str) and all(part.isidentifier() for part in name.split("."))


#: Whether callables of ``__main__`` may be enqueued: only where this very
#: process runs them (``locmem://``, ``is_async=False``); see :func:`main_allowed`.
_MAIN_OK: ContextVar[bool] = ContextVar("alligator_main_ok", default=False)


@contextlib.contextmanager
def main_allowed(allowed: bool = True) -> Iterator[None]:
    """Let :func:`callable_path` accept callables of ``__main__`` inside the block.

    A worker in another process runs a different ``__main__``, so such a
    task could never run there; where this process is the consumer (an
    in-process backend, or a task run eagerly) the name resolves to the
    same function. Thread- and task-local (a :class:`~contextvars.ContextVar`).
    """
    token = _MAIN_OK.set(allowed)
    try:
        yield
    finally:
        _MAIN_OK.reset(token)


def _dunder_segment(module_name: str) -> str | None:
    """The first ``__x__`` part of a dotted module name, if it has one."""
    for part in module_name.split("."):
        if part.startswith("__") and part.endswith("__"):
            return part
    return None


def _refuse_dunder_module(module_name: str) -> None:
    if module_name == "__main__" and _MAIN_OK.get():
        return  # this process's own script, already imported: see main_allowed
    segment = _dunder_segment(module_name)
    if segment is not None:
        raise DisallowedModuleError(
            f"module {module_name!r} has the dunder segment {segment!r}: a worker never "
            "imports __main__, __init__ or any other __x__ module (a package's __main__ "
            "runs its command line, its __init__ runs the package again under a second "
            "name)"
        )


#: Callables already resolved and checked, by (module, attribute path, allow-list):
#: every payload of a task names the same few, and the checks and the import
#: give the same answer each time (``__main__``, whose acceptance depends on
#: :func:`main_allowed`, is never kept). Bounded: names from junk payloads
#: fail the checks and are never kept either.
_RESOLVED: dict[tuple[str, str, tuple[str, ...] | None], Callable[..., Any]] = {}
_RESOLVED_MAX: Final = 4096


def import_callable(
    module_name: str, attr_name: str, allowed_modules: Iterable[str] | None = None
) -> Callable[..., Any]:
    """Import a task or hook callable named by a payload, checking it first.

    Checked before anything is imported: both names are plain dotted
    identifiers (no relative imports, no empty names), the module path has no
    ``__x__`` segment (``app.__main__`` would run the application's command
    line, ``app.__init__`` its package code a second time; only an in-process
    consumer may name its own ``__main__``, see :func:`main_allowed`), the
    attribute path has no dunder step (``f.__globals__`` would reach
    anything), and the
    module is inside ``allowed_modules``. After the import, the callable
    must itself be defined inside the allow-list, so a name re-exported by an
    allowed module (``allowed.os.system``) is refused too.

    Raises:
        UnknownModuleError: a malformed or missing module.
        UnknownCallableError: a malformed, missing or non-callable attribute.
        DisallowedModuleError: a dunder module, or outside ``allowed_modules``.
    """
    allowed = None if allowed_modules is None else tuple(allowed_modules)
    key = (module_name, attr_name, allowed)
    cacheable = type(module_name) is str and type(attr_name) is str and module_name != "__main__"
    if cacheable and (found := _RESOLVED.get(key)) is not None:
        return found
    if not _dotted(module_name):
        raise UnknownModuleError(f"{module_name!r} is not a valid module name")
    _refuse_dunder_module(module_name)
    if not _dotted(attr_name):
        raise UnknownCallableError(f"{attr_name!r} is not a valid callable name")
    if any(part.startswith("__") for part in attr_name.split(".")):
        raise UnknownCallableError(
            f"{module_name}:{attr_name} goes through a dunder attribute; refused"
        )
    if allowed is not None and not module_allowed(module_name, allowed):
        raise DisallowedModuleError(f"module {module_name!r} is not in allowed_modules")
    obj = import_attr(module_name, attr_name)
    if not callable(obj):
        raise UnknownCallableError(f"{module_name}:{attr_name} is not callable")
    if allowed is not None:
        home = getattr(obj, "__module__", None)
        if not isinstance(home, str) or not module_allowed(home, allowed):
            raise DisallowedModuleError(
                f"{module_name}:{attr_name} is defined in {home!r}, which is not in "
                "allowed_modules (a name imported into an allowed module is not allowed)"
            )
    if cacheable and len(_RESOLVED) < _RESOLVED_MAX:
        _RESOLVED[key] = obj
    return obj  # type: ignore[no-any-return]


def module_allowed(module_name: str, allowed_modules: Iterable[str]) -> bool:
    """Whether ``module_name`` is one of ``allowed_modules`` or inside one of them."""
    return any(
        module_name == allowed or module_name.startswith(allowed + ".")
        for allowed in allowed_modules
    )


def callable_path(func: Callable[..., Any]) -> tuple[str, str]:
    """``(module, attribute path)`` of a callable a worker can import, checked now.

    Lambdas, nested functions, methods of instances a worker cannot reach,
    partials and (outside :func:`main_allowed`) anything defined in
    ``__main__`` are refused here, at enqueue time, with the reason, instead
    of failing later in a worker. A bound method the module exposes as an
    attribute (``random.choice``) is named by that attribute, as in 1.0.

    Raises:
        NotImportableError: a worker could not import ``func``.
    """
    try:
        module, name = _callable_path_cached(func)
    except TypeError:  # unhashable callable: check without the cache
        module, name = _callable_path(func)
    if module == "__main__" and not _MAIN_OK.get():
        raise NotImportableError(
            f"{name} is defined in __main__; a worker in another process runs a different "
            "__main__ and cannot import it. Move it into an importable module (tasks "
            "defined in __main__ work only with locmem:// or is_async=False)."
        )
    return module, name


def _refuse_coroutine(coroutine: Any) -> None:
    name = getattr(coroutine, "__qualname__", "f")
    coroutine.close()  # never awaited, and never will be: no "was never awaited" warning
    raise NotImportableError(
        f"got a coroutine object, {name}(...), instead of a function: pass the 'async def' "
        f"function and its arguments, gator.task({name}, ...), not gator.task({name}(...))"
    )


@functools.lru_cache(maxsize=1024)
def _callable_path_cached(func: Callable[..., Any]) -> tuple[str, str]:
    return _callable_path(func)


def _callable_path(func: Callable[..., Any]) -> tuple[str, str]:
    given: object = func  # typed as a callable, but a caller may pass anything
    if not callable(given):
        if inspect.iscoroutine(given):
            _refuse_coroutine(given)
        raise NotImportableError(f"{func!r} is not callable")
    module = determine_module(func)
    qualname = getattr(func, "__qualname__", None)
    name = qualname if isinstance(qualname, str) else determine_name(func)
    if "<lambda>" in name:
        raise NotImportableError(
            f"{module}.{name} is a lambda; a worker cannot import it. "
            "Define the task as a module-level function."
        )
    if "<locals>" in name:
        raise NotImportableError(
            f"{module}.{name} is defined inside another function; a worker cannot "
            "import it. Move it to module level."
        )
    segment = _dunder_segment(module)
    if segment is not None and module != "__main__":  # __main__: callable_path decides
        raise NotImportableError(
            f"{module}.{name} is defined in a {segment} module, which a worker refuses to "
            "import. Move it into a module without a __x__ name."
        )
    candidates = [name]
    if inspect.ismethod(func) and determine_name(func) != name:
        candidates.append(determine_name(func))  # random.choice: "choice", not "Random.choice"
    error: Exception | None = None
    for candidate in candidates:
        try:
            found = import_attr(module, candidate)
        except (UnknownModuleError, UnknownCallableError) as exc:
            error = exc
            continue
        if found is func or found == func:
            return module, candidate
    if error is not None and len(candidates) == 1:
        raise NotImportableError(
            f"{module}:{name} cannot be imported by a worker: {error}"
        ) from error
    raise NotImportableError(
        f"{module}:{name} does not resolve to {func!r} (a method of an instance the module "
        "does not expose, or a decorator that hides the function?); enqueue a module-level "
        "function."
    )


def hook_path(hook: Callable[..., Any] | None) -> str | None:
    """A hook as the ``"module:qualname"`` reference stored in the envelope."""
    if hook is None:
        return None
    module, name = callable_path(hook)
    return f"{module}:{name}"
