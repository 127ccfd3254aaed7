"""The Redis backend's key layout, and its Lua scripts loaded from ``redis_lua/``.

Every operation that touches more than one key is one Lua script, so it is
atomic on the server and costs one round trip. The scripts are Lua files
shipped as package data (so they can be read, linted and diffed as Lua) and
assembled here once, at import:

* ``redis_lua/<operation>.lua`` is one operation's body. Its first line names
  the fixed keys it declares, ``-- keys: ready, delayed, ...``, in the order
  the client passes them in ``KEYS`` (Redis Cluster requires every key a
  script touches to be declared); index buckets, when the call names ids,
  follow them. A second line ``-- resend: safe`` marks a script that may be
  sent again after its reply was lost (running it twice gives the same
  answer); any other script is never re-sent once it may have reached the
  server (see :class:`~alligator.exceptions.OutcomeUnknownError`).
* ``redis_lua/lib/<name>.lua`` defines one helper, ``local function <name>``.
  A script gets exactly the helpers its body calls, and the helpers those
  call, found by looking for ``<name>(`` in the code (whole-line ``--``
  comments are not code, and are left out of what is sent). Fewer helpers
  make every call cheaper: a script's chunk runs in full on each
  ``EVALSHA``, creating a closure per ``local function``. The helpers come
  in dependency order, each after the ones it calls.
* ``redis_lua/prelude.lua`` holds the constants every script starts with.

Before the prelude the loader writes one ``local`` per key name (``ready``,
``delayed``, ...; ``nil`` when the script does not declare that key, Lua
forbidding globals in scripts) and ``NK``, the number of fixed keys.

All keys of a script share the queue's hash tag, so each script runs on one
Cluster slot. The time of a call is the server's (``TIME`` inside the
script), so every worker judges leases and due times by one clock whatever
its own machine's clock says; a client built with an injected clock (tests)
sends its time as the first ``ARGV`` instead. Due times are absolute epoch
seconds, as producers give them.

Layout of one queue (``<tag>`` is ``{<namespace>:<queue>}``):

* ``<tag>:ready`` STREAM of due tasks, oldest first. Each entry *is* the task:
  one field, the task id, whose value is the payload; its stream id is
  Redis's own (``XADD *``). Nothing else is stored for a ready task that was
  never reserved but its index entry. Reserving reads the first entries
  (``XRANGE``) and deletes them (``XDEL``); finding a ready task by id reads
  the one entry its index entry names: O(log n), never a scan.
* ``<tag>:delayed`` ZSET of tasks not yet due, scored by due time; the member
  is a 12-hex-digit per-queue sequence number followed by the id, so equal due
  times come out in push order. Every script that appends to ``ready`` first
  moves the due members here to the back of ``ready`` in due order, so with
  a clock that does not run backwards ``ready`` stays in due-time order. A
  task pushed or released with a due time already past is appended as if due
  at that call (behind tasks due between the two times). One call moves at
  most 1,000 delayed tasks (and recovers at most 1,000 expired leases); in a
  larger burst the rest move on the next calls, so tasks pushed meanwhile can
  go ahead of them.
* ``<tag>:prio`` ZSET of due tasks whose priority is not 0 (see
  :mod:`alligator.priority`), scored by priority; the member is a sequence
  number and the id, as in ``delayed``, so equal priorities come out in the
  order they became due. Only a queue that uses priorities has it: tasks of
  priority 0 (every task pushed without one) stay in ``ready``. A reserve
  takes the negative scores first, then ``ready``, then the positive ones.
* ``<tag>:data`` HASH id -> sequence prefix + payload, for tasks that are
  delayed, leased or buried, or ready in ``prio`` (the prefix finds a
  delayed or prioritised task's member; it is twelve zeros for a leased or
  buried one).
* While a call settles or leases more than 64 tasks, ``data`` and ``meta``
  hold a marker field (byte 255, never a task id) that makes Redis keep them
  as hash tables, not flat lists scanned on every write, and the call deletes
  it before it ends (``lib/roomy.lua``).
* ``<tag>:leased`` ZSET id -> lease deadline; ``<tag>:buried`` ZSET id ->
  sequence number at burial (listing order must not depend on the clock).
* ``<tag>:meta`` HASH of per-task extras, by field prefix: ``t:<id>`` the
  lease token of the current holder, ``a:<id>`` times reserved (absent: 0),
  ``r:<id>`` burial time, a space, the reason, ``s:<id>`` the stream id of a
  task that came back to ``ready`` (after a delay, an expired lease, a
  release or a requeue), which its index entry cannot record: the scripts
  that move it there do not know its index bucket; ``p:<id>`` the task's
  priority, when it is not 0, while it is delayed, leased or buried (in
  ``prio`` its score holds it; a reserve writes ``p:<id>`` as it leases the
  task), so a task that comes back after a delay, a lease or a burial goes
  to ``prio`` again.
* ``<tag>:i:<n>`` HASH id -> the stream id its push gave the task in
  ``ready`` (``""`` when it went to ``delayed``): the index of every task in
  the queue, whatever its state, split over :data:`INDEX_BUCKETS` keys by
  CRC32 of the id (the client names the bucket, so it is a declared key).
  A push consults it to replace an id the queue holds; ``get``/``cancel``
  consult it to find a task (``s:<id>`` first, then this).
* ``<tag>:unique`` HASH unique key -> the id of the task holding it, a
  space, ``1`` if it holds it while running too (see ``push_unique.lua``).
* ``<tag>:limits`` HASH limit key -> ``concurrency rate period``, and one
  ZSET ``<tag>:lim:<limit key>`` per limit key: the ``id token`` of each task
  admitted under a concurrency limit, or the starts under a rate limit
  scored by time (see ``acquire.lua``).
* ``<tag>:marks`` ZSET key -> expiry of the queue's marks (``push_absent``
  and ``mark``, the :class:`~alligator.protocols.AbsentPushClient`); the
  time each was made is ``m:<key>`` in ``meta``. Expired marks are deleted
  by the next ``push_absent`` or ``mark`` (at most 1,000 per call), read off
  the expiry order.
* ``<tag>:seq`` STRING counter for the sequence numbers (delays and burials).
* ``<tag>:notify`` LIST of wake-up tokens for blocked reservers (capped).
* ``<tag>:blocked`` HASH id -> due time (empty for none), a comma, payload:
  tasks waiting on dependencies (``push_after``); their index entry is ``""``.
* ``<tag>:edges`` ZSET of dependency edges, every score 0, read by lexical
  range: ``<parent>\\xff<child>`` lists a task's dependents and
  ``<child>\\xfe<parent>`` a blocked task's pending dependencies (ids are
  UTF-8, which never holds those two bytes). A parent's success releases
  the dependents left with no pending dependency; a failure or a cancel
  buries them, transitively.
* ``<tag>:doomed`` ZSET id -> expiry (the failed parent's ``result_ttl``
  on): the dependents a failure or a cancel buried whose outcomes the
  caller has not stored yet. A dependency on one of them fails (as its
  outcome will say) even after ``drop_all`` or a purge removed its burial;
  storing its outcome removes the entry, ``drop_all`` keeps it (outcomes
  stay), and each failure that buries dependents deletes the expired ones.
* ``<tag>:r:<id>`` LIST of one element, the outcome of a task (results on):
  a flag byte (``S`` succeeded, ``F`` failed or canceled, ``U`` written
  apart from a settlement) then the core's record; it expires by ``PEXPIRE``
  after ``result_ttl``. A reader blocks on the key itself (``BLMOVE`` of the
  key onto itself reads the element and leaves it), so every waiter wakes
  when it is written. Like the index buckets, these are named per call.

A lease is held while its token matches and its deadline lies in the future;
a reserve first moves expired leases back to the end of ``ready``.

Every script reads what it needs before it writes, or buries a malformed
entry itself: a ``ready`` entry that is not one task id (non-empty, UTF-8,
not held elsewhere in the queue) with its payload, a ``delayed`` member that
names no delayed task, and a lease with no stored task are each buried as
``corrupt:<n>`` with the reason ``malformed ...``, and the call goes on. A
counter overwritten with text (``seq``, an ``a:<id>`` attempt count)
restarts. So no malformed entry stops a call half-way.
"""

