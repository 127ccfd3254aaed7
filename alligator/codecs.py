"""Codecs: the envelope to bytes and back, and compression around them.

Every codec is an object built once with its msgspec ``Encoder``/``Decoder``
reused for every task. A worker never needs to be told the codec: the
registry recognises each built-in format by its leading bytes.

Decoding is bounded, because it runs on whatever a queue holds, before the
allow-list is consulted: a compressed payload carries exactly one compression
layer (its content may not be compressed again), decompresses in steps to at
most :data:`MAX_DECOMPRESSED` bytes in all, and must end where its compressed
stream ends.

This module holds the compression wrapper and the registry, which need each
other (a compressed payload's content is looked up in the registry; the
registry sees through a compressor to name the codec); the serializers it
wraps are in :mod:`alligator._serializers`, the bounded decompression streams
in :mod:`alligator._decompressors`. Every name stays importable from here.
"""

from __future__ import annotations

import bz2
import threading
import zlib
from collections.abc import Callable, Iterator
from typing import Final

from alligator._decompressors import Bz2Stream, Decompressor, ZlibStream
from alligator._serializers import JsonCodec, MsgpackCodec
from alligator.exceptions import ConfigurationError, DecodeError, UnknownCodecError
from alligator.protocols import Codec
from alligator.wire import Envelope

__all__ = [
    "BZ2_MIN_SIZE",
    "JSON",
    "MAX_DECOMPRESSED",
    "MSGPACK",
    "ZLIB_MIN_SIZE",
    "CodecRegistry",
    "CompressedCodec",
    "Decompressor",
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

#: The most bytes decompression may produce for one payload (decompression
#: bombs). With one compression layer allowed, this bounds the whole decode.
MAX_DECOMPRESSED: Final = 64 * 1024 * 1024

#: Payloads shorter than this skip zlib: below ~150-250 B of envelope zlib's
#: output is no smaller, or a few bytes smaller for ~4 us of CPU.
ZLIB_MIN_SIZE: Final = 256
#: Payloads shorter than this skip bz2: its 4-byte header and block framing
#: make anything under ~300-400 B grow, at ~25-45 us per call.
BZ2_MIN_SIZE: Final = 512


#: The first step of decompression: most payloads whole, and all that a
#: payload whose content is compressed again costs before it is refused.
_FIRST_STEP: Final = 64 * 1024
#: What sniffing decompresses: enough for any codec's leading bytes.
_PEEK: Final = 64
_CORRUPT: Final = (OSError, ValueError, EOFError, zlib.error)


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

    Decoding reads exactly one compression layer: the content may be any
    registered codec's output except a compressed one (nested compression
    would multiply the budget per level). It is decompressed in steps, the
    first 64 KiB first, so nested content is refused before more of it is
    inflated, and in all to at most :data:`MAX_DECOMPRESSED` bytes. Bytes
    after the end of the compressed stream are refused too: they were either
    corruption or room to smuggle data a decoder would skip.

    Args:
        inner: the codec whose output is compressed.
        algorithm: the name after ``+`` (``"json+zlib"``).
        compress: bytes to compressed bytes.
        decompressor: a fresh :class:`Decompressor` over one payload.
        magic: the leading bytes of every compressed payload.
        min_size: the smallest payload worth compressing (0: try them all).
    """

    def __init__(
        self,
        inner: Codec,
        algorithm: str,
        compress: Callable[[bytes], bytes],
        decompressor: Callable[[bytes], Decompressor],
        magic: bytes,
        *,
        min_size: int = 0,
    ) -> None:
        self.inner = inner
        self.algorithm = algorithm
        self.min_size = min_size
        self._compress = compress
        self._decompressor = decompressor
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
        codec, content = self._inflate(data, MAX_DECOMPRESSED)  # read per call: tests lower it
        return codec.decode(content)

    def matches(self, data: bytes) -> bool:
        return data.startswith(self._magic)

    def content_codec(self, data: bytes) -> Codec:
        """The registered codec of what ``data`` holds, from its first decompressed bytes.

        Raises:
            DecodeError: corrupt, its content matches no registered codec,
                or is compressed again.
        """
        return self._inflate(data, _PEEK, whole=False)[0]

    def _inflate(self, data: bytes, limit: int, *, whole: bool = True) -> tuple[Codec, bytes]:
        """The codec of ``data``'s content and the content, at most ``limit`` bytes of it."""
        try:
            stream = self._decompressor(data)
            first = stream.read(min(_FIRST_STEP, limit + 1))
            codec = self._content_codec(first, data)
            parts = [first]
            size = len(first)
            while whole and size <= limit:
                chunk = stream.read(limit + 1 - size)
                if not chunk:
                    return codec, first if len(parts) == 1 else b"".join(parts)
                parts.append(chunk)
                size += len(chunk)
        except DecodeError:
            raise
        except _CORRUPT as exc:
            raise DecodeError(f"invalid {self.algorithm} task payload: {exc}", data) from exc
        if not whole:
            return codec, first
        raise DecodeError(
            f"invalid {self.algorithm} task payload: it decompresses to more than the "
            f"{limit:,}-byte limit (codecs.MAX_DECOMPRESSED)",
            data,
        )

    def _content_codec(self, content: bytes, data: bytes) -> Codec:
        """The registered codec that wrote ``content``: never a compressing one."""
        # The producer may have wrapped any registered codec, so look it up.
        found = registry.first_match(content)
        if isinstance(found, CompressedCodec):
            raise DecodeError(
                f"invalid {self.algorithm} task payload: the {self.algorithm} payload holds "
                f"{found.algorithm} data, and a task payload may carry only one compression "
                "layer",
                data,
            )
        if found is None:
            raise DecodeError(
                f"invalid {self.algorithm} task payload: its content matches no registered "
                f"codec (leading bytes {content[:8]!r})",
                data,
            )
        return found


