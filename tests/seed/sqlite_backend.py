"""The "Custom Backend Clients" example: a naive 1.0-style SQLite client.

Only the 1.0 methods (len, drop_all, push without ``delay_until``, pop, get).
Fixed from the seed, minimally: autocommit (the seed never committed, so no
other connection saw a push), ``pop``/``get`` return ``None`` when there is
nothing instead of failing on ``None[1]``, ``pop`` takes the oldest row, and
the queue name is quoted as an identifier instead of pasted between backticks.
The table is not created here, as in the seed: the caller creates it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence


def quote_identifier(name: str) -> str:
    """``name`` as an SQL identifier, whatever characters it holds."""
    return '"{}"'.format(name.replace('"', '""'))


class Client:
    def __init__(self, conn_string: str) -> None:
        # This is actually the filepath to the DB file.
        self.conn_string = conn_string
        # Kill the 'sqlite://' portion.
        path = self.conn_string.split("://", 1)[1]
        self.conn = sqlite3.connect(path, isolation_level=None)

    def _run_query(self, query: str, args: Sequence[object]) -> sqlite3.Cursor:
        cur = self.conn.cursor()

        if not args:
            cur.execute(query)
        else:
            cur.execute(query, args)

        return cur

    def len(self, queue_name: str) -> int:
        query = f"SELECT COUNT(task_id) FROM {quote_identifier(queue_name)}"
        cur = self._run_query(query, [])
        res = cur.fetchone()
        return int(res[0])

    def drop_all(self, queue_name: str) -> None:
        query = f"DELETE FROM {quote_identifier(queue_name)}"
        self._run_query(query, [])

    def push(self, queue_name: str, task_id: str, data: bytes) -> str:
        query = f"INSERT INTO {quote_identifier(queue_name)} (task_id, data) VALUES (?, ?)"
        self._run_query(query, [task_id, data])
        return task_id

    def pop(self, queue_name: str) -> bytes | None:
        query = f"SELECT task_id, data FROM {quote_identifier(queue_name)} ORDER BY rowid LIMIT 1"
        cur = self._run_query(query, [])
        res = cur.fetchone()
        if res is None:
            return None

        query = f"DELETE FROM {quote_identifier(queue_name)} WHERE task_id = ?"
        self._run_query(query, [res[0]])

        return bytes(res[1])

    def get(self, queue_name: str, task_id: str) -> bytes | None:
        query = f"SELECT task_id, data FROM {quote_identifier(queue_name)} WHERE task_id = ?"
        cur = self._run_query(query, [task_id])
        res = cur.fetchone()
        if res is None:
            return None

        query = f"DELETE FROM {quote_identifier(queue_name)} WHERE task_id = ?"
        self._run_query(query, [task_id])

        return bytes(res[1])
