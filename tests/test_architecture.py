"""The house rules, checked: imports form no circle, and a task's route never calls back up.

Data flows producer -> wire -> backend and backend -> consumer -> worker. A
module that hands a callback down so that a lower module calls back into it
is the smell these tests catch: every call made while a Worker claims, runs
and settles a task must go from a module to one it does not sit below.
"""

from __future__ import annotations

import ast
import importlib
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

import alligator
from alligator import Gator, Worker
from alligator.backends.locmem_backend import reset_stores
from alligator.retry import Backoff
from tests import tasks
from tests.fixtures import (  # noqa: F401 (the servers any_dsn asks for)
    any_dsn,
    shared_beanstalkd,
    shared_cluster,
    shared_postgres,
    shared_redis,
)

PACKAGE = Path(alligator.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(tree: ast.Module, name: str) -> set[str]:
    """Modules of the package imported at module level, outside ``if TYPE_CHECKING``."""
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for sub in ast.walk(node):
            if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef):
                continue  # a lazy import inside a function is not a load-time edge
            if isinstance(sub, ast.ImportFrom) and sub.module and sub.level == 0:
                found.add(sub.module)
                found.update(f"{sub.module}.{alias.name}" for alias in sub.names)
            elif isinstance(sub, ast.Import):
                found.update(alias.name for alias in sub.names)
    # Every import runs the package's __init__ first; it re-exports the API
    # and is not an edge of its own.
    return {m for m in found if m.startswith("alligator.") and m != name}


def import_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        imported = _runtime_imports(ast.parse(path.read_text()), name)
        graph[name] = {m for m in imported if m in modules}
    return graph


def closure(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module ``start`` imports, directly or not."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_the_runtime_import_graph_has_no_circle() -> None:
    graph = import_graph()
    circles = sorted(m for m in graph if m in closure(graph, m))
    assert circles == []


def test_the_conformance_kit_imports_no_backend() -> None:
    graph = import_graph()
    kit = [m for m in graph if m.startswith("alligator.testing")]
    reached = set().union(*(closure(graph, m) for m in kit))
    assert sorted(m for m in reached if m.startswith("alligator.backends.")) == []


class CallTrace:
    """Calls between modules of the package, as (caller module, callee module) pairs."""

    def __init__(self) -> None:
        self.edges: set[tuple[str, str]] = set()

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if event != "call" or frame.f_back is None:
            return
        callee = frame.f_globals.get("__name__", "")
        caller = frame.f_back.f_globals.get("__name__", "")
        if callee != caller and callee.startswith("alligator") and caller.startswith("alligator"):
            self.edges.add((caller, callee))

    def __enter__(self) -> CallTrace:
        sys.setprofile(self)
        threading.setprofile(self)  # the threads started meanwhile (claims, heartbeat)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.setprofile(None)
        threading.setprofile(None)


@pytest.fixture
def gator() -> Iterator[Gator]:
    made = Gator("locmem://architecture", queue_name="q", backoff=Backoff(base=0, jitter=0))
    yield made
    made.close()
    reset_stores("architecture")


@pytest.mark.parametrize("concurrency", [None, 4], ids=["one-by-one", "concurrent"])
@pytest.mark.parametrize("prefetch", [False, True])
def test_a_task_route_from_claim_to_settle_never_calls_back_up(
    gator: Gator, prefetch: bool, concurrency: int | None
) -> None:
    # Given a success, a failure with a retry left, a failure for good and junk
    gator.task(tasks.add, 1, 2)
    with gator.options(retries=1) as opts:
        opts.task(tasks.fail, "once")
    gator.broker.push("q", "junk", b"\x00junk")
    worker = Worker(
        gator, recycle_after=4, poll_timeout=0.05, prefetch=prefetch, concurrency=concurrency
    )
    # When a worker claims, runs and settles all of them (the retry included)
    with CallTrace() as trace:
        worker.run_forever()
    # Then it ran every delivery (one success) and left nothing behind
    assert (worker.deliveries, worker.tasks_complete) == (4, 1)
    assert gator.broker.stats("q").buried == 2
    # And no call went from a module into one that imports it
    graph = import_graph()
    upward = sorted(
        (caller, callee) for caller, callee in trace.edges if caller in closure(graph, callee)
    )
    assert upward == []
    # And the route went through the layers it should
    loop = "alligator.workers" if concurrency is None else "alligator.concurrency"
    # A concurrent worker claims on its claims thread, kept in a module of its own.
    claimer = loop if concurrency is None else "alligator._claims_thread"
    assert (claimer, "alligator.claiming") in trace.edges
    assert (loop, "alligator.consumer") in trace.edges
    if concurrency is not None:
        assert (loop, "alligator._claims_thread") in trace.edges
    assert ("alligator.delivery", "alligator.consumer") in trace.edges
    assert ("alligator.consumer", "alligator.payloads") in trace.edges


@pytest.mark.parametrize(
    "any_dsn", ["sqlite", "redis", "redis-cluster", "postgresql", "beanstalk"], indirect=True
)
@pytest.mark.parametrize("prefetch", [False, True])
def test_no_backend_calls_back_up_on_a_task_route(any_dsn: str, prefetch: bool) -> None:  # noqa: F811
    # Given a success, a failure with a retry left and junk, on a server backend
    with Gator(any_dsn, queue_name=f"arch{prefetch:d}", backoff=Backoff(base=0, jitter=0)) as made:
        made.task(tasks.add, 1, 2)
        with made.options(retries=1) as opts:
            opts.task(tasks.fail, "once")
        made.broker.push(made.queue_name, "junk", b"\x00junk")
        worker = Worker(made, recycle_after=4, poll_timeout=0.05, prefetch=prefetch)
        # When a worker claims, runs and settles them
        with CallTrace() as trace:
            worker.run_forever()
        assert worker.deliveries == 4
    # Then no call went from a module into one that imports it, backends included
    graph = import_graph()
    upward = sorted(
        (caller, callee) for caller, callee in trace.edges if caller in closure(graph, callee)
    )
    assert upward == []


def test_every_module_of_the_package_imports_on_its_own() -> None:
    graph = import_graph()
    for name in sorted(graph):
        if name.endswith("__main__"):
            continue  # runs the command line

        importlib.import_module(name)


def test_every_protocol_is_reexported_from_the_one_public_path() -> None:
    # Given the private modules the protocols live in
    package = importlib.import_module("alligator.protocols")
    private = [
        importlib.import_module(f"alligator.protocols.{p.stem}")
        for p in Path(package.__file__ or "").parent.glob("_*.py")
        if p.stem != "__init__"
    ]
    defined = {
        name: module.__name__
        for module in private
        for name, value in vars(module).items()
        if isinstance(value, type) and value.__module__ == module.__name__
    }
    # Then each module lists what it defines, and alligator.protocols
    # re-exports every one of them, the very same class
    assert private
    assert sorted(defined) == sorted(n for m in private for n in m.__all__)
    assert sorted(package.__all__) == sorted(defined)
    assert all(getattr(package, name).__module__ == home for name, home in defined.items())