def bz2_codec(inner: Codec, *, min_size: int = BZ2_MIN_SIZE) -> CompressedCodec:
    """bz2 around ``inner``: the smallest output for payloads of a few KB and up.

    Below ~1-2 KB zlib's output is as small or smaller, and bz2 costs about
    ten times its CPU; bz2 earns its place on large text payloads and under a
    hard size limit (beanstalkd's 64 KiB jobs).
    """
    return CompressedCodec(inner, "bz2", bz2.compress, Bz2Stream, b"BZh", min_size=min_size)


def zlib_codec(inner: Codec, *, min_size: int = ZLIB_MIN_SIZE) -> CompressedCodec:
    """zlib around ``inner``: several times faster than bz2, a little larger on big payloads."""
    return CompressedCodec(inner, "zlib", zlib.compress, ZlibStream, b"\x78", min_size=min_size)


class CodecRegistry:
    """Codecs by name, and recognition of a payload's codec by its bytes.

    Codecs registered later are tried first when sniffing, so a custom codec
    can claim a prefix a built-in one would also accept.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_name: dict[str, Codec] = {}
        self._order: tuple[Codec, ...] = ()  # sniffing order: the latest first

    def register(self, codec: Codec, *, replace: bool = False) -> Codec:
        with self._lock:
            if codec.name in self._by_name and not replace:
                raise ConfigurationError(
                    f"a codec named {codec.name!r} is already registered; "
                    "pass replace=True to replace it"
                )
            self._by_name[codec.name] = codec
            self._order = tuple(reversed(self._by_name.values()))
        return codec

    def unregister(self, name: str) -> None:
        """Forget the codec ``name`` (payloads it wrote can then no longer be read)."""
        with self._lock:
            if self._by_name.pop(name, None) is None:
                raise UnknownCodecError(f"no codec named {name!r} is registered")
            self._order = tuple(reversed(self._by_name.values()))

    def get(self, name: str) -> Codec:
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(sorted(self._by_name))
            raise UnknownCodecError(f"unknown codec {name!r}; known codecs: {known}") from None

    def __iter__(self) -> Iterator[Codec]:
        return iter(self._order)

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def first_match(self, data: bytes) -> Codec | None:
        """The first codec, latest registered first, whose ``matches`` accepts ``data``.

        Only leading bytes count, so a compressed payload matches a codec of
        its compressor whatever that codec wraps: enough to decode it (the
        compressed codecs decode any registered content), not to name it.
        """
        for codec in self._order:
            if codec.matches(data):
                return codec
        return None

    def sniff(self, data: bytes) -> Codec:
        """The registered codec that wrote ``data``.

        A compressed payload is named by what it holds as well: its first
        few bytes are decompressed to tell ``json+zlib`` from
        ``msgpack+zlib``. A payload a compressing codec stored uncompressed
        (under its ``min_size``) is byte for byte its inner codec's output,
        and is named as that codec (which decodes it the same way).

        Raises:
            DecodeError: no registered codec matches, or a compressed payload
                is corrupt or holds compressed content.
        """
        codec = self.first_match(data)
        if codec is None:
            raise DecodeError(
                f"payload matches no registered codec (leading bytes {data[:8]!r})", data
            )
        if isinstance(codec, CompressedCodec):
            return self._wrapper_of(codec, data)
        return codec

    def _wrapper_of(self, found: CompressedCodec, data: bytes) -> Codec:
        """The registered codec of ``found``'s compressor around what ``data`` holds."""
        inner = found.content_codec(data)
        for codec in self._order:
            if (
                isinstance(codec, CompressedCodec)
                and codec.algorithm == found.algorithm
                and codec.inner is inner
                and codec.matches(data)
            ):
                return codec
        # Content of a codec registered without this compressor around it:
        # the compressor's codec still decodes it.
        return found

    def decode(self, data: bytes) -> Envelope:
        codec = self.first_match(data)
        if codec is None:
            raise DecodeError(
                f"payload matches no registered codec (leading bytes {data[:8]!r})", data
            )
        return codec.decode(data)


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
    """The registered codec that wrote ``data`` (see :meth:`CodecRegistry.sniff`)."""
    return registry.sniff(data)


def decode(data: bytes) -> Envelope:
    """Decode a payload written by any registered codec."""
    return registry.decode(data)
