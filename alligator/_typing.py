"""Type variables shared by the typed API.

``R`` defaults to ``Any`` (PEP 696) so that ``Task()`` without hooks is a
``Task[Any]`` instead of an inference error. Python 3.11's ``typing.TypeVar``
has no ``default``; the checker reads the ``typing_extensions`` spelling while
the runtime uses the plain one, so ``typing_extensions`` is never imported
at runtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ParamSpec


class Unpinned:
    """The result type of options no ``on_success`` hook pins: each task infers its own.

    ``gator.options(retries=3)`` is an ``Options[Unpinned]``, whose ``task``
    takes any function and returns a ``Task`` of that function's result type.
    """


if TYPE_CHECKING:
    from typing_extensions import TypeVar

    R = TypeVar("R", default=Any)
    R_co = TypeVar("R_co", covariant=True, default=Any)
    #: The result type of ``Options``: pinned by an ``on_success`` hook, else Unpinned.
    RO = TypeVar("RO", default=Unpinned)
else:
    from typing import TypeVar

    R = TypeVar("R")
    R_co = TypeVar("R_co", covariant=True)
    RO = TypeVar("RO")

P = ParamSpec("P")
T = TypeVar("T")

__all__ = ["RO", "P", "R", "R_co", "T", "Unpinned"]
