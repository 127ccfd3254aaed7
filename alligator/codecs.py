"""Codecs: the envelope to bytes and back, and compression around them.

Every codec is an object built once with its msgspec ``Encoder``/``Decoder``
reused for every task. A worker never needs to be told the codec: the
registry recognises each built-in format by its leading bytes.
"""

from __future__ import annotations

import bz2
import threading
import zlib
from collections.abc import Callable, Iterator
from typing import Final

import msgspec

from alligator.exceptions import ConfigurationError, DecodeError, EncodeError, UnknownCodecError
from alligator.protocols import Codec
from alligator.wire import Envelope, check_version, wire_fields

__all__ = [
    "BZ2_MIN_SIZE",
    "JSON",
    "MAX_DECOMPRESSED",
    "MSGPACK",
    "ZLIB_MIN_SIZE",
    "CodecRegistry",
    "CompressedCodec",
    "JsonCodec",
    "MsgpackCodec",
    "bz2_codec",
    "decode",
    "get_codec",
    "register_codec",
    "registry",
    "sniff",
    "unregister_codec",
    "zlib_codec",
]

#: Decompressed payloads larger than this are refused (decompression bombs).
MAX_DECOMPRESSED: Final = 64 * 1024 * 1024

_ENCODE_ERRORS = (TypeError, ValueError, OverflowError, msgspec.EncodeError)


class JsonCodec:
    """Compact JSON; readable with any tool, the default."""

    name = "json"

    def __init__(self) -> None:
        self._encoder = msgspec.json.Encoder()
        self._decoder = msgspec.json.Decoder(Envelope)

    def encode(self, envelope: Envelope) -> bytes:
        try:
            return self._encoder.encode(wire_fields(envelope))
        except _ENCODE_ERRORS as exc:
            raise EncodeError(f"json cannot encode the task's arguments: {exc}") from exc

    def decode(self, data: bytes) -> Envelope:
        try:
            return check_version(self._decoder.decode(data), data)
        except msgspec.DecodeError as exc:
            raise DecodeError(f"invalid json task payload: {exc}", data) from exc

    def matches(self, data: bytes) -> bool:
        return data[:1] == b"["


class MsgpackCodec:
    """MessagePack: smaller and faster than JSON, keeps bytes as bytes."""

    name = "msgpack"

    def __init__(self) -> None:
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(Envelope)

    def encode(self, envelope: Envelope) -> bytes:
        try:
            return self._encoder.encode(wire_fields(envelope))
        except _ENCODE_ERRORS as exc:
            raise EncodeError(f"msgpack cannot encode the task's arguments: {exc}") from exc

    def decode(self, data: bytes) -> Envelope:
        try:
            return check_version(self._decoder.decode(data), data)
        except msgspec.DecodeError as exc:
            raise DecodeError(f"invalid msgpack task payload: {exc}", data) from exc

    def matches(self, data: bytes) -> bool:
        # An envelope is an array: fixarray (0x90-0x9f), array16 or array32.
        return bool(data) and (0x90 <= data[0] <= 0x9F or data[0] in (0xDC, 0xDD))


def _bz2_decompress(data: bytes) -> bytes:
    decompressor = bz2.BZ2Decompressor()
    out = decompressor.decompress(data, max_length=MAX_DECOMPRESSED)
    if not decompressor.eof:
        raise ValueError("truncated or larger than the decompression limit")
    return out


def _zlib_decompress(data: bytes) -> bytes:
    decompressor = zlib.decompressobj()
    out = decompressor.decompress(data, MAX_DECOMPRESSED)
    if not decompressor.eof or decompressor.unconsumed_tail:
        raise ValueError("truncated or larger than the decompression limit")
    return out


#: Payloads shorter than this skip zlib: below ~150-250 B of envelope zlib's
#: output is no smaller, or a few bytes smaller for ~4 us of CPU.
ZLIB_MIN_SIZE: Final = 256
#: Payloads shorter than this skip bz2: its 4-byte header and block framing
#: make anything under ~300-400 B grow, at ~25-45 us per call.
BZ2_MIN_SIZE: Final = 512


