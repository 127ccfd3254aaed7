"""Type variables shared by the typed API.

``R`` defaults to ``Any`` (PEP 696) so that ``Task()`` without hooks is a
``Task[Any]`` instead of an inference error. Python 3.11's ``typing.TypeVar``
has no ``default``; the checker reads the ``typing_extensions`` spelling while
the runtime uses the plain one, so ``typing_extensions`` is never imported
at runtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ParamSpec

if TYPE_CHECKING:
    from typing_extensions import TypeVar

    R = TypeVar("R", default=Any)
    R_co = TypeVar("R_co", covariant=True, default=Any)
else:
    from typing import TypeVar

    R = TypeVar("R")
    R_co = TypeVar("R_co", covariant=True)

P = ParamSpec("P")
T = TypeVar("T")

__all__ = ["P", "R", "R_co", "T"]
