"""What the results rules expect of a :class:`~alligator.protocols.ResultClient`.

Kept apart from the rules (:mod:`alligator.testing.results_machine`) so
that what they do to the client and what the reference holds true can be
read, and changed, on their own. Beside the queue model it keeps:

* **outcomes**, by queue and task id: the bytes stored and whether they
  said success (``complete``), failure (``fail``, ``cancel``, a dependent
  buried) or nothing (``store_result`` apart from a settlement keeps what a
  settlement said). A dependent buried by a failure has no outcome to read
  until its caller stores one (``None`` here), but counts as failed;
* **blocked** tasks, each with its own due time and the dependencies it
  still waits on. They are outside the queue model (not counted by ``len``
  or ``stats``, never reserved) until their last dependency completes.

Two orders are left open and checked as such: the tasks one completion
releases may be reserved in any order among themselves, and the dependents
one failure or cancel buries may be listed in any order among themselves
(the model gives each group one sequence number).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from alligator.records import PushItem, TaskState
from alligator.testing.draws import ID_NAMES

if TYPE_CHECKING:
    from alligator.testing.model import ModelTask, QueueModel

__all__ = ["UNKNOWN", "Blocked", "Outcome", "ResultBook"]

#: An id no rule ever pushes: a dependency on it is refused.
UNKNOWN = "never-pushed"

#: Bytes stored (``None``: none yet to read) and success, failure or unsaid.
Outcome: TypeAlias = tuple[bytes | None, bool | None]


@dataclass
class Blocked:
    """A task waiting on dependencies, as the model knows it."""

    data: bytes
    due: float
    pending: set[str]


class ResultBook:
    """Outcomes and blocked tasks, and how a settlement changes them."""

    # Provided by the machine this is mixed into.
    model: QueueModel

    def __init__(self) -> None:
        super().__init__()
        self.outcomes: dict[tuple[str, str], Outcome] = {}
        self.blocked: dict[str, dict[str, Blocked]] = {}

    def dropped(self, queue: str) -> None:
        """``drop_all`` removed the queue's blocked tasks too (outcomes stay)."""
        self.blocked.pop(queue, None)

    def _known(self, queue: str) -> list[str]:
        """The ids ``queue`` holds a task, a blocked task or an outcome of, sorted."""
        ids = set(self.model.tasks(queue)) | set(self.blocked.get(queue, {}))
        ids |= {task_id for (q, task_id) in self.outcomes if q == queue}
        return sorted(ids)

    def _pick_known(self, queue: str, pick: int) -> str:
        """An id to look up: a known one, one of the plain ids (maybe gone), or none ever pushed."""
        known = [*sorted(set(self._known(queue)) | set(ID_NAMES)), UNKNOWN]
        return known[pick % len(known)]

    def _plans(
        self, queue: str, batch: list[PushItem], depends_on: list[list[str]]
    ) -> list[tuple[set[str], str | None]] | None:
        """Per item, the dependencies it waits on and the first failed; ``None``: one unknown."""
        tasks = self.model.tasks(queue)
        blocked = self.blocked.get(queue, {})
        plans: list[tuple[set[str], str | None]] = []
        # An earlier item of the call: whether it is buried at once (a failed
        # dependency of its own), which fails its dependents here too.
        earlier: dict[str, bool] = {}
        for item, parents in zip(batch, depends_on, strict=True):
            pending: set[str] = set()
            failed: str | None = None
            for parent in dict.fromkeys(parents):
                task = tasks.get(parent)
                outcome = self.outcomes.get((queue, parent))
                if earlier.get(parent) is True:
                    failed = failed or parent
                elif parent in earlier or parent in blocked or (task and not task.buried):
                    pending.add(parent)
                elif task is not None or (outcome is not None and outcome[1] is False):
                    failed = failed or parent
                elif outcome is None:
                    return None
            earlier[item.task_id] = failed is not None
            plans.append((pending, failed))
        return plans

    def _succeeded(
        self, queue: str, task_id: str, data: bytes, now: float, group: list[int] | None
    ) -> None:
        """Record a success and release the blocked tasks it was the last dependency of."""
        self.outcomes[(queue, task_id)] = (data, True)
        group = [] if group is None else group
        blocked = self.blocked.get(queue, {})
        for child, waiting in list(blocked.items()):
            waiting.pending.discard(task_id)
            if waiting.pending:
                continue
            del blocked[child]
            self.model.push(queue, child, waiting.data, max(waiting.due, now))
            released = self.model.tasks(queue)[child]
            if group:
                released.seq = group[0]  # released together: in any order among themselves
            else:
                group.append(released.seq)

    def _buried(self, queue: str, task_id: str, data: bytes, reason: str, now: float) -> ModelTask:
        self.model.push(queue, task_id, data, now)
        task = self.model.tasks(queue)[task_id]
        self.model.bury(task, reason)
        task.deadline = now
        return task

    def _bury_dependents(self, queue: str, task_id: str, reason: str, now: float) -> list[str]:
        """Bury what waits on ``task_id``, directly or not, as one group; their ids."""
        blocked = self.blocked.get(queue, {})
        buried: list[str] = []
        bury_seq: int | None = None
        todo = [task_id]
        while todo:
            parent = todo.pop()
            for child in [c for c, waiting in blocked.items() if parent in waiting.pending]:
                task = self._buried(queue, child, blocked.pop(child).data, reason, now)
                if bury_seq is None:
                    bury_seq = task.bury_seq
                task.bury_seq = bury_seq  # buried together: listed in any order among themselves
                self.outcomes[(queue, child)] = (None, False)
                buried.append(child)
                todo.append(child)
        return buried

    def _state(self, queue: str, task_id: str, now: float) -> TaskState | None:
        if task_id in self.blocked.get(queue, {}):
            return TaskState("blocked")
        task = self.model.tasks(queue).get(task_id)
        if task is None:
            return None
        if task.buried:
            return TaskState("buried", task.attempts)
        if task.held(now):
            return TaskState("reserved", task.attempts)
        due = task.expired(now) or (task.token is None and task.due <= now)
        return TaskState("ready" if due else "delayed", task.attempts)
