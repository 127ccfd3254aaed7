"""Codecs: round trips, sniffing, compression, registration and bad payloads."""

from __future__ import annotations

import bz2
import tracemalloc
import uuid
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alligator import Gator, Worker, codecs
from alligator.backends.locmem_backend import reset_stores
from alligator.constants import ENVELOPE_VERSION
from alligator.exceptions import (
    ConfigurationError,
    DecodeError,
    EncodeError,
    UnknownCodecError,
)
from alligator.protocols import Codec
from alligator.wire import Envelope
from tests import tasks
from tests.strategies import MSGPACK_SAFE_SCALARS, envelopes, normalize_json, normalize_msgpack

#: Each property runs once per codec; keep the file to seconds.
FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

BUILTIN = ["json", "msgpack", "json+bz2", "json+zlib", "msgpack+bz2", "msgpack+zlib"]
COMPRESSED = [name for name in BUILTIN if "+" in name]


def normalizer(codec_name: str) -> Callable[[Any], Any]:
    """What arguments look like after this codec's round trip (see tests.strategies)."""
    return normalize_json if codec_name.startswith("json") else normalize_msgpack


def expected_after(codec_name: str, envelope: Envelope) -> Envelope:
    normalize = normalizer(codec_name)
    return msgspec.structs.replace(
        envelope,
        args=tuple(normalize(arg) for arg in envelope.args),
        kwargs=normalize(envelope.kwargs),
        options=normalize(envelope.options),
    )


def sample(**kwargs: Any) -> Envelope:
    fields: dict[str, Any] = {"task_id": "t1", "module": "tests.seed.jobs", "callable": "add"}
    fields.update(kwargs)
    return Envelope(version=ENVELOPE_VERSION, **fields)


def test_every_builtin_codec_is_registered() -> None:
    assert set(BUILTIN) <= set(codecs.registry.names())


# -- round trips ---------------------------------------------------------------------


@pytest.mark.parametrize("name", BUILTIN)
@FAST
@given(envelope=envelopes(MSGPACK_SAFE_SCALARS))
def test_round_trip_by_name_and_by_sniffing(name: str, envelope: Envelope) -> None:
    # Given any envelope encoded by one codec
    codec = codecs.get_codec(name)
    data = codec.encode(envelope)
    expected = expected_after(name, envelope)
    # Then the same codec decodes it, only what the format cannot represent
    # having changed (tuples, and bytes in JSON) ...
    assert codec.decode(data) == expected
    # ... and so do the sniffed codec and the registry, never told the codec
    assert codecs.sniff(data).decode(data) == expected
    assert codecs.decode(data) == expected
    # ... and compression never made it larger than the plain format
    inner = codecs.get_codec(name.partition("+")[0])
    assert len(data) <= len(inner.encode(envelope))


def test_msgpack_keeps_bytes_and_json_turns_them_into_base64_text() -> None:
    envelope = sample(args=(b"\x00\xff",))
    assert codecs.MSGPACK.decode(codecs.MSGPACK.encode(envelope)).args == (b"\x00\xff",)
    assert codecs.JSON.decode(codecs.JSON.encode(envelope)).args == ("AP8=",)


@pytest.mark.parametrize("name", ["json", "msgpack"])
def test_trailing_defaults_are_left_off_the_wire(name: str) -> None:
    # Given a plain task and one whose last option (priority) is set
    codec = codecs.get_codec(name)
    plain = sample(args=(1, 2))
    prioritised = sample(args=(1, 2), priority=5)
    # When both are encoded
    plain_data, prioritised_data = codec.encode(plain), codec.encode(prioritised)
    # Then the plain one carries only the fields that differ from their
    # defaults, the other everything up to its priority, and both decode whole
    decode = msgspec.json.decode if name == "json" else msgspec.msgpack.decode
    assert decode(plain_data) == [ENVELOPE_VERSION, "t1", "tests.seed.jobs", "add", [1, 2]]
    assert len(decode(prioritised_data)) == 15
    assert codec.decode(plain_data) == plain
    assert codec.decode(prioritised_data) == prioritised


