"""Backends, found by the DSN's scheme.

Built-in schemes map to ``alligator.backends.<name>_backend.Client`` and are
imported only when used, so ``import alligator`` never imports a driver.
Third-party packages add schemes through the ``alligator.backends``
entry-point group (``myscheme = "mypkg.backend:Client"``).

Every built-in backend has the same shape, and only the first module is public:

* ``<scheme>_backend.py``: the ``Client``, the protocol's operations and how
  the backend meets each guarantee (its module docstring says how).
* ``_<scheme>_driver.py``: DSN parsing, connection handling, and the
  translation of the driver's errors into :mod:`alligator.exceptions` with
  one :func:`~alligator.exceptions.translated` mapping (``ERRORS``), so no
  ``redis``, ``sqlite3``, ``greenstalk`` or socket exception reaches a user
  (locmem has no driver: its "connection" is a named in-process store).
* an optional private data module: what the operations work on
  (``_sqlite_sql``, ``_postgresql_sql``, ``_locmem_store``, ``_beanstalk_records``, and
  ``_redis_scripts``, the key layout and the loader of ``redis_lua/*.lua``).
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any, Final, NamedTuple

from alligator.exceptions import MissingDriverError, UnknownBackendError

__all__ = ["BUILTIN_SCHEMES", "backend_class_for", "scheme_of"]


class _Builtin(NamedTuple):
    module: str
    driver: str | None
    extra: str | None


BUILTIN_SCHEMES: Final[dict[str, _Builtin]] = {
    "locmem": _Builtin("alligator.backends.locmem_backend", None, None),
    "sqlite": _Builtin("alligator.backends.sqlite_backend", None, None),
    "redis": _Builtin("alligator.backends.redis_backend", "redis", "redis"),
    "rediss": _Builtin("alligator.backends.redis_backend", "redis", "redis"),
    "unix": _Builtin("alligator.backends.redis_backend", "redis", "redis"),
    "redis+cluster": _Builtin("alligator.backends.redis_backend", "redis", "redis"),
    "rediss+cluster": _Builtin("alligator.backends.redis_backend", "redis", "redis"),
    "beanstalk": _Builtin("alligator.backends.beanstalk_backend", "greenstalk", "beanstalk"),
    "postgresql": _Builtin("alligator.backends.postgresql_backend", "psycopg", "postgres"),
    "postgres": _Builtin("alligator.backends.postgresql_backend", "psycopg", "postgres"),
}

ENTRY_POINT_GROUP: Final = "alligator.backends"


def scheme_of(conn_string: str) -> str:
    """The scheme of a DSN, lower-cased (``"redis"`` for ``redis://...``)."""
    scheme, sep, _ = conn_string.partition("://")
    if not sep or not scheme:
        raise UnknownBackendError(
            f"{conn_string!r} is not a DSN: expected scheme://..., e.g. sqlite://alligator.db"
        )
    return scheme.lower()


def backend_class_for(conn_string: str) -> Any:
    """The ``Client`` class that handles ``conn_string``.

    Raises:
        UnknownBackendError: no built-in or installed backend has the scheme;
            the message lists the known schemes.
        MissingDriverError: the backend's optional driver is not installed;
            the message names the extra to install.
    """
    scheme = scheme_of(conn_string)
    builtin = BUILTIN_SCHEMES.get(scheme)
    if builtin is None:
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            if entry.name == scheme:
                return entry.load()
        known = sorted(
            set(BUILTIN_SCHEMES) | {e.name for e in entry_points(group=ENTRY_POINT_GROUP)}
        )
        raise UnknownBackendError(
            f"no backend for scheme {scheme!r}; known schemes: {', '.join(known)}. "
            f"Third-party backends register in the {ENTRY_POINT_GROUP!r} entry-point group."
        )
    try:
        module = importlib.import_module(builtin.module)
    except ModuleNotFoundError as exc:
        if builtin.driver is not None and exc.name == builtin.driver:
            raise MissingDriverError(
                f"the {scheme!r} backend needs the {builtin.driver!r} package: "
                f"pip install 'alligator[{builtin.extra}]'"
            ) from exc
        raise
    return module.Client
