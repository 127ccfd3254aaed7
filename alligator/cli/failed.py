"""``python -m alligator failed list|show|requeue|purge``: a queue's buried tasks.

The commands are thin wrappers over :class:`alligator.failed.FailedTasks`,
so the CLI and the Python API behave the same.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from alligator import codecs, signing
from alligator.capabilities import queue_lister_view
from alligator.cli.common import add_target_options, gator_from_args
from alligator.dsn import display_dsn
from alligator.exceptions import AlligatorError, ConfigurationError, TaskNotFoundError
from alligator.failed import FailedTasks
from alligator.gator import Gator
from alligator.records import BuriedTask

__all__ = ["register"]


#: Longest rendering of a buried task's call that ``failed show`` prints.
MAX_CALL = 2000


class _Intermixed(argparse.ArgumentParser):
    """Positionals and options in any order: ``show DSN --queue q ID`` works.

    Plain argparse binds the optional DSN and the task id in one go, at the
    first positional, so an id given after an option is refused.
    """

    _parsing = False

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if self._parsing:  # the intermixed parse calls back here, twice
            return super().parse_known_args(args, namespace)
        self._parsing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._parsing = False


def register(commands: Any) -> None:
    parser = commands.add_parser("failed", help="list, inspect, requeue and purge buried tasks")
    actions = parser.add_subparsers(dest="action", required=True, parser_class=_Intermixed)

    listing = actions.add_parser("list", help="one line per buried task")
    add_target_options(listing)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(handler=run_list)

    show = actions.add_parser("show", help="a buried task's reason and traceback")
    add_target_options(show)
    show.add_argument("task_id")
    show.set_defaults(handler=run_show)

    requeue = actions.add_parser("requeue", help="put buried tasks back with fresh retries")
    add_target_options(requeue)
    _add_selection(requeue)
    requeue.add_argument(
        "--retries",
        type=int,
        default=None,
        help="new retry budget (default: the budget the task was first given)",
    )
    requeue.set_defaults(handler=run_requeue)

    purge = actions.add_parser("purge", help="delete buried tasks for good")
    add_target_options(purge)
    _add_selection(purge)
    purge.set_defaults(handler=run_purge)


def _add_selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task_ids", nargs="*", metavar="TASK_ID")
    parser.add_argument("--all", action="store_true", help="every buried task of the queue")


def _selected(args: argparse.Namespace) -> list[str] | None:
    """The ids asked for, or ``None`` for ``--all``; exactly one of the two."""
    if args.all == bool(args.task_ids):
        raise ConfigurationError("give TASK_ID(s) or --all (one of the two)")
    return None if args.all else list(args.task_ids)


def _when(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="seconds")


def _last_line(task: BuriedTask) -> str:
    text = task.reason.strip()
    return text.splitlines()[-1] if text else ""


def run_list(args: argparse.Namespace) -> int:
    # Printed as the pages come (FailedTasks.walk): a queue with a million
    # buried tasks holds one page in memory, not the whole list.
    with gator_from_args(args, existing=True) as gator:
        listed = 0
        for task in gator.failed.walk():
            listed += 1
            if args.json:
                row = {
                    "task_id": task.task_id,
                    "buried_at": task.buried_at,
                    "bytes": len(task.data),
                    "reason": task.reason,
                }
                print(json.dumps(row))
            else:
                print(f"{task.task_id}  {_when(task.buried_at)}  {_last_line(task)}")
        if not listed and not args.json:
            print(_nothing_buried(gator, args.queue))
    return 0


def run_show(args: argparse.Namespace) -> int:
    with gator_from_args(args, existing=True) as gator:
        try:
            task = gator.failed.show(args.task_id)
        except TaskNotFoundError as exc:
            elsewhere = _buried_elsewhere(gator, args.queue, args.task_id)
            if elsewhere is None:
                raise
            raise TaskNotFoundError(f"{exc}; it is buried on queue {elsewhere!r}") from None
        call = _call(task.data)
    print(f"task:      {task.task_id}")
    print(f"queue:     {args.queue}")
    print(f"buried at: {_when(task.buried_at)}")
    print(f"call:      {call}")
    print(f"payload:   {len(task.data)} bytes")
    print(task.reason)
    return 0


def _nothing_buried(gator: Gator, queue: str) -> str:
    """What ``failed list`` says for a queue with no buried task, naming queues that have some."""
    text = f"no buried tasks on queue {queue!r} of {display_dsn(gator.conn_string)}"
    lister = queue_lister_view(gator.backend, gator.capabilities)
    if lister is None:
        return text
    counts = {name: gator.broker.stats(name).buried for name in lister.queues() if name != queue}
    others = [f"{name!r} ({count})" for name, count in counts.items() if count]
    if others:
        text += f"; queues with buried tasks: {', '.join(others)} (name one with --queue)"
    return text


def _buried_elsewhere(gator: Gator, queue: str, task_id: str) -> str | None:
    """The other queue where ``task_id`` is buried, if the backend can say."""
    lister = queue_lister_view(gator.backend, gator.capabilities)
    if lister is None:
        return None
    for name in lister.queues():
        if name != queue and any(
            t.task_id == task_id for t in FailedTasks(gator.consumer(name)).walk()
        ):
            return name
    return None


def _call(data: bytes) -> str:
    """The buried task's call as Python would write it, read without importing anything.

    Only shown, never run, so a signature is stripped unchecked: the worker
    checked it before burying, and ``failed requeue`` checks it again before
    signing the payload anew.
    """
    try:
        inner = signing.unwrap(data)
        envelope = codecs.sniff(inner).decode(inner)
    except AlligatorError as exc:
        return f"(cannot read the payload: {type(exc).__name__}: {exc})"
    arguments = [repr(arg) for arg in envelope.args]
    arguments += [f"{name}={value!r}" for name, value in envelope.kwargs.items()]
    text = f"{envelope.module}.{envelope.callable}({', '.join(arguments)})"
    return text if len(text) <= MAX_CALL else text[: MAX_CALL - 3] + "..."


def run_requeue(args: argparse.Namespace) -> int:
    ids = _selected(args)
    with gator_from_args(args, existing=True) as gator:
        failed = gator.failed
        if ids is None:
            ids = [task.task_id for task in failed.list()]
        for task_id in ids:
            new_id = failed.requeue(task_id, retries=args.retries)
            print(f"requeued {task_id}" + (f" as {new_id}" if new_id != task_id else ""))
    return 0


def run_purge(args: argparse.Namespace) -> int:
    ids = _selected(args)
    with gator_from_args(args, existing=True) as gator:
        failed = gator.failed
        if ids is None:
            count = failed.purge()
        else:
            missing = [task_id for task_id in ids if failed.purge(task_id) == 0]
            if missing:
                raise ConfigurationError(
                    f"no buried task {', '.join(map(repr, missing))} on queue {args.queue!r}"
                )
            count = len(ids)
    print(f"purged {count} buried task(s)")
    return 0