# -- compression ---------------------------------------------------------------------


def envelope_of_size(inner: Codec, size: int, text: str) -> Envelope:
    """An envelope whose ``inner`` encoding is at least ``size`` bytes, padded with ``text``."""
    envelope = sample(args=(text,))
    while len(inner.encode(envelope)) < size:
        envelope = sample(args=(envelope.args[0] + text,))
    return envelope


@pytest.mark.parametrize("name", COMPRESSED)
def test_compressed_codecs_keep_the_smaller_of_compressed_and_raw(name: str) -> None:
    # Given a compressing codec, and envelopes over its threshold: one that
    # compresses well and one of random text that compression would grow
    codec = codecs.get_codec(name)
    assert isinstance(codec, codecs.CompressedCodec)
    inner = codec.inner
    large = sample(args=("spam and eggs " * 2_000,))
    noise = envelope_of_size(inner, codec.min_size, uuid.uuid4().hex)
    # When both are encoded
    large_data, noise_data = codec.encode(large), codec.encode(noise)
    # Then each goes out in whichever form is shorter, and decodes either way
    assert codec.matches(large_data)
    assert len(large_data) < len(inner.encode(large)) // 10
    assert codecs.decode(large_data) == large
    assert len(noise_data) <= len(inner.encode(noise))
    assert codecs.decode(noise_data) == expected_after(name, noise)


@pytest.mark.parametrize("name", COMPRESSED)
def test_a_payload_under_the_threshold_skips_the_compressor(name: str) -> None:
    # Given a compressing codec and an envelope just under its threshold
    # that the compressor would have shrunk (it repeats itself)
    codec = codecs.get_codec(name)
    assert isinstance(codec, codecs.CompressedCodec)
    small = envelope_of_size(codec.inner, codec.min_size - 40, "ab")
    raw = codec.inner.encode(small)
    compress = bz2.compress if name.endswith("bz2") else zlib.compress
    assert len(raw) < codec.min_size and len(compress(raw)) < len(raw)
    # When it is encoded
    data = codec.encode(small)
    # Then it goes out as the inner codec wrote it, and any worker still
    # recognises and decodes it without being told the codec
    assert data == raw
    assert codecs.sniff(data) is codec.inner
    assert codec.decode(data) == codecs.decode(data) == small


@pytest.mark.parametrize("name", COMPRESSED)
def test_the_threshold_is_where_compression_starts_paying(name: str) -> None:
    # Given a typical small task (well under any threshold)
    codec = codecs.get_codec(name)
    assert isinstance(codec, codecs.CompressedCodec)
    compress = bz2.compress if name.endswith("bz2") else zlib.compress
    tiny = codec.inner.encode(sample(args=(42,), kwargs={"template": "welcome"}))
    # Then compressing it would not have made it smaller: nothing was lost
    assert len(compress(tiny)) >= len(tiny)


def test_a_threshold_of_zero_tries_every_payload() -> None:
    # Given a zlib codec told to try even the smallest payload
    codec = codecs.zlib_codec(codecs.JSON, min_size=0)
    medium = envelope_of_size(codecs.JSON, 120, "ab")
    raw = codecs.JSON.encode(medium)
    # When a payload that zlib shrinks is encoded
    data = codec.encode(medium)
    # Then the compressed form is kept
    assert data == zlib.compress(raw) and len(data) < len(raw)
    assert codecs.decode(data) == medium


def test_a_tiny_envelope_goes_out_raw_when_compression_does_not_pay() -> None:
    codec = codecs.get_codec("msgpack+bz2")
    tiny = sample()
    assert len(bz2.compress(codecs.MSGPACK.encode(tiny))) > len(codecs.MSGPACK.encode(tiny))
    data = codec.encode(tiny)
    assert data == codecs.MSGPACK.encode(tiny)
    assert codecs.sniff(data) is codecs.MSGPACK


