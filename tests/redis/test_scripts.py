"""The Lua files: every script loads on a real server, every file is used.

The scripts are assembled at import from ``alligator/backends/redis_lua``
(see :mod:`alligator.backends._redis_scripts`); these tests pin what that
assembly promises: each script compiles on Redis, each ``.lua`` file ends up
in some script, each script is run by some client operation, and a script
defines only the helpers it calls.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import pytest
import redis

from alligator.backends import _redis_scripts as lua
from alligator.backends._redis_driver import Reply
from alligator.backends.redis_backend import Client
from alligator.records import LimitSlot, PushItem, TaskState
from tests.redis.conftest import MutableClock
from tests.servers import ServerProcess

Q = "q"
LUA = resources.files("alligator.backends") / "redis_lua"


def lua_files() -> set[str]:
    """Every ``.lua`` file shipped, relative to ``redis_lua/``."""
    found = {e.name for e in LUA.iterdir() if e.name.endswith(".lua")}
    return found | {f"lib/{e.name}" for e in (LUA / "lib").iterdir() if e.name.endswith(".lua")}


@pytest.mark.parametrize("name", sorted(lua.SCRIPTS))
def test_every_script_loads_on_a_real_server(name: str, single_server: ServerProcess) -> None:
    # Given the assembled script
    script = lua.SCRIPTS[name]
    # When it is loaded (compiled) by a real server
    with redis.Redis(port=single_server.port) as raw:
        sha = raw.script_load(script.source)
        # Then the server knows it under the SHA1 the client will send
        assert sha == hashlib.sha1(script.source.encode()).hexdigest()
        assert raw.script_exists(sha) == [True]


def test_every_lua_file_is_part_of_some_script() -> None:
    used = {path for script in lua.SCRIPTS.values() for path in script.files}
    assert used == lua_files()


def test_every_script_is_run_by_some_client_operation(
    single_server: ServerProcess, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a client whose script calls are recorded
    clock = MutableClock()
    client = Client(f"redis://127.0.0.1:{single_server.port}", clock=clock, namespace=namespace)
    ran: set[str] = set()
    run = client._redis.run

    def recording(
        source: str, keys: Sequence[str], args: Sequence[bytes | str], *, resend: bool = False
    ) -> Reply:
        ran.add(source)
        return run(source, keys, args, resend=resend)

    monkeypatch.setattr(client._redis, "run", recording)
    # When every operation of the client is used once
    client.push(Q, "a", b"x")
    client.push(Q, "a", b"y")  # a replacement
    client.push_many(Q, [PushItem("b", b"x"), PushItem("c", b"x", clock.now + 60)])
    held = client.reserve(Q, 30)
    assert held is not None
    assert client.renew(Q, held, 30)
    assert client.release(Q, held)
    _, leased = client.reserve_many(Q, 30, 2)
    assert client.ack(Q, leased[0])
    assert client.bury(Q, leased[1], "why")
    assert [b.task_id for b in client.buried(Q)] == [leased[1].task_id]
    assert client.requeue(Q, leased[1].task_id) is not None
    assert client.get(Q, "c") == b"x"
    assert client.stats(Q).ready == 1
    again = client.reserve(Q, 30)
    assert again is not None and client.bury(Q, again, "again")
    assert client.purge(Q) == 1
    # (and the outcomes and dependencies of results=True)
    client.push(Q, "p", b"x")
    client.push_after(Q, [PushItem("d", b"x"), PushItem("e", b"x")], [["p"], ["p"]])
    assert client.task_state(Q, "d") == TaskState("blocked")
    parent = client.reserve(Q, 30)
    assert parent is not None and client.complete(Q, parent, result=b"r", ttl=60)
    assert client.cancel(Q, "e", result=b"c", ttl=60, dependents_reason="x") is not None
    child = client.reserve(Q, 30)
    assert (
        child is not None
        and client.fail(Q, child, "why", result=b"f", ttl=60, dependents_reason="x") == []
    )
    client.store_result(Q, "d", b"kept", 60)
    assert client.fetch_result(Q, "d") == b"kept"
    # (and unique tasks and limits)
    assert client.push_unique(Q, "u", b"x", unique_key="k") == ("u", True)
    held = client.reserve(Q, 30)
    assert held is not None
    assert client.acquire(Q, held, [LimitSlot("f", concurrency=1)]) == 0.0
    assert [usage.running for usage in client.limit_usage(Q)] == [1]
    # (and the push-if-absent of schedules)
    assert client.push_absent(Q, "absent", b"x", ttl=60) is True
    assert client.mark(Q, "k", 60) == clock.now
    client.drop_all(Q)
    client.close()
    # Then each script was run
    assert {name for name, script in lua.SCRIPTS.items() if script.source in ran} == set(
        lua.SCRIPTS
    )


def test_every_process_builds_the_same_scripts() -> None:
    # Given the scripts as two processes with different hash seeds build them
    code = (
        "import hashlib; from alligator.backends import _redis_scripts as s; "
        "print(hashlib.sha1(repr(sorted(s.SCRIPTS.items())).encode()).hexdigest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    # Then they are the same, so every client of a queue shares one SHA per script
    assert len(digests) == 1


@pytest.mark.parametrize("name", sorted(lua.SCRIPTS))
def test_a_script_defines_only_the_helpers_it_calls(name: str) -> None:
    source = lua.SCRIPTS[name].source
    for helper in re.findall(r"local function (\w+)\(", source):
        calls = re.findall(rf"(?<![\w.:]){helper}\(", source)
        assert len(calls) > 1, f"{name} defines {helper} but never calls it"


@pytest.mark.parametrize("name", sorted(lua.SCRIPTS))
def test_comments_are_not_sent(name: str) -> None:
    assert not [line for line in lua.SCRIPTS[name].source.splitlines() if "--" in line]


def test_helpers_come_after_the_helpers_they_call(tmp_path: Path) -> None:
    # Given helpers written in the "wrong" file order (a calls b, b calls c)
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "a.lua").write_text("local function a() return b() end\n")
    (tmp_path / "lib" / "b.lua").write_text("-- calls c\nlocal function b() return c() end\n")
    (tmp_path / "lib" / "c.lua").write_text("local function c() return 1 end\n")
    (tmp_path / "lib" / "unused.lua").write_text("local function unused() end\n")
    (tmp_path / "prelude.lua").write_text("-- nothing\nlocal X = 1\n")
    (tmp_path / "op.lua").write_text(
        "-- keys: ready, meta\n-- unused() is only named in a comment\nreturn a()\n"
    )
    # When they are assembled
    script = lua.load(tmp_path)["op"]
    # Then the script defines c, b, a in that order, not the unused one
    assert re.findall(r"local function (\w+)", script.source) == ["c", "b", "a"]
    assert script.keys == ("ready", "meta")
    assert script.files == ("prelude.lua", "lib/c.lua", "lib/b.lua", "lib/a.lua", "op.lua")
    assert script.source.startswith(
        "local ready, delayed, data, leased, meta, buried, seq, notify, prio, blocked, edges,"
        " unique, limits, marks, doomed"
        " = KEYS[1], nil, nil, nil, KEYS[2], nil, nil, nil, nil, nil, nil, nil, nil, nil, nil\n"
        "local NK = 2\nlocal X = 1\n"
    )


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("op.lua", "return 1\n"),  # no keys line
        ("op.lua", "-- keys: ready, nowhere\nreturn 1\n"),  # an unknown key
        ("op.lua", "-- keys: ready, ready\nreturn 1\n"),  # a key twice
        ("lib/h.lua", "local function other() end\n"),  # not named after its file
    ],
)
def test_a_malformed_lua_file_fails_the_import(tmp_path: Path, path: str, text: str) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "prelude.lua").write_text("")
    (tmp_path / path).write_text(text)
    with pytest.raises(RuntimeError, match=Path(path).name):
        lua.load(tmp_path)