from __future__ import annotations

import graphlib
import re
from collections.abc import Sequence
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Final, NamedTuple

__all__ = [
    "ACK",
    "ACQUIRE",
    "AFTER",
    "BURIED",
    "BURY",
    "COMPLETE",
    "DROP",
    "FAIL",
    "INDEX_BUCKETS",
    "KEY_SUFFIXES",
    "LIMIT_KEYS",
    "LIMIT_USAGE",
    "MARK",
    "OUTCOME",
    "PURGE",
    "PUSH",
    "PUSH_ABSENT",
    "PUSH_ONE",
    "PUSH_REPLACE",
    "PUSH_UNIQUE",
    "RELEASE",
    "RENEW",
    "REQUEUE",
    "RESERVE",
    "SCRIPTS",
    "STATE",
    "STATS",
    "TAKE",
    "UNIQUE_HOLDER",
    "WITHDRAW",
    "Call",
    "Script",
    "load",
]

#: Every fixed key of a queue, ``ready`` first; the index buckets come on top.
KEY_SUFFIXES: Final = (
    "ready",
    "delayed",
    "data",
    "leased",
    "meta",
    "buried",
    "seq",
    "notify",
    "prio",
    "blocked",
    "edges",
    "unique",
    "limits",
    "marks",
    "doomed",
)

