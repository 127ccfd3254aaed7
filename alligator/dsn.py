"""DSNs as people read them: in log lines and messages.

Both entry points log which backend a worker uses and the commands name it
in their messages; a DSN may hold a password, and a relative SQLite path
hides which file is meant. :func:`display_dsn` answers both.
"""

from __future__ import annotations

import re
from typing import Final

from alligator.backends._sqlite_driver import parse_dsn as parse_sqlite_dsn
from alligator.exceptions import ConfigurationError

__all__ = ["display_dsn"]

#: A password in the authority (``user:secret@``) or in the query (``?password=``).
_SECRETS: Final = (
    (re.compile(r"(://[^:/@]*:)[^@/]*@"), r"\1***@"),
    (re.compile(r"([?&]password=)[^&]*", re.IGNORECASE), r"\1***"),
)


def display_dsn(conn_string: str) -> str:
    """A DSN as log lines and messages show it: passwords masked, a SQLite file absolute.

    ``sqlite://queue.db`` becomes ``sqlite:///srv/app/queue.db`` (relative to
    the working directory, as the backend opens it), so a worker and a
    producer that open different files are easy to tell apart. Never raises.
    """
    shown = conn_string
    for pattern, mask in _SECRETS:
        shown = pattern.sub(mask, shown)
    if shown[:9].lower() == "sqlite://":
        try:
            return "sqlite://" + parse_sqlite_dsn(conn_string)
        except ConfigurationError:
            return shown
    return shown
