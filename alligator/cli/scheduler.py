"""``alligator scheduler DSN --schedule module:attribute``: enqueue a schedule's ticks.

Runs a :class:`~alligator.schedules.Scheduler` until SIGTERM/SIGINT. Any
number may run on a backend with push-if-absent (each tick is enqueued
once); on beanstalkd a second one for the same queue is refused. ``--list``
prints each entry with its next fire times and exits, touching no backend.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import logging
from typing import Any

from alligator.cli.common import add_target_options, gator_from_args, import_modules
from alligator.exceptions import BackendConnectionError, ConfigurationError
from alligator.gator import Gator
from alligator.schedules import Entry, Schedule, Scheduler

__all__ = ["add_schedule_option", "describe", "load_schedule", "register", "run"]


def add_schedule_option(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--schedule", metavar="MODULE:ATTRIBUTE", help=help)


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "scheduler",
        help="enqueue the ticks of a schedule (periodic tasks)",
        description="Enqueue each tick of a schedule's entries exactly once, however many "
        "schedulers run (one per queue on beanstalkd). SIGTERM/SIGINT stop it at once.",
    )
    add_target_options(parser, queue=False)
    parser.add_argument(
        "--schedule",
        required=True,
        metavar="MODULE:ATTRIBUTE",
        help="the alligator.schedules.Schedule to run, e.g. myapp.schedules:schedule",
    )
    parser.add_argument(
        "--list",
        action="store_true",
        help="print each entry with its next fire times, and exit (no backend is contacted)",
    )
    parser.add_argument(
        "--count",
        type=int,
        default=3,
        metavar="N",
        help="with --list: how many fire times per entry (default: 3)",
    )
    parser.add_argument(
        "-l",
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
    )
    parser.set_defaults(handler=run)


def load_schedule(reference: str) -> Schedule:
    """The :class:`Schedule` named ``module:attribute`` (the attribute may be dotted).

    Raises:
        ConfigurationError: A malformed reference, a module that does not
            import, or an attribute that is missing or not a Schedule.
    """
    module_name, sep, attribute = reference.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigurationError(
            f"--schedule {reference!r}: expected MODULE:ATTRIBUTE, e.g. myapp.schedules:schedule"
        )
    try:
        found: object = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(f"--schedule {reference!r}: cannot import it: {exc}") from exc
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise ConfigurationError(
                f"--schedule {reference!r}: {module_name} has no attribute {attribute!r}"
            ) from None
    if not isinstance(found, Schedule):
        raise ConfigurationError(
            f"--schedule {reference!r} is a {type(found).__name__}, not an "
            "alligator.schedules.Schedule"
        )
    return found


def _call(entry: Entry[Any]) -> str:
    parts = [repr(a) for a in entry.args] + [f"{k}={v!r}" for k, v in entry.kwargs.items()]
    return f"{entry.func.__module__}:{entry.func.__qualname__}({', '.join(parts)})"


def describe(schedule: Schedule, count: int, now: float | None = None) -> str:
    """Each entry, its call, and its next ``count`` fire times (local, then UTC)."""
    lines: list[str] = []
    for entry in schedule:
        queue = schedule.gator.queue_name if entry.queue is None else entry.queue
        lines.append(
            f"{entry.name}: {entry.trigger.describe()}, queue {queue!r}, "
            f"misfire {entry.misfire.policy}"
            + (f" (up to {entry.misfire.limit})" if entry.misfire.policy == "all" else "")
        )
        lines.append(f"  runs {_call(entry)}")
        for n, when in enumerate(entry.next_fire_times(count, after=now)):
            utc = when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            label = "next" if n == 0 else "    "
            lines.append(f"  {label} {when.isoformat(sep=' ')}  ({utc})")
    if not lines:
        lines.append("the schedule has no entries")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the schedule (``--list``) or run a scheduler until stopped."""
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.count < 1:
        raise ConfigurationError("--count must be >= 1")
    import_modules(args.imports)
    schedule = load_schedule(args.schedule)
    if args.list:
        print(describe(schedule, args.count))
        return 0
    gator = scheduler_gator(args, schedule)
    try:
        return Scheduler(schedule, gator=gator).run_forever()
    finally:
        gator.close()


def scheduler_gator(args: argparse.Namespace, schedule: Schedule) -> Gator:
    """The Gator a scheduler pushes through: the command line's DSN and keys.

    Raises:
        BackendConnectionError: The backend cannot be reached.
    """
    target = argparse.Namespace(**{**vars(args), "queue": schedule.gator.queue_name})
    gator = gator_from_args(target)
    try:
        gator.broker.len(gator.queue_name)
    except BackendConnectionError as exc:
        gator.close()
        raise BackendConnectionError(
            f"cannot reach the backend of the scheduler ({exc}); start it or fix the DSN"
        ) from exc
    return gator