#: How many index buckets a queue's ids are spread over. Part of the layout:
#: every client of a queue must agree on it.
INDEX_BUCKETS: Final = 1024

_KEYS_LINE: Final = re.compile(r"-- keys: (?P<names>[a-z]+(?:, [a-z]+)*)")
_RESEND_LINE: Final = "-- resend: safe"


class Script(NamedTuple):
    """One operation's assembled script.

    Attributes:
        source: The Lua sent to Redis (its SHA1 is what ``EVALSHA`` names).
        keys: The fixed keys it declares, in ``KEYS`` order; index buckets
            (one per id the call names) follow them.
        files: The ``.lua`` files it was assembled from, relative to
            ``redis_lua/`` (for the test that every file is used).
        resend: Running it twice gives the same answer, so it may be sent
            again after a reply was lost.
    """

    source: str
    keys: tuple[str, ...]
    files: tuple[str, ...]
    resend: bool = False


class Call(NamedTuple):
    """One call to the server: a script, or (``script`` ``None``) ``SADD keys[0] args[0]``.

    Here, beside :class:`Script`, so the client's base builds calls without
    importing the operations of :mod:`alligator.backends._redis_steps`, which
    call into that base (a call goes down the import graph, never up).
    """

    script: Script | None
    keys: Sequence[str]
    args: Sequence[bytes | str]


def _code(text: str) -> str:
    """``text`` without its whole-line comments and blank lines."""
    lines = (line for line in text.splitlines() if line.strip())
    return "".join(line + "\n" for line in lines if not line.lstrip().startswith("--"))


def _calls(code: str, names: set[str]) -> set[str]:
    """Which of ``names`` the code calls as plain functions (not ``x.name(``)."""
    return {name for name in names if re.search(rf"(?<![\w.:]){name}\s*\(", code)}


class _Library:
    """The helpers in ``redis_lua/lib``, each with the helpers it calls."""

    def __init__(self, folder: Traversable) -> None:
        self.code: dict[str, str] = {}
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if not entry.name.endswith(".lua"):
                continue
            name = entry.name.removesuffix(".lua")
            code = _code(entry.read_text(encoding="utf-8"))
            if not re.match(rf"local function {name}\(", code):
                raise RuntimeError(f"redis_lua/lib/{entry.name} must define local function {name}")
            self.code[name] = code
        names = set(self.code)
        self.calls = {name: _calls(code, names - {name}) for name, code in self.code.items()}
        # Dependencies first: a local function must be defined before its
        # callers. Sorted, so every process builds the same source (one SHA).
        graph = {name: sorted(self.calls[name]) for name in sorted(self.calls)}
        self.order = list(graphlib.TopologicalSorter(graph).static_order())

    def needed(self, code: str) -> list[str]:
        """The helpers ``code`` calls, directly or through others, in definition order."""
        found: set[str] = set()
        todo = _calls(code, set(self.code))
        while todo:
            name = todo.pop()
            found.add(name)
            todo |= self.calls[name] - found
        return [name for name in self.order if name in found]


