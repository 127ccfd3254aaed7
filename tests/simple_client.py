"""A minimal Alligator 1.0-style client, as a user would write one.

It offers only the five 1.0 methods (``push`` takes no ``delay_until``), to
prove the kit and the core accept a client that is not a ``ReliableClient``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["SimpleClient"]


class SimpleClient:
    """In-memory queues of ``task_id -> payload``, oldest first.

    Args:
        conn_string: Ignored; kept for the 1.0 constructor shape.
        clock: Accepted for the conformance kit; nothing here is timed.
    """

    def __init__(self, conn_string: str = "simple://", *, clock: Callable[[], float] | None = None):
        self.conn_string = conn_string
        self._queues: dict[str, dict[str, bytes]] = {}
        self._lock = threading.Lock()

    def len(self, queue_name: str) -> int:
        with self._lock:
            return len(self._queues.get(queue_name, {}))

    def drop_all(self, queue_name: str) -> None:
        with self._lock:
            self._queues.pop(queue_name, None)

    def push(self, queue_name: str, task_id: str, data: bytes) -> str:
        """Append a task; a namesake is replaced and moves to the back."""
        with self._lock:
            queue = self._queues.setdefault(queue_name, {})
            queue.pop(task_id, None)
            queue[task_id] = data
        return task_id

    def pop(self, queue_name: str) -> bytes | None:
        with self._lock:
            queue = self._queues.get(queue_name)
            if not queue:  # an empty dict: no task (an empty payload is still a task)
                return None
            task_id = next(iter(queue))
            return queue.pop(task_id)

    def get(self, queue_name: str, task_id: str) -> bytes | None:
        with self._lock:
            return self._queues.get(queue_name, {}).pop(task_id, None)
