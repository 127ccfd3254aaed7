"""The two built-in serializers: the envelope as JSON or MessagePack bytes.

Each is built once (its msgspec ``Encoder``/``Decoder`` reused for every
task) and registered by :mod:`alligator.codecs`, which also wraps each in
compression. They recognise their own output by its leading bytes, which is
what lets a worker decode a payload without being told its codec.
"""

from __future__ import annotations

import msgspec

from alligator.exceptions import DecodeError, EncodeError
from alligator.wire import Envelope, check_version, wire_fields

__all__ = ["JsonCodec", "MsgpackCodec"]

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