def test_a_compressed_payload_may_wrap_any_registered_codec() -> None:
    # A producer using msgpack+bz2 can be read by a worker configured for json+bz2.
    envelope = sample(args=("x" * 5_000,))
    data = codecs.get_codec("msgpack+bz2").encode(envelope)
    assert data.startswith(b"BZh")
    assert codecs.get_codec("json+bz2").decode(data) == envelope


# -- registration --------------------------------------------------------------------


class ReversedJson:
    """A custom codec: JSON reversed behind its own magic prefix."""

    MAGIC = b"REVJ"

    def __init__(self, name: str) -> None:
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    def encode(self, envelope: Envelope) -> bytes:
        return self.MAGIC + codecs.JSON.encode(envelope)[::-1]

    def decode(self, data: bytes) -> Envelope:
        return codecs.JSON.decode(data[len(self.MAGIC) :][::-1])

    def matches(self, data: bytes) -> bool:
        return data.startswith(self.MAGIC)


@pytest.fixture
def custom_codec() -> Iterator[Codec]:
    codec = codecs.register_codec(ReversedJson(f"reversed-json-{uuid.uuid4().hex[:8]}"))
    yield codec
    codecs.unregister_codec(codec.name)


def add(a: int, b: int) -> int:
    return a + b


def test_a_custom_codec_is_used_by_name_and_decoded_by_a_worker_unconfigured(
    custom_codec: Codec,
) -> None:
    # Given a Gator using a custom codec registered by name
    reset_stores("codecs-custom")
    gator = Gator("locmem://codecs-custom", codec=custom_codec.name)
    # When a task is enqueued
    task = gator.task(add, 2, 3)
    # Then what the Gator pushed is that codec's encoding of the task (read back
    # from the queue, then put back as it was)
    held = gator.broker.reserve(gator.queue_name, 30)
    assert held is not None
    assert held.data.startswith(ReversedJson.MAGIC)
    assert codecs.sniff(held.data) is custom_codec
    assert custom_codec.decode(held.data).task_id == task.task_id
    assert gator.broker.release(gator.queue_name, held)
    # And a worker with a default Gator, told nothing of the codec, runs it
    results: list[int] = []

    class Keep(Worker):
        def result(self, result: Any) -> None:
            results.append(result)

    worker = Keep(Gator("locmem://codecs-custom"), max_tasks=1, poll_timeout=0.05)
    assert worker.check_and_run_task()
    assert results == [5]
    assert gator.len() == 0
    assert gator.broker.buried(gator.queue_name) == []


def test_a_duplicate_codec_name_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="already registered"):
        codecs.register_codec(codecs.JsonCodec())
    fresh = codecs.CodecRegistry()
    fresh.register(ReversedJson("mine"))
    with pytest.raises(ConfigurationError, match="'mine'"):
        fresh.register(ReversedJson("mine"))
    fresh.register(ReversedJson("mine"), replace=True)
    assert fresh.names() == ["mine"]


def test_an_unknown_codec_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownCodecError) as info:
        Gator("locmem://codecs-unknown", codec="yaml")
    message = str(info.value)
    assert "'yaml'" in message
    for name in BUILTIN:
        assert name in message


# -- bad arguments, bad payloads -----------------------------------------------------


class Opaque:
    pass


@pytest.mark.parametrize("codec", ["json", "msgpack", "json+zlib"])
@pytest.mark.parametrize(
    "bad_args",
    [(object(),), (Opaque(),), (complex(1, 2),), ({"nested": [object()]},)],
    ids=["object", "instance", "complex", "nested"],
)
def test_unencodable_arguments_fail_at_enqueue(codec: str, bad_args: tuple[Any, ...]) -> None:
    # Given a Gator and arguments the codec cannot encode
    reset_stores("codecs-unencodable")
    gator = Gator("locmem://codecs-unencodable", codec=codec)
    # When the task is enqueued
    with pytest.raises(EncodeError, match="cannot encode"):
        gator.task(add, *bad_args, 1)  # type: ignore[call-overload]
    # Then it fails there, with nothing left for a worker to trip over
    assert gator.len() == 0


