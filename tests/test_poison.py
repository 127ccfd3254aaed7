"""Poison payloads, pushed raw into every backend: buried with a reason, worker unharmed.

Hypothesis generates junk of every kind (random bytes, truncated output of
every codec, valid encodings of the wrong schema, a future envelope version,
unknown modules and callables, disallowed modules, bad signatures, oversized
blobs, arguments the function does not take). Each is pushed with the raw
``Client.push``, bypassing every producer-side check, ahead of good tasks.
A worker (signing key, allow-list, 4 KiB limit) must bury every poison
payload with a reason naming its problem, never raise, and run every good
task queued after them.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alligator import Gator, Worker, codecs, signing
from alligator.constants import ENVELOPE_VERSION
from alligator.wire import Envelope
from tests import tasks
from tests.chaos.harness import REPORTS, Report

KEY = "poison-test-signing-key-0123456789"
SIGNER = signing.Signer(KEY)
LIMIT = 4096
ALLOWED = ["tests.tasks"]
#: Poison pushed per backend across all examples (for the report).
FUZZED: dict[str, list[int]] = {}

#: Makes a payload for the queue and task id it is pushed under (signatures bind both).
Sign = Callable[[str, str], bytes]
Poison = tuple[str, Sign, str]  # (kind, payload maker, words the burial reason must contain)


def _envelope(module: str, name: str, *args: object, version: int = ENVELOPE_VERSION) -> Envelope:
    return Envelope(version, "p", module, name, args=args)


names = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12).map(lambda s: "zz" + s)
json_junk = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)  # what msgpack can carry
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=10,
)


def _signed(payload: bytes, signer: signing.Signer | None = None) -> Sign:
    """``payload`` signed (by ``SIGNER`` unless told) for the queue and id it is pushed under."""
    by = SIGNER if signer is None else signer
    return lambda queue, task_id: by.sign(payload, queue=queue, task_id=task_id)


def _raw(payload: bytes) -> Sign:
    return lambda queue, task_id: payload


def _tampered(payload: bytes, index: int, flip: int) -> Sign:
    def make(queue: str, task_id: str) -> bytes:
        signed = bytearray(SIGNER.sign(payload, queue=queue, task_id=task_id))
        signed[index] ^= flip
        return bytes(signed)

    return make


@st.composite
def poison(draw: st.DrawFn) -> Poison:
    kind = draw(
        st.sampled_from(
            [
                "random", "truncated", "wrong-schema", "future-version", "unknown-module",
                "unknown-callable", "disallowed", "unsigned", "wrong-key", "tampered",
                "oversized", "bad-arguments",
            ]
        )
    )  # fmt: skip
    good = _envelope("tests.tasks", "add", 1, 2)
    if kind == "random":
        return kind, _signed(draw(st.binary(max_size=200))), "DecodeError"
    if kind == "truncated":
        codec = codecs.get_codec(draw(st.sampled_from(codecs.registry.names())))
        whole = codec.encode(good)
        cut = draw(st.integers(0, len(whole) - 1))
        return kind, _signed(whole[:cut]), "DecodeError"
    if kind == "wrong-schema":
        value = draw(json_junk.filter(lambda v: not isinstance(v, list)))
        encode = draw(st.sampled_from([msgspec.json.encode, msgspec.msgpack.encode]))
        return kind, _signed(encode(value)), "DecodeError"
    if kind == "future-version":
        data = codecs.JSON.encode(_envelope("tests.tasks", "add", 1, 2, version=99))
        return kind, _signed(data), "unsupported envelope version"
    if kind == "unknown-module":
        data = codecs.MSGPACK.encode(_envelope(f"tests.tasks.{draw(names)}", "f"))
        return kind, _signed(data), "UnknownModuleError"
    if kind == "unknown-callable":
        data = codecs.JSON.encode(_envelope("tests.tasks", draw(names)))
        return kind, _signed(data), "UnknownCallableError"
    if kind == "disallowed":
        target = draw(
            st.sampled_from(
                [("os", "system"), ("subprocess", "run"), ("builtins", "exec"),
                 ("tests.chaos.forbidden", "run"), ("tests.tasks", "os.system")]
            )
        )  # fmt: skip
        data = codecs.JSON.encode(_envelope(*target, "true"))
        return kind, _signed(data), "DisallowedModuleError"
    if kind == "unsigned":
        return kind, _raw(codecs.JSON.encode(good)), "not signed"
    if kind == "wrong-key":
        other = signing.Signer(draw(st.binary(min_size=16, max_size=32)).hex())
        return kind, _signed(codecs.JSON.encode(good), other), "SignatureError"
    if kind == "tampered":
        payload = codecs.JSON.encode(good)
        index = draw(st.integers(0, signing.OVERHEAD + len(payload) - 1))
        flip = draw(st.integers(1, 255))
        return kind, _tampered(payload, index, flip), "SignatureError"
    if kind == "oversized":
        return (
            kind,
            _raw(draw(st.binary(min_size=LIMIT + 1, max_size=5 * LIMIT))),
            "PayloadTooLarge",
        )
    data = codecs.JSON.encode(_envelope("tests.tasks", "add", 1, 2, 3))
    return kind, _signed(data), "TypeError"


@pytest.fixture
def backend(any_dsn: str, request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    name = request.node.callspec.id
    FUZZED.setdefault(name, [0, 0])
    yield name, any_dsn
    pushed, buried = FUZZED.pop(name)
    REPORTS.append(Report(f"{name} (poison)", pushed, buried=buried, fuzzed=pushed))


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(payloads=st.lists(poison(), min_size=4, max_size=12))
def test_poison_is_buried_with_its_reason_and_good_tasks_still_run(
    backend: tuple[str, str], payloads: list[Poison]
) -> None:
    name, dsn = backend
    tasks.reset()
    queue = f"p{uuid.uuid4().hex[:12]}"
    producer = Gator(dsn, queue_name=queue, signing_key=KEY)
    worker_gator = Gator(
        dsn, queue_name=queue, signing_key=KEY, allowed_modules=ALLOWED, max_payload=LIMIT
    )
    try:
        # Given poison pushed raw (signed for the queue and id it goes under), then good tasks
        pushed = []
        for i, (_, make, _) in enumerate(payloads):
            task_id = f"poison-{i}"
            pushed.append(make(queue, task_id if producer.payloads.bind_ids else ""))
            producer.broker.push(queue, task_id, pushed[-1])
        for i in range(3):
            producer.task(tasks.add, i, i)
        # When one worker processes everything
        worker = Worker(worker_gator, poll_timeout=2.0)
        for _ in range(len(payloads) + 3):
            assert worker.check_and_run_task(), "the worker found nothing to do"
        # Then every poison payload is buried, in order, with a reason naming its problem
        buried = worker_gator.failed.list()
        assert len(buried) == len(payloads)
        for (kind, _, words), data, grave in zip(payloads, pushed, buried, strict=True):
            assert grave.data == data, kind
            assert words in grave.reason, (kind, grave.reason)
        # And the good tasks all ran, and the forbidden module was never imported
        assert sorted(e for e in tasks.EVENTS if e[0] == "add") == [("add", i, i) for i in range(3)]
        assert "tests.chaos.forbidden" not in sys.modules
        stats = worker_gator.broker.stats(queue)
        assert stats.ready + stats.delayed + stats.reserved == 0
        FUZZED[name][0] += len(payloads)
        FUZZED[name][1] += len(buried)
    finally:
        producer.broker.drop_all(queue)
        producer.close()
        worker_gator.close()
