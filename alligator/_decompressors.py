"""Bounded decompression: one compressed payload, read a limited step at a time.

A queue may hold anything, and it is decompressed before the allow-list is
consulted, so a stream must never inflate more than it is asked for, and
must refuse a payload that is truncated or has bytes after its end marker.
:class:`~alligator.codecs.CompressedCodec` drives these streams; the
standard library's one-shot ``zlib.decompress``/``bz2.decompress`` would
produce the whole output before any limit could be checked.
"""

from __future__ import annotations

import bz2
import zlib
from typing import Final, Protocol

__all__ = ["Bz2Stream", "Decompressor", "ZlibStream"]


class Decompressor(Protocol):
    """One compressed stream, decompressed a bounded step at a time.

    A :class:`CompressedCodec` asks for the first 64 KiB (to see what the
    stream holds), then for the rest up to one byte over its budget, so a
    payload is refused before its output is produced, not after.
    """

    def read(self, max_length: int) -> bytes:
        """Up to ``max_length`` (at least 1) more bytes of output; ``b""`` once the stream ended.

        Raises:
            ValueError: the data is corrupt, ends before its stream does, or
                has bytes after the end of the stream (``OSError``,
                ``EOFError`` and ``zlib.error`` are also taken as corrupt).
        """
        ...


def _trailing(algorithm: str, unused: bytes) -> ValueError:
    return ValueError(f"{len(unused):,} bytes follow the end of the {algorithm} stream")


_TRUNCATED: Final = "the compressed stream ends before its end marker (truncated)"


class ZlibStream:
    """``zlib.decompressobj`` fed one payload; input it has not used yet waits in ``_input``."""

    __slots__ = ("_input", "_obj")

    def __init__(self, data: bytes) -> None:
        self._obj = zlib.decompressobj()
        self._input = data

    def read(self, max_length: int) -> bytes:
        obj = self._obj
        while not obj.eof:
            if not self._input:
                raise ValueError(_TRUNCATED)
            out = obj.decompress(self._input, max_length)
            # Input left over because the output hit max_length; when the
            # output is empty, all input was used and the loop ends.
            self._input = obj.unconsumed_tail
            if out:
                return out
        if obj.unused_data:
            raise _trailing("zlib", obj.unused_data)
        return b""


class Bz2Stream:
    """``bz2.BZ2Decompressor`` fed one payload; it buffers unused input itself."""

    __slots__ = ("_input", "_obj")

    def __init__(self, data: bytes) -> None:
        self._obj = bz2.BZ2Decompressor()
        self._input = data

    def read(self, max_length: int) -> bytes:
        obj = self._obj
        if not obj.eof:
            out = obj.decompress(self._input, max_length)
            self._input = b""
            if out:
                return out
            if not obj.eof:  # all input used, no output, no end marker
                raise ValueError(_TRUNCATED)
        if obj.unused_data:
            raise _trailing("bz2", obj.unused_data)
        return b""