def test_an_integer_msgpack_cannot_carry_fails_at_enqueue_while_json_keeps_it() -> None:
    reset_stores("codecs-bigint")
    with pytest.raises(EncodeError):
        Gator("locmem://codecs-bigint", codec="msgpack").task(add, 2**70, 1)
    # json carries the exact value: it is on the wire and the task gets it back
    gator = Gator("locmem://codecs-bigint", codec="json")
    gator.task(add, 2**70, 1)
    held = gator.broker.reserve(gator.queue_name, 30)
    assert held is not None
    assert str(2**70).encode() in held.data
    assert codecs.decode(held.data).args == (2**70, 1)
    assert gator.broker.release(gator.queue_name, held)
    assert tasks.result_of(gator.pop()) == 2**70 + 1


def test_a_set_argument_is_sent_as_a_list() -> None:
    # msgspec encodes sets as arrays, so a set is not an error but arrives as a list.
    envelope = sample(args=({3},))
    for name in ("json", "msgpack"):
        codec = codecs.get_codec(name)
        assert codec.decode(codec.encode(envelope)).args == ([3],)


@pytest.mark.parametrize("name", BUILTIN)
@FAST
@given(envelope=envelopes(), data=st.data())
def test_a_truncated_payload_is_a_decode_error_keeping_the_bytes(
    name: str, envelope: Envelope, data: st.DataObject
) -> None:
    # Given any payload cut short
    payload = codecs.get_codec(name).encode(envelope)
    cut = payload[: data.draw(st.integers(min_value=0, max_value=len(payload) - 1))]
    # When it is decoded
    with pytest.raises(DecodeError) as info:
        codecs.decode(cut)
    # Then the error keeps the bytes it could not decode
    assert info.value.data == cut


@FAST
@given(garbage=st.binary(max_size=200))
def test_arbitrary_bytes_decode_or_raise_decode_error_only(garbage: bytes) -> None:
    try:
        envelope = codecs.decode(garbage)
    except DecodeError as exc:
        assert isinstance(exc.data, bytes)
    else:
        assert isinstance(envelope, Envelope)


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("json", b'[1,"t1","m"'),
        ("json", b'["not-a-version","t1","m","c"]'),
        ("msgpack", b"\x94\x01\xa2t1"),
        ("json+bz2", b"BZh9" + b"\x00" * 20),
        ("json+zlib", b"\x78\x9c" + b"\xff" * 20),
        ("msgpack+zlib", b"\x78\xda"),
    ],
)
def test_a_corrupt_payload_is_a_decode_error_keeping_the_bytes(name: str, payload: bytes) -> None:
    for decode in (codecs.get_codec(name).decode, codecs.decode):
        with pytest.raises(DecodeError) as info:
            decode(payload)
        assert info.value.data == payload


def test_a_payload_of_an_unknown_format_names_its_leading_bytes() -> None:
    with pytest.raises(DecodeError, match="matches no registered codec") as info:
        codecs.decode(b"<xml/>")
    assert info.value.data == b"<xml/>"


def _bomb(padding: int) -> bytes:
    """A valid JSON envelope inflated by whitespace: decodable but for the size limit."""
    return b'[1,"t1",' + b" " * padding + b'"m","c"]'