class CompressedCodec:
    """Compresses another codec's output when that makes it smaller.

    Payloads under ``min_size`` bytes go out as the inner codec wrote them
    without calling the compressor at all: a typical envelope is 60-250 bytes,
    which zlib shrinks by a few bytes at best and bz2 always grows, so the
    attempt only cost time (``json+bz2`` enqueued at under half ``json``'s
    rate). At or above it, the compressed form is kept only when it is
    shorter. Either way the inner codec's bytes start as that codec's do (a
    JSON array, a msgpack array), never with the compressor's magic, so the
    registry still recognises a raw payload and any worker decodes it.

    Args:
        inner: the codec whose output is compressed.
        algorithm: the name after ``+`` (``"json+zlib"``).
        compress: bytes to compressed bytes.
        decompress: the inverse, refusing output over :data:`MAX_DECOMPRESSED`.
        magic: the leading bytes of every compressed payload.
        min_size: the smallest payload worth compressing (0: try them all).
    """

    def __init__(
        self,
        inner: Codec,
        algorithm: str,
        compress: Callable[[bytes], bytes],
        decompress: Callable[[bytes], bytes],
        magic: bytes,
        *,
        min_size: int = 0,
    ) -> None:
        self.inner = inner
        self.algorithm = algorithm
        self.min_size = min_size
        self._compress = compress
        self._decompress = decompress
        self._magic = magic

    @property
    def name(self) -> str:
        return f"{self.inner.name}+{self.algorithm}"

    def encode(self, envelope: Envelope) -> bytes:
        raw = self.inner.encode(envelope)
        if len(raw) < self.min_size:
            return raw
        packed = self._compress(raw)
        return packed if len(packed) < len(raw) else raw

    def decode(self, data: bytes) -> Envelope:
        if not data.startswith(self._magic):
            return self.inner.decode(data)
        try:
            raw = self._decompress(data)
        except (OSError, ValueError, EOFError, zlib.error) as exc:
            raise DecodeError(f"invalid {self.algorithm} task payload: {exc}", data) from exc
        # The producer may have wrapped any registered codec.
        return registry.sniff(raw).decode(raw)

    def matches(self, data: bytes) -> bool:
        return data.startswith(self._magic)


def bz2_codec(inner: Codec, *, min_size: int = BZ2_MIN_SIZE) -> CompressedCodec:
    """bz2 around ``inner``: the smallest output for payloads of a few KB and up.

    Below ~1-2 KB zlib's output is as small or smaller, and bz2 costs about
    ten times its CPU; bz2 earns its place on large text payloads and under a
    hard size limit (beanstalkd's 64 KiB jobs).
    """
    return CompressedCodec(inner, "bz2", bz2.compress, _bz2_decompress, b"BZh", min_size=min_size)


def zlib_codec(inner: Codec, *, min_size: int = ZLIB_MIN_SIZE) -> CompressedCodec:
    """zlib around ``inner``: several times faster than bz2, a little larger on big payloads."""
    return CompressedCodec(
        inner, "zlib", zlib.compress, _zlib_decompress, b"\x78", min_size=min_size
    )


class CodecRegistry:
    """Codecs by name, and recognition of a payload's codec by its bytes.

    Codecs registered later are tried first when sniffing, so a custom codec
    can claim a prefix a built-in one would also accept.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_name: dict[str, Codec] = {}

    def register(self, codec: Codec, *, replace: bool = False) -> Codec:
        with self._lock:
            if codec.name in self._by_name and not replace:
                raise ConfigurationError(
                    f"a codec named {codec.name!r} is already registered; "
                    "pass replace=True to replace it"
                )
            self._by_name[codec.name] = codec
        return codec

    def unregister(self, name: str) -> None:
        """Forget the codec ``name`` (payloads it wrote can then no longer be read)."""
        with self._lock:
            if self._by_name.pop(name, None) is None:
                raise UnknownCodecError(f"no codec named {name!r} is registered")

    def get(self, name: str) -> Codec:
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(sorted(self._by_name))
            raise UnknownCodecError(f"unknown codec {name!r}; known codecs: {known}") from None

    def __iter__(self) -> Iterator[Codec]:
        return iter(reversed(list(self._by_name.values())))

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def sniff(self, data: bytes) -> Codec:
        for codec in self:
            if codec.matches(data):
                return codec
        raise DecodeError(f"payload matches no registered codec (leading bytes {data[:8]!r})", data)

    def decode(self, data: bytes) -> Envelope:
        return self.sniff(data).decode(data)


registry: Final = CodecRegistry()
JSON: Final = registry.register(JsonCodec())
MSGPACK: Final = registry.register(MsgpackCodec())
for _inner in (JSON, MSGPACK):
    registry.register(bz2_codec(_inner))
    registry.register(zlib_codec(_inner))


def register_codec(codec: Codec, *, replace: bool = False) -> Codec:
    """Make ``codec`` available by name to ``Gator(codec=...)`` and to workers."""
    return registry.register(codec, replace=replace)


def unregister_codec(name: str) -> None:
    """Remove a codec registered with :func:`register_codec`."""
    registry.unregister(name)


def get_codec(codec: str | Codec) -> Codec:
    """Look a codec up by name; a codec object is returned unchanged."""
    return registry.get(codec) if isinstance(codec, str) else codec


def sniff(data: bytes) -> Codec:
    """The registered codec that wrote ``data``."""
    return registry.sniff(data)


def decode(data: bytes) -> Envelope:
    """Decode a payload written by any registered codec."""
    return registry.decode(data)
