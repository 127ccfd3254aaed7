"""LISTEN/NOTIFY wake-ups of the PostgreSQL backend: channel names and the listener thread.

Kept apart from the pool (:mod:`alligator.backends._postgresql_pool`) because the listening
connection is not pooled: it belongs to one thread per client that always
reads what arrives, so an idle worker waits on a condition variable and
issues no queries, and the server's notification queue is never held up by
a busy worker.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import select
import threading
from collections.abc import Sequence

import psycopg

from alligator.backends._postgresql_driver import ERRORS, Row, connect
from alligator.backends._postgresql_sql import quote_ident
from alligator.exceptions import BackendError, translated

__all__ = ["Listener", "channel_of"]

log = logging.getLogger("alligator.postgresql")


def channel_of(schema: str, queue_name: str) -> str:
    """The NOTIFY channel of a queue: a digest, so any queue name is a valid identifier."""
    digest = hashlib.blake2b(f"{schema}\x00{queue_name}".encode(), digest_size=10).hexdigest()
    return f"alligator_{digest}"


class Listener:
    """One thread LISTENing on one connection, waking waiters per channel.

    A waiter calls :meth:`listen` (which returns once the server has
    registered the channel), reads :meth:`generation`, tries its claim, and
    only then calls :meth:`wait` with that generation: a NOTIFY committed
    after the LISTEN bumps the generation, so no wake-up falls between the
    claim and the wait. The thread always reads what arrives, so a worker
    busy with a long task never holds up the server's notification queue.
    When the connection is lost every generation is bumped (waiters claim
    again), and the thread reconnects with a back-off and LISTENs again.
    """

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._reset()

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._generations: dict[str, int] = {}
        self._listening: set[str] = set()
        self._conn: psycopg.Connection[Row] | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._pid = os.getpid()
        # Serialises use of the connection between the thread and listen().
        self._io = threading.Lock()

    def generation(self, channel: str) -> int:
        """How many wake-ups (or losses) ``channel`` has seen."""
        with self._cond:
            return self._generations.get(channel, 0)

    def is_listening(self, channel: str) -> bool:
        """Whether ``channel`` is (or, after a lost connection, will again be) listened on."""
        return self._pid == os.getpid() and channel in self._listening

    def listen(self, channel: str) -> None:
        """LISTEN on ``channel`` (once); returns when the server has it."""
        if self._pid != os.getpid():  # a forked child: the parent's thread is not here
            self._reset()
        if channel in self._listening and self._conn is not None:
            return
        with self._io:
            conn = self._conn
            if conn is None or conn.closed:
                conn = self._conn = connect(self._conninfo)
            with translated(ERRORS, "PostgreSQL: LISTEN failed"):
                conn.execute(f"LISTEN {quote_ident(channel)}")
            self._listening.add(channel)
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._run, name="alligator-pg-listener", daemon=True
            )
            self._thread.start()

    def wait(self, channel: str, seen: int, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for ``channel``'s generation to pass ``seen``."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self._generations.get(channel, 0) != seen or self._stopped.is_set(), timeout
            )

    def close(self) -> None:
        """Stop the thread and close its connection."""
        self._stopped.set()
        with self._cond:
            self._cond.notify_all()
        conn, self._conn = self._conn, None
        if conn is not None and self._pid == os.getpid():
            with contextlib.suppress(Exception):
                conn.close()

    def _bump(self, channels: Sequence[str]) -> None:
        with self._cond:
            for channel in channels:
                self._generations[channel] = self._generations.get(channel, 0) + 1
            self._cond.notify_all()

    def _run(self) -> None:
        poller = None
        fd = -1
        backoff = 0.05
        while not self._stopped.is_set():
            conn = self._conn
            try:
                if conn is None or conn.closed:
                    conn = self._reconnect()
                    backoff = 0.05
                if conn.fileno() != fd:
                    fd = conn.fileno()
                    poller = select.poll()
                    poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
                assert poller is not None
                if not poller.poll(1000):
                    continue
                with self._io:
                    conn.pgconn.consume_input()
                    woken = []
                    while (note := conn.pgconn.notifies()) is not None:
                        woken.append(note.relname.decode())
                if woken:
                    self._bump(woken)
            except (psycopg.Error, OSError, ValueError, BackendError) as exc:
                if self._stopped.is_set():
                    return
                log.warning("alligator: LISTEN connection lost (%s); reconnecting", exc)
                with self._io:
                    if self._conn is not None:
                        with contextlib.suppress(Exception):
                            self._conn.close()
                    self._conn = None
                fd = -1
                self._bump(list(self._listening))  # waiters claim again: nothing is missed
                self._stopped.wait(backoff)
                backoff = min(backoff * 2, 2.0)

    def _reconnect(self) -> psycopg.Connection[Row]:
        with self._io:
            conn = connect(self._conninfo)
            with translated(ERRORS, "PostgreSQL: LISTEN failed"):
                for channel in sorted(self._listening):
                    conn.execute(f"LISTEN {quote_ident(channel)}")
            self._conn = conn
        # Wake-ups sent while the connection was down are lost: claim again.
        self._bump(list(self._listening))
        return conn