def load(folder: Traversable) -> dict[str, Script]:
    """Assemble every operation's script from the ``.lua`` files in ``folder``.

    Raises:
        RuntimeError: A file breaks the rules above (a packaging mistake).
    """
    library = _Library(folder / "lib")
    prelude = _code((folder / "prelude.lua").read_text(encoding="utf-8"))
    scripts: dict[str, Script] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".lua") or entry.name == "prelude.lua":
            continue
        text = entry.read_text(encoding="utf-8")
        lines = text.split("\n", 2)
        declared = _KEYS_LINE.fullmatch(lines[0])
        resend = len(lines) > 1 and lines[1] == _RESEND_LINE
        keys = tuple(declared["names"].split(", ")) if declared else ()
        if not keys or not set(keys) <= set(KEY_SUFFIXES) or len(set(keys)) < len(keys):
            raise RuntimeError(
                f"redis_lua/{entry.name} must start with '-- keys: <names>' naming "
                f"distinct keys among {', '.join(KEY_SUFFIXES)}"
            )
        body = _code(text)
        helpers = library.needed(body)
        # Lua forbids globals in scripts: every key name is a local, nil when
        # the script does not declare that key (the helpers using it are
        # never called then).
        values = (f"KEYS[{keys.index(k) + 1}]" if k in keys else "nil" for k in KEY_SUFFIXES)
        header = f"local {', '.join(KEY_SUFFIXES)} = {', '.join(values)}\nlocal NK = {len(keys)}\n"
        source = header + prelude + "".join(library.code[name] for name in helpers) + body
        files = ("prelude.lua", *(f"lib/{name}.lua" for name in helpers), entry.name)
        scripts[entry.name.removesuffix(".lua")] = Script(source, keys, files, resend)
    return scripts


#: Every script by operation name (the file's name without ``.lua``).
SCRIPTS: Final = load(resources.files(__package__ or "alligator.backends") / "redis_lua")

PUSH: Final = SCRIPTS["push"]
PUSH_ONE: Final = SCRIPTS["push_one"]
PUSH_REPLACE: Final = SCRIPTS["push_replace"]
RESERVE: Final = SCRIPTS["reserve"]
ACK: Final = SCRIPTS["ack"]
RELEASE: Final = SCRIPTS["release"]
BURY: Final = SCRIPTS["bury"]
RENEW: Final = SCRIPTS["renew"]
TAKE: Final = SCRIPTS["take"]
STATS: Final = SCRIPTS["stats"]
BURIED: Final = SCRIPTS["buried"]
REQUEUE: Final = SCRIPTS["requeue"]
PURGE: Final = SCRIPTS["purge"]
DROP: Final = SCRIPTS["drop"]
COMPLETE: Final = SCRIPTS["complete"]
FAIL: Final = SCRIPTS["fail"]
WITHDRAW: Final = SCRIPTS["withdraw"]
AFTER: Final = SCRIPTS["after"]
STATE: Final = SCRIPTS["state"]
OUTCOME: Final = SCRIPTS["outcome"]
PUSH_UNIQUE: Final = SCRIPTS["push_unique"]
ACQUIRE: Final = SCRIPTS["acquire"]
LIMIT_USAGE: Final = SCRIPTS["limit_usage"]
LIMIT_KEYS: Final = SCRIPTS["limit_keys"]
UNIQUE_HOLDER: Final = SCRIPTS["unique_holder"]
PUSH_ABSENT: Final = SCRIPTS["push_absent"]
MARK: Final = SCRIPTS["mark"]
