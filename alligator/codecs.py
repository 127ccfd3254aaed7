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
from alligator.wire import Envelope, check_version

__all__ = [
    "JSON",
    "MSGPACK",
    "CodecRegistry",
    "CompressedCodec",
    "JsonCodec",
    "MsgpackCodec",
    "decode",
    "get_codec",
    "register_codec",
    "registry",
    "sniff",
    "unregister_codec",
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
            return self._encoder.encode(envelope)
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
            return self._encoder.encode(envelope)
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


class CompressedCodec:
    """Compresses another codec's output when that makes it smaller.

    Tiny envelopes often grow when compressed, so the compressed form is kept
    only when it is shorter; otherwise the inner codec's bytes go out as they
    are, and the registry still recognises them.
    """

    def __init__(
        self,
        inner: Codec,
        algorithm: str,
        compress: Callable[[bytes], bytes],
        decompress: Callable[[bytes], bytes],
        magic: bytes,
    ) -> None:
        self.inner = inner
        self.algorithm = algorithm
        self._compress = compress
        self._decompress = decompress
        self._magic = magic

    @property
    def name(self) -> str:
        return f"{self.inner.name}+{self.algorithm}"

    def encode(self, envelope: Envelope) -> bytes:
        raw = self.inner.encode(envelope)
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


def bz2_codec(inner: Codec) -> CompressedCodec:
    """bz2 around ``inner``: the smallest output for large text payloads."""
    return CompressedCodec(inner, "bz2", bz2.compress, _bz2_decompress, b"BZh")


def zlib_codec(inner: Codec) -> CompressedCodec:
    """zlib around ``inner``: several times faster than bz2, a little larger."""
    return CompressedCodec(inner, "zlib", zlib.compress, _zlib_decompress, b"\x78")


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