@pytest.mark.parametrize(
    ("name", "compress"), [("json+bz2", bz2.compress), ("json+zlib", zlib.compress)]
)
def test_a_decompression_bomb_is_refused(
    name: str, compress: Callable[[bytes], bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the limit lowered so the test stays small, and payloads on both sides of it
    monkeypatch.setattr(codecs, "MAX_DECOMPRESSED", 4096)
    codec = codecs.get_codec(name)
    small, bomb = compress(_bomb(1000)), compress(_bomb(100_000))
    # Then the one under the limit decodes and the one over it is refused
    assert codec.decode(small).task_id == "t1"
    with pytest.raises(DecodeError, match="limit") as info:
        codec.decode(bomb)
    assert info.value.data == bomb


def test_the_default_decompression_limit_refuses_a_zlib_bomb() -> None:
    # About 64 KiB on the wire that would inflate past the 64 MiB default limit.
    bomb = zlib.compress(_bomb(codecs.MAX_DECOMPRESSED), 9)
    assert len(bomb) < 100_000
    with pytest.raises(DecodeError, match="limit"):
        codecs.decode(bomb)


# -- one compression layer, one budget, nothing after the stream --------------------

COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {"bz2": bz2.compress, "zlib": zlib.compress}
#: Far below the 64 MiB budget and the 16 MiB one level of the bombs here
#: inflates to. (tracemalloc sees what Python allocates, the decompressed
#: bytes among it; not the compressors' own state, ~3.7 MB for bz2 at most.)
SMALL_PEAK = 1024 * 1024


def nested_bomb(algorithms: list[str], padding: int) -> bytes:
    """The attack of issue 13: every level a compressed payload followed by zeros.

    The innermost level is a valid envelope. Each level out is the level
    inside it plus ``padding`` zero bytes, compressed: a decoder that reads
    what follows a compressed stream as harmless, and decodes what it
    decompressed again, inflates ``padding`` bytes per level.
    """
    data = COMPRESSORS[algorithms[0]](_bomb(0))
    for algorithm in algorithms[1:]:
        data = COMPRESSORS[algorithm](data + bytes(padding))
    return data


def peak_memory_of(action: Callable[[], object]) -> int:
    """The most memory Python allocated while ``action`` ran, in bytes, over what it held."""
    already_tracing = tracemalloc.is_tracing()  # e.g. under PYTHONTRACEMALLOC
    if not already_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    held, _ = tracemalloc.get_traced_memory()
    try:
        action()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        if not already_tracing:
            tracemalloc.stop()
    return peak - held


def decode_expecting_refusal(data: bytes) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        codecs.decode(data)
    return info.value


@pytest.mark.parametrize(
    "algorithms",
    [["bz2"] * 4, ["zlib"] * 4, ["zlib", "bz2", "zlib", "bz2"]],
    ids=["bz2", "zlib", "mixed"],
)
def test_a_nested_compression_bomb_is_refused_without_inflating_it(algorithms: list[str]) -> None:
    # Given four levels of compression, each carrying 16 MiB of zeros after
    # the level inside it (each level under the 64 MiB budget on its own)
    bomb = nested_bomb(algorithms, 16 * 1024 * 1024)
    assert len(bomb) < 100_000
    # When a worker decodes it
    errors: list[DecodeError] = []
    peak = peak_memory_of(lambda: errors.append(decode_expecting_refusal(bomb)))
    # Then it is refused for its nesting, keeping the bytes, having allocated
    # far less than a single level inflates to
    [error] = errors
    assert "one compression layer" in str(error)
    assert error.data == bomb
    assert peak < SMALL_PEAK


@pytest.mark.parametrize("outer", ["bz2", "zlib"])
@pytest.mark.parametrize("inner", ["bz2", "zlib"])
def test_compressed_content_that_is_itself_compressed_is_refused(outer: str, inner: str) -> None:
    # Given a valid compressed envelope, compressed once more
    once = COMPRESSORS[inner](_bomb(2000))
    assert codecs.decode(once).task_id == "t1"
    twice = COMPRESSORS[outer](once)
    # Then every way of decoding it refuses, naming both layers
    for name in (f"json+{outer}", f"msgpack+{outer}"):
        with pytest.raises(DecodeError, match=f"{outer} payload holds {inner} data"):
            codecs.get_codec(name).decode(twice)
    with pytest.raises(DecodeError, match="only one compression layer"):
        codecs.decode(twice)
    with pytest.raises(DecodeError, match="only one compression layer"):
        codecs.sniff(twice)


@pytest.mark.parametrize("algorithm", ["bz2", "zlib"])
def test_the_budget_is_exact_and_the_decompressor_stops_at_it(
    algorithm: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the budget lowered to 64 KiB, and envelopes inflating to exactly
    # the budget, one byte over it, and 32 MiB over it
    limit = 64 * 1024
    monkeypatch.setattr(codecs, "MAX_DECOMPRESSED", limit)
    compress = COMPRESSORS[algorithm]
    at_limit = compress(_bomb(limit - len(_bomb(0))))
    over = compress(_bomb(limit - len(_bomb(0)) + 1))
    far_over = compress(_bomb(32 * 1024 * 1024))
    # Then the first decodes, the others are refused for the budget ...
    assert codecs.decode(at_limit).task_id == "t1"
    for data in (over, far_over):
        assert "65,536-byte limit" in str(decode_expecting_refusal(data))
    # ... without the decompressor producing much more than the budget
    assert peak_memory_of(lambda: decode_expecting_refusal(far_over)) < SMALL_PEAK


@pytest.mark.parametrize("algorithm", ["bz2", "zlib"])
@pytest.mark.parametrize(
    "trailer",
    [b"\x00", b"garbage", b"\x00" * 10_000, "stream"],
    ids=["nul", "garbage", "zeros", "second-stream"],
)
def test_bytes_after_the_compressed_stream_are_refused(
    algorithm: str, trailer: bytes | str
) -> None:
    # Given a valid compressed envelope followed by anything at all (here,
    # possibly a second complete compressed stream)
    compress = COMPRESSORS[algorithm]
    valid = compress(_bomb(2000))
    extra = compress(_bomb(10)) if trailer == "stream" else trailer
    assert isinstance(extra, bytes)
    data = valid + extra
    # Then it is refused, saying how many bytes follow the stream
    error = decode_expecting_refusal(data)
    assert f"{len(extra):,} bytes follow the end of the {algorithm} stream" in str(error)
    assert error.data == data
    with pytest.raises(DecodeError):
        codecs.get_codec(f"msgpack+{algorithm}").decode(data)


# -- sniffing names the codec that wrote a payload -----------------------------------

#: Envelopes by their JSON size: a typical task (under both thresholds), one
#: between zlib's 256 and bz2's 512 bytes, and ~1.4 KB and ~56 KB ones.
SNIFF_SIZES = [100, 400, 1_400, 56_000]


@pytest.mark.parametrize("size", SNIFF_SIZES)
@pytest.mark.parametrize("name", BUILTIN)
def test_sniff_names_the_codec_of_every_builtin_payload(name: str, size: int) -> None:
    # Given a payload of every built-in codec, of a typical and of larger sizes
    codec = codecs.get_codec(name)
    envelope = envelope_of_size(codecs.JSON, size, "spam and eggs ")
    data = codec.encode(envelope)
    # When a worker sniffs it
    sniffed = codecs.sniff(data)
    # Then it names the codec that wrote it; a payload a compressing codec
    # stored uncompressed (under its threshold) is byte for byte its inner
    # codec's, and is named so
    stored_plain = False
    if isinstance(codec, codecs.CompressedCodec):
        stored_plain = len(codec.inner.encode(envelope)) < codec.min_size
        assert codec.matches(data) is not stored_plain
    expected = name.partition("+")[0] if stored_plain else name
    assert sniffed.name == expected
    assert sniffed.decode(data) == expected_after(name, envelope)


@pytest.mark.parametrize("name", COMPRESSED)
def test_sniff_names_the_codec_of_a_payload_compressed_at_any_size(name: str) -> None:
    # Given a payload compressed whatever its size (a threshold of zero)
    codec = codecs.get_codec(name)
    assert isinstance(codec, codecs.CompressedCodec)
    make = codecs.bz2_codec if codec.algorithm == "bz2" else codecs.zlib_codec
    eager = make(codec.inner, min_size=0)
    data = eager.encode(sample(args=("spam " * 100,)))
    assert codec.matches(data)
    # Then the registered codec of that name is what sniffing finds
    assert codecs.sniff(data) is codec


@pytest.mark.parametrize(
    "payload",
    [b"BZh9" + b"\x00" * 20, b"\x78\x9c" + b"\xff" * 20, b"\x78\xda"],
    ids=["bz2", "zlib", "zlib-truncated"],
)
def test_sniffing_a_corrupt_compressed_payload_is_a_decode_error(payload: bytes) -> None:
    with pytest.raises(DecodeError) as info:
        codecs.sniff(payload)
    assert info.value.data == payload
