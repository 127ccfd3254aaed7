"""The locmem "driver": DSN parsing and the registry of named in-process stores.

What a network driver's connection is to the other backends, a name is here:
every client of ``locmem://NAME`` in one process is handed the same
:class:`~alligator.backends._locmem_store.Store`, so a Gator and a Worker in
one process share their queues, and other names are isolated. The stores
live in this lock-guarded registry, never in class attributes, and
:func:`reset_stores` forgets them (between tests). There is no driver, so no
driver error to translate.
"""

from __future__ import annotations

import threading

from alligator.backends._locmem_store import Store
from alligator.exceptions import ConfigurationError

__all__ = ["parse_dsn", "reset_stores", "store"]

_STORES: dict[str, Store] = {}
_STORES_LOCK = threading.Lock()


def parse_dsn(conn_string: str) -> str:
    """The store name of a ``locmem://[name]`` DSN (``"default"`` when empty).

    Raises:
        ConfigurationError: Not a ``locmem://`` DSN.
    """
    scheme, sep, name = conn_string.partition("://")
    if scheme.lower() != "locmem" or not sep:
        raise ConfigurationError(f"not a locmem DSN (expected 'locmem://[name]'): {conn_string!r}")
    return name.rstrip("/") or "default"


def store(name: str) -> Store:
    """The store called ``name``, created empty on first use."""
    with _STORES_LOCK:
        found = _STORES.get(name)
        if found is None:
            found = _STORES[name] = Store()
        return found


def reset_stores(name: str | None = None) -> None:
    """Forget one named store, or all of them (for test isolation).

    Clients already holding a store keep using it; new clients get a fresh one.
    """
    with _STORES_LOCK:
        if name is None:
            _STORES.clear()
        else:
            _STORES.pop(name, None)
