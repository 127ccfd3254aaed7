"""How Alligator's names map onto beanstalkd's: queues onto tubes, task ids onto jobs.

* A queue is a tube, checked before any command is sent (greenstalk's
  connection falls out of step after a ``BAD_FORMAT``), with room left for
  its companion tubes: ``<queue>.buried`` (bury reasons) and
  ``<queue>.sched`` (a scheduler's lock).
* A task id is the job id plus a random check that the job's body carries
  in a small header: a restarted beanstalkd without a binlog reuses job
  ids, and the check keeps an old id from reaching an unrelated new job.
"""

from __future__ import annotations

import re
from typing import Final

from alligator.exceptions import ConfigurationError

__all__ = [
    "BURIED_SUFFIX",
    "HEADER",
    "MAGIC",
    "SCHEDULE_SUFFIX",
    "format_task_id",
    "frame",
    "parse_job_id",
    "parse_task_id",
    "unframe",
    "validate_queue_name",
]

#: Suffix of the companion tube that holds bury records (see the backend docs).
BURIED_SUFFIX: Final = ".buried"
#: The tube of a queue's scheduler lock and state (see ``_beanstalk_schedule``).
SCHEDULE_SUFFIX: Final = ".sched"
MAX_TUBE_BYTES: Final = 200
#: A queue name leaves room for the companion tube's suffix.
MAX_QUEUE_BYTES: Final = MAX_TUBE_BYTES - len(BURIED_SUFFIX)

_TUBE_RE: Final = re.compile(r"[A-Za-z0-9+/;.$_()][A-Za-z0-9\-+/;.$_()]*")


def validate_queue_name(name: str) -> str:
    """Check that ``name`` can be a beanstalkd tube, with room for its companion.

    Called at Gator construction so a bad name fails there, not as a protocol
    error on the first push.

    Returns:
        The name, unchanged.

    Raises:
        ConfigurationError: the name is empty, too long, uses characters
            beanstalkd refuses, starts with ``-`` or ends with the reserved
            ``.buried`` suffix.
    """
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"beanstalkd queue name must be a non-empty str, got {name!r}")
    if not _TUBE_RE.fullmatch(name):
        hint = " (it may not start with '-')" if name.startswith("-") else ""
        raise ConfigurationError(
            f"queue name {name!r} cannot be a beanstalkd tube{hint}: use only ASCII "
            "letters, digits and - + / ; . $ _ ( )"
        )
    if len(name) > MAX_QUEUE_BYTES:
        raise ConfigurationError(
            f"queue name is {len(name)} bytes; beanstalkd tubes hold at most "
            f"{MAX_TUBE_BYTES} bytes and Alligator needs {len(BURIED_SUFFIX)} of them for "
            f"the companion tube of buried tasks, so the limit is {MAX_QUEUE_BYTES}"
        )
    if name.endswith(BURIED_SUFFIX):
        raise ConfigurationError(
            f"queue name {name!r} ends with {BURIED_SUFFIX!r}, which Alligator reserves for "
            "the companion tube that records why tasks were buried"
        )
    if name.endswith(SCHEDULE_SUFFIX):
        raise ConfigurationError(
            f"queue name {name!r} ends with {SCHEDULE_SUFFIX!r}, which Alligator reserves for "
            "the tube of a queue's scheduler lock"
        )
    return name


#: Starts the body of every job Alligator puts: then 4 bytes, the task's check.
MAGIC: Final = b"\xa7\x1cAG"
#: Bytes :func:`frame` puts before a payload.
HEADER: Final = len(MAGIC) + 4


def frame(data: bytes, check: int) -> bytes:
    """The job body for ``data``: a small header holding the task's check, then ``data``.

    A restarted beanstalkd without a binlog reuses job ids, so a job id alone
    cannot tell a task from an unrelated one put after the restart. The task
    id Alligator hands out is the job id *and* this check (see
    :func:`format_task_id`), and every operation by id compares them first.
    """
    return MAGIC + check.to_bytes(4, "big") + data


def unframe(body: bytes) -> tuple[int | None, bytes]:
    """The check and the payload of a job body; ``None`` for a body put by other tools."""
    if body[: len(MAGIC)] == MAGIC and len(body) >= HEADER:
        return int.from_bytes(body[len(MAGIC) : HEADER], "big"), body[HEADER:]
    return None, body


def format_task_id(job_id: int, check: int | None) -> str:
    """Alligator's id of a job: ``<job id>-<check in hex>``, or the job id alone."""
    return str(job_id) if check is None else f"{job_id}-{check:08x}"


def parse_task_id(task_id: str) -> tuple[int, int | None] | None:
    """The job id and check of an id :func:`format_task_id` made; ``None`` if it is not one."""
    if not isinstance(task_id, str) or not task_id.isascii():
        return None
    number, dash, check = task_id.partition("-")
    if not number.isdigit() or not 0 < int(number) <= 2**64 - 1:
        return None
    if not dash:
        return int(number), None
    if len(check) != 8 or any(c not in "0123456789abcdef" for c in check):
        return None
    return int(number), int(check, 16)


def parse_job_id(task_id: str) -> int | None:
    """The beanstalkd job id of Alligator's string id; ``None`` if it cannot be one."""
    found = parse_task_id(task_id)
    return None if found is None else found[0]
