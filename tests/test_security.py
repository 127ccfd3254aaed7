"""Security: payload signing and rotation, the module allow-list, size limits.

What is promised: a worker with a signing key runs only payloads signed by a
key it knows; a worker with ``allowed_modules`` never imports a module
outside them (hooks included); oversized payloads are refused at enqueue;
and nothing in the package unpickles or evaluates payload data.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alligator import Gator, codecs, signing
from alligator.cli.common import signing_options
from alligator.constants import ENVELOPE_VERSION, Status
from alligator.exceptions import (
    ConfigurationError,
    DisallowedModuleError,
    PayloadTooLarge,
    SignatureError,
    UnknownCallableError,
    UnknownModuleError,
)
from alligator.records import QueueStats
from alligator.retry import Backoff
from alligator.utils import import_callable
from alligator.wire import Envelope
from tests import tasks
from tests.seed.skinnytask import SkinnyTask

KEY = "k" * 32
OLD_KEY = "o" * 32
OTHER_KEY = "x" * 32
FORBIDDEN = "tests.chaos.forbidden"


def envelope(module: str, name: str, *args: object, **extra: object) -> bytes:
    env = Envelope(ENVELOPE_VERSION, "t1", module, name, args=args)
    for field, value in extra.items():
        setattr(env, field, value)
    return codecs.JSON.encode(env)


def run_raw(gator: Gator, data: bytes) -> tuple[str, str]:
    """Push raw bytes, let ``gator`` process them; (action, burial reason or '')."""
    gator.broker.push(gator.queue_name, "raw", data)
    reservation = gator.consumer().reserve()
    assert reservation is not None
    outcome = gator.consumer().process(reservation)
    buried = gator.broker.buried(gator.queue_name)
    return outcome.action, buried[-1].reason if buried else ""


# -- the Signer -------------------------------------------------------------


def test_signed_payload_round_trips_and_carries_the_header() -> None:
    signer = signing.Signer(KEY)
    signed = signer.sign(b"payload", queue="q", task_id="raw")
    assert signed.startswith(signing.MAGIC)
    assert len(signed) == len(b"payload") + signing.OVERHEAD
    assert signer.verify(signed, queue="q", task_id="raw") == b"payload"


@settings(max_examples=200)
@given(payload=st.binary(max_size=64), data=st.data())
def test_changing_any_byte_breaks_the_signature(payload: bytes, data: st.DataObject) -> None:
    # Given a signed payload
    signer = signing.Signer(KEY)
    signed = bytearray(signer.sign(payload, queue="q", task_id="raw"))
    # When any one byte (header, key id, MAC or payload) is changed
    index = data.draw(st.integers(0, len(signed) - 1))
    signed[index] ^= data.draw(st.integers(1, 255))
    # Then verification fails
    with pytest.raises(SignatureError):
        signer.verify(bytes(signed), queue="q", task_id="raw")


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b'[1,"t","m","f"]', "not signed"),
        (signing.MAGIC + b"short", "truncated"),
        (signing.Signer(OTHER_KEY).sign(b"x", queue="q", task_id="raw"), "unknown key"),
    ],
)
def test_unsigned_truncated_and_foreign_payloads_are_refused(data: bytes, words: str) -> None:
    with pytest.raises(SignatureError, match=words) as caught:
        signing.Signer(KEY).verify(data, queue="q", task_id="raw")
    assert caught.value.data == data


def test_verify_keys_accept_other_keys_but_never_sign() -> None:
    old = signing.Signer(OLD_KEY).sign(b"queued before the rotation", queue="q", task_id="raw")
    rotated = signing.Signer(KEY, verify_keys=[OLD_KEY])
    assert rotated.verify(old, queue="q", task_id="raw") == b"queued before the rotation"
    assert rotated.sign(b"x", queue="q", task_id="raw")[4:12] == signing.key_id(KEY)


def test_short_keys_are_refused_and_keys_never_shown() -> None:
    with pytest.raises(ConfigurationError, match="at least 16 bytes"):
        signing.Signer("short")
    assert KEY not in repr(signing.Signer(KEY))
    with pytest.raises(ConfigurationError, match="needs a signing_key"):
        Gator("locmem://", verify_keys=[KEY])


# -- signing through Gator and Worker -----------------------------------------


def test_signed_producer_and_worker_run_the_task(locmem_dsn: str) -> None:
    producer = Gator(locmem_dsn, queue_name="q", signing_key=KEY)
    worker = Gator(locmem_dsn, queue_name="q", signing_key=KEY)
    producer.task(tasks.add, 2, 3)
    assert tasks.result_of(worker.pop()) == 5


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (envelope("tests.tasks", "add", 1, 2), "not signed"),
        (
            signing.Signer(OTHER_KEY).sign(
                envelope("tests.tasks", "add", 1, 2), queue="q", task_id="raw"
            ),
            "unknown key",
        ),
        (
            signing.Signer(KEY).sign(
                envelope("tests.tasks", "add", 1, 2), queue="q", task_id="raw"
            )[:-3]
            + b"9]]",
            "altered",
        ),
    ],
    ids=["unsigned", "wrong-key", "tampered"],
)
def test_worker_with_a_key_buries_unsigned_forged_and_tampered_payloads(
    locmem_dsn: str, payload: bytes, words: str
) -> None:
    worker = Gator(locmem_dsn, queue_name="q", signing_key=KEY)
    action, reason = run_raw(worker, payload)
    assert action == "bury"
    assert "SignatureError" in reason and words in reason
    assert tasks.EVENTS == []  # never ran


def test_worker_without_a_key_accepts_signed_payloads_during_rollout(locmem_dsn: str) -> None:
    Gator(locmem_dsn, queue_name="q", signing_key=KEY).task(tasks.add, 1, 1)
    assert tasks.result_of(Gator(locmem_dsn, queue_name="q").pop()) == 2


def test_rotation_old_payloads_still_run_and_retries_get_the_new_key(locmem_dsn: str) -> None:
    # Given a task signed with the old key, which fails once
    old = Gator(locmem_dsn, queue_name="q", signing_key=OLD_KEY)
    with old.options(retries=1) as opts:
        opts.task(tasks.fail_times, "rot", 1)
    # When a worker on the new key (old one kept for verification) runs it
    new = Gator(
        locmem_dsn,
        queue_name="q",
        signing_key=KEY,
        verify_keys=[OLD_KEY],
        backoff=Backoff(base=0, jitter=0),
    )
    assert tasks.status_of(new.pop()) == Status.RETRYING  # failed, released for a retry
    # Then the retry is signed with the new key, which a new-key-only worker accepts
    [waiting] = [new.broker.reserve("q", 30)]
    assert waiting is not None and waiting.data[4:12] == signing.key_id(KEY)
    new.broker.release("q", waiting)
    assert tasks.result_of(Gator(locmem_dsn, queue_name="q", signing_key=KEY).pop()) == "rot"


def test_requeue_never_launders_a_forged_payload(locmem_dsn: str) -> None:
    # Given a forged payload buried by a worker with a key
    worker = Gator(locmem_dsn, queue_name="q", signing_key=KEY)
    run_raw(
        worker,
        signing.Signer(OTHER_KEY).sign(
            envelope("tests.tasks", "add", 1, 2), queue="q", task_id="raw"
        ),
    )
    [buried] = worker.failed.list()
    # When it is requeued, it is refused rather than re-signed
    with pytest.raises(SignatureError):
        worker.failed.requeue(buried.task_id)
    # And a signed payload cannot be requeued with fresh retries without the key
    with pytest.raises(ConfigurationError, match="needs the signing key"):
        Gator(locmem_dsn, queue_name="q").failed.requeue(buried.task_id)


def test_requeued_signed_task_is_signed_again_and_runs(locmem_dsn: str) -> None:
    # Given a signed task that fails its only try and is buried
    gator = Gator(locmem_dsn, queue_name="q", signing_key=KEY)
    gator.task(tasks.fail_times, "requeued", 1)
    assert tasks.status_of(gator.pop()) == Status.FAILED
    [buried] = gator.failed.list()
    # When it is requeued
    gator.failed.requeue(buried.task_id)
    # Then the payload waiting in the queue is signed with the key
    waiting = gator.broker.reserve("q", 30)
    assert waiting is not None and waiting.data[4:12] == signing.key_id(KEY)
    assert gator.broker.release("q", waiting)
    # And a worker that accepts only payloads signed with that key runs it
    worker = Gator(locmem_dsn, queue_name="q", signing_key=KEY)
    assert tasks.result_of(worker.pop()) == "requeued"
    assert tasks.CALLS["requeued"] == 2
    assert worker.failed.list() == []
    assert worker.broker.stats("q") == QueueStats()


# -- the allow-list -----------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (envelope(FORBIDDEN, "run"), "DisallowedModuleError"),
        (envelope("tests.tasks", "add", 1, 2, on_start=f"{FORBIDDEN}:run"), "Disallowed"),
        (envelope("tests.tasks", "add", 1, 2, on_error=f"{FORBIDDEN}:run"), "Disallowed"),
        (envelope("tests.tasks", "os.system", "true"), "DisallowedModuleError"),
        (envelope("tests.tasks", "Thing.__init__.__globals__"), "dunder"),
        (envelope("..tasks", "add"), "not a valid module name"),
    ],
    ids=["module", "on_start-hook", "on_error-hook", "re-export", "dunder", "relative"],
)
def test_allow_list_refuses_before_importing(locmem_dsn: str, payload: bytes, error: str) -> None:
    # Given a worker allowed to run tests.tasks only
    sys.modules.pop(FORBIDDEN, None)
    worker = Gator(locmem_dsn, queue_name="q", allowed_modules=["tests.tasks"])
    # When a payload names something outside it
    action, reason = run_raw(worker, payload)
    # Then it is buried with the reason, and the forbidden module was never imported
    assert action == "bury"
    assert error in reason
    assert FORBIDDEN not in sys.modules
    assert tasks.EVENTS == []


def test_allow_list_admits_its_modules_and_submodules(locmem_dsn: str) -> None:
    worker = Gator(locmem_dsn, queue_name="q", allowed_modules=["tests"])
    Gator(locmem_dsn, queue_name="q").task(tasks.add, 4, 5)
    assert tasks.result_of(worker.pop()) == 9


def test_without_an_allow_list_any_importable_callable_runs(locmem_dsn: str) -> None:
    # The honest default: a writer to the queue can name any importable function.
    worker = Gator(locmem_dsn, queue_name="q")
    action, _ = run_raw(worker, envelope("os.path", "join", "a", "b"))
    assert action == "ack"


def test_import_callable_checks_names_before_importing() -> None:
    with pytest.raises(UnknownModuleError):
        import_callable("", "f")
    with pytest.raises(UnknownCallableError):
        import_callable("tests.tasks", "add; import os")
    with pytest.raises(DisallowedModuleError):
        import_callable(FORBIDDEN, "run", ["tests.tasks"])
    assert FORBIDDEN not in sys.modules


def test_a_callable_resolved_once_is_still_checked_against_each_allow_list() -> None:
    # Given a task function resolved (and kept) with no allow-list and with its own module
    assert import_callable("tests.tasks", "add") is tasks.add
    assert import_callable("tests.tasks", "add", ["tests.tasks"]) is tasks.add
    # Then an allow-list that leaves its module out still refuses it
    with pytest.raises(DisallowedModuleError):
        import_callable("tests.tasks", "add", ["tests.seed"])
    # And a name that failed its checks is refused again, not remembered as found
    for _ in range(2):
        with pytest.raises(UnknownCallableError):
            import_callable("tests.tasks", "no_such_task")


def test_allow_list_with_a_task_class_that_bypasses_it_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="cannot be enforced"):
        Gator("locmem://", task_class=SkinnyTask, allowed_modules=["tests"])
    with pytest.raises(ConfigurationError, match="not one str"):
        Gator("locmem://", allowed_modules="tests")


# -- sizes and forbidden constructs ---------------------------------------------


def test_oversized_task_is_refused_at_enqueue(locmem_dsn: str) -> None:
    gator = Gator(locmem_dsn, queue_name="q", max_payload=1000, signing_key=KEY)
    with pytest.raises(PayloadTooLarge, match="over the 1,000-byte limit"):
        gator.task(tasks.add, "x" * 2000, "y")  # type: ignore[call-overload]
    assert gator.len() == 0


def test_oversized_payload_found_by_a_worker_is_buried(locmem_dsn: str) -> None:
    worker = Gator(locmem_dsn, queue_name="q", max_payload=100)
    action, reason = run_raw(worker, b"[" + b" " * 200)
    assert action == "bury" and "PayloadTooLarge" in reason


def test_the_package_never_unpickles_or_evaluates() -> None:
    package = Path(__file__).resolve().parent.parent / "alligator"
    for path in package.rglob("*.py"):
        source = path.read_text()
        for word in ("import pickle", "pickle.loads", "eval(", "exec(", "marshal.loads"):
            assert word not in source, f"{word} in {path}"


# -- the command line -----------------------------------------------------------


def test_cli_reads_keys_from_files_or_the_environment(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    args = argparse.Namespace(signing_key_file=str(key_file), verify_key_files=[])
    assert signing_options(args, {}) == {"signing_key": KEY.encode(), "verify_keys": []}
    env = {"ALLIGATOR_SIGNING_KEY": KEY, "ALLIGATOR_VERIFY_KEYS": f"{OLD_KEY}, {OTHER_KEY}"}
    none = argparse.Namespace(signing_key_file=None, verify_key_files=[])
    assert signing_options(none, env) == {
        "signing_key": KEY.encode(),
        "verify_keys": [OLD_KEY.encode(), OTHER_KEY.encode()],
    }
    assert signing_options(none, {}) == {}
    with pytest.raises(ConfigurationError, match="no signing key"):
        signing_options(none, {"ALLIGATOR_VERIFY_KEYS": OLD_KEY})


# -- replays of signed payloads -----------------------------------------------


def test_a_signed_payload_replayed_under_another_id_or_queue_is_buried(locmem_dsn: str) -> None:
    # Given a signed task as an attacker reads it back from the backend
    producer = Gator(locmem_dsn, queue_name="q", signing_key=KEY)
    original = producer.task(tasks.add, 40, 2)
    held = producer.broker.reserve("q", 30)
    assert held is not None
    captured = held.data
    producer.broker.release("q", held)
    # When the same bytes are pushed again under a new id, and onto another queue
    producer.broker.push("q", "replayed", captured)
    producer.broker.push("other", original.task_id, captured)
    other = Gator(locmem_dsn, queue_name="other", signing_key=KEY)
    # Then only the original runs; both copies are buried as bad signatures
    ran = [producer.pop(), producer.pop(), other.pop()]
    assert [t.status for t in ran if t is not None] == [
        Status.SUCCESS,
        Status.FAILED,
        Status.FAILED,
    ]
    assert tasks.EVENTS == [("add", 40, 2)]
    reasons = [b.reason for b in producer.failed.list() + other.failed.list()]
    assert len(reasons) == 2 and all("another queue or task id" in r for r in reasons)


def test_max_age_refuses_a_payload_valid_since_too_long(
    locmem_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a payload signed an hour ago (valid from then) and a fresh one
    signer = signing.Signer(KEY)
    payload = codecs.JSON.encode(Envelope(ENVELOPE_VERSION, "old", "tests.tasks", "add", (1, 1)))
    worker = Gator(locmem_dsn, queue_name="q", signing_key=KEY, signature_max_age=60)
    an_hour_ago = time.time() - 3600
    with monkeypatch.context() as past:
        past.setattr(time, "time", lambda: an_hour_ago)
        old = signer.sign(payload, queue="q", task_id="old")
    worker.broker.push("q", "old", old)
    worker.task(tasks.add, 2, 2)
    # When a worker with max_age=60 takes both
    first, second = worker.pop(), worker.pop()
    # Then the old one is buried as a possible replay and the fresh one runs
    assert tasks.status_of(first) == Status.FAILED
    assert tasks.result_of(second) == 4
    [buried] = worker.failed.list()
    assert "max_age" in buried.reason and "replay" in buried.reason


def test_a_delayed_task_counts_its_age_from_when_it_is_due(locmem_dsn: str) -> None:
    signer = signing.Signer(KEY)
    later = time.time() + 3600
    signed = signer.sign(b"x", queue="q", task_id="t", valid_from=later)
    # Due in an hour: not old for a 60 s max_age, however long it waited
    assert signer.verify(signed, queue="q", task_id="t", max_age=60) == b"x"


def test_max_age_needs_a_key_and_a_positive_value(locmem_dsn: str) -> None:
    with pytest.raises(ConfigurationError, match="signature_max_age"):
        Gator(locmem_dsn, signature_max_age=60)
    with pytest.raises(ConfigurationError, match="signature_max_age"):
        Gator(locmem_dsn, signing_key=KEY, signature_max_age=0)


# -- dunder modules: a package's __main__, __init__ and the like ------------------


@pytest.fixture
def dunder_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> tuple[str, Path]:
    """An importable package whose ``__init__`` and ``__main__`` leave a mark when run.

    Returns its (unique) name and the file the marks go to; ``__main__`` runs
    its command line at import, as many do.
    """
    import uuid

    name = f"dunder_app_{uuid.uuid4().hex[:8]}"
    marks = tmp_path / "marks.txt"
    package = tmp_path / "apps" / name
    package.mkdir(parents=True)
    mark = f"with open({str(marks)!r}, 'a') as file:\n    file.write(__name__ + '\\n')\n"
    (package / "__init__.py").write_text(mark + "def job():\n    return 'ran'\n")
    (package / "__main__.py").write_text(mark + "def main():\n    return 'cli'\n\nmain()\n")
    monkeypatch.syspath_prepend(str(tmp_path / "apps"))

    def forget() -> None:
        for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[module]

    request.addfinalizer(forget)
    return name, marks


def run_with_worker(gator: Gator, data: bytes) -> str:
    """Push raw bytes, let a Worker take them; the burial reason ('' if none)."""
    from alligator import Worker

    gator.broker.push(gator.queue_name, "raw", data)
    assert Worker(gator, max_tasks=1, poll_timeout=0.05).check_and_run_task()
    buried = gator.broker.buried(gator.queue_name)
    return buried[-1].reason if buried else ""


@pytest.mark.parametrize(("segment", "callable_name"), [("__main__", "main"), ("__init__", "job")])
@pytest.mark.parametrize("allow_list", [True, False], ids=["allow-list", "no-allow-list"])
def test_a_dunder_module_of_an_app_is_refused_before_importing(
    locmem_dsn: str,
    dunder_app: tuple[str, Path],
    segment: str,
    callable_name: str,
    allow_list: bool,
) -> None:
    # Given a worker allowed to run the app's tasks (or with no allow-list)
    app, marks = dunder_app
    allowed = [app] if allow_list else None
    gator = Gator(locmem_dsn, queue_name="q", allowed_modules=allowed)
    # When a payload names the app's __main__ (its command line) or
    # __init__ (the package's code run again under a second name)
    reason = run_with_worker(gator, envelope(f"{app}.{segment}", callable_name))
    # Then the task is buried for the dunder segment, and nothing of the
    # app was imported, let alone run
    assert "DisallowedModuleError" in reason
    assert f"{segment!r}" in reason and "dunder" in reason
    assert not marks.exists()
    assert app not in sys.modules and f"{app}.{segment}" not in sys.modules


@pytest.mark.parametrize(
    ("module", "callable_name"),
    [("unittest.__main__", "main"), ("__phello__", "main"), ("json.__init__", "dumps")],
)
def test_a_dunder_module_of_the_standard_library_is_refused_before_importing(
    locmem_dsn: str, module: str, callable_name: str
) -> None:
    # Given a worker with no allow-list, and modules never imported yet
    # (unittest.__main__ runs unittest's command line, which exits the worker)
    sys.modules.pop(module, None)
    gator = Gator(locmem_dsn, queue_name="q")
    # When a payload names a dunder module
    reason = run_with_worker(gator, envelope(module, callable_name))
    # Then it is buried with the reason and was never imported
    assert "DisallowedModuleError" in reason and "dunder" in reason
    assert module not in sys.modules


def test_a_dunder_module_is_refused_in_hooks_and_by_import_callable(
    locmem_dsn: str, dunder_app: tuple[str, Path]
) -> None:
    app, marks = dunder_app
    gator = Gator(locmem_dsn, queue_name="q", allowed_modules=["tests.tasks", app])
    payload = envelope("tests.tasks", "add", 1, 2, on_success=f"{app}.__main__:main")
    assert "DisallowedModuleError" in run_with_worker(gator, payload)
    for module in (f"{app}.__main__", f"{app}.sub.__init__", "__main__", f"__{app}__"):
        with pytest.raises(DisallowedModuleError, match="dunder"):
            import_callable(module, "main", [app, f"__{app}__"])
        with pytest.raises(DisallowedModuleError, match="dunder"):
            import_callable(module, "main")
    assert not marks.exists() and app not in sys.modules
    assert tasks.EVENTS == []


def test_a_task_defined_in_a_dunder_module_is_refused_at_enqueue(
    locmem_dsn: str, dunder_app: tuple[str, Path]
) -> None:
    # Given a function found in a package's __main__ imported by name
    import importlib

    from alligator.exceptions import NotImportableError

    app, _ = dunder_app
    cli = importlib.import_module(f"{app}.__main__")
    gator = Gator(locmem_dsn, queue_name="q")
    # When it is enqueued, it is refused there: no worker would import it
    with pytest.raises(NotImportableError, match="__main__"):
        gator.task(cli.main)
    assert gator.len() == 0
