"""The "Custom Backend Clients" example: a naive Alligator 1.0-style client on SQLite.

It implements only the five 1.0 methods, so Alligator drives it at-most-once
(a popped task is gone before it runs). The original Alligator documentation's
version pasted queue names into SQL and never committed; this one keeps every queue in one table and
binds names as parameters. Still single-connection and not for real loads:
use the built-in ``sqlite://`` backend for that.
"""

from __future__ import annotations

import sqlite3


class Client:
    def __init__(self, conn_string: str) -> None:
        # "sqlite://path.db" -> "path.db"
        path = conn_string.split("://", 1)[1].removeprefix("/")
        # Autocommit, so other connections see each push at once.
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS myapp_tasks ("
            " seq INTEGER PRIMARY KEY, queue TEXT NOT NULL,"
            " task_id TEXT NOT NULL, data BLOB NOT NULL)"
        )

    def len(self, queue_name: str) -> int:
        row = self.conn.execute(
            "SELECT COUNT(*) FROM myapp_tasks WHERE queue = ?", (queue_name,)
        ).fetchone()
        return int(row[0])

    def drop_all(self, queue_name: str) -> None:
        self.conn.execute("DELETE FROM myapp_tasks WHERE queue = ?", (queue_name,))

    def push(self, queue_name: str, task_id: str, data: bytes) -> str:
        self.conn.execute(
            "INSERT INTO myapp_tasks (queue, task_id, data) VALUES (?, ?, ?)",
            (queue_name, task_id, data),
        )
        return task_id

    def pop(self, queue_name: str) -> bytes | None:
        # One statement: select and delete cannot be split by another worker.
        row = self.conn.execute(
            "DELETE FROM myapp_tasks WHERE seq = (SELECT seq FROM myapp_tasks"
            " WHERE queue = ? ORDER BY seq LIMIT 1) RETURNING data",
            (queue_name,),
        ).fetchone()
        return None if row is None else bytes(row[0])

    def get(self, queue_name: str, task_id: str) -> bytes | None:
        row = self.conn.execute(
            "DELETE FROM myapp_tasks WHERE queue = ? AND task_id = ? RETURNING data",
            (queue_name, task_id),
        ).fetchone()
        return None if row is None else bytes(row[0])
