"""HMAC-SHA256 signing of task payloads, with key rotation and replay binding.

Why: anyone who can write to the queue (a Redis or beanstalkd client, a
process with the SQLite file) can otherwise make a worker call any function
it can import. With a shared secret, a worker runs only payloads a key holder
produced; everything else is buried with the reason, never decoded.

Format of a signed payload (52 bytes of overhead)::

    MAGIC (4 bytes, b"AGS2") | key id (8) | valid from (8) | HMAC-SHA256 (32) | payload

* The MAC covers ``MAGIC + key id + valid from``, the **queue name and the
  task id** the payload was written for, and the payload (the whole encoded
  envelope, whatever codec or compression wrote it). No byte can change
  without the signature failing, and a signed payload copied to another
  queue, or pushed again under another id, is refused: a signed
  ``refund(42)`` read back from the backend cannot be replayed as a new task.
  Where the backend picks ids itself (beanstalkd) or cannot say which id it
  handed out (an Alligator 1.0 client), only the queue is bound.
* ``valid from`` is when the task may first run (the signing time, or its
  ``delay_until`` if later), in milliseconds. A verifier given ``max_age``
  refuses a payload whose ``valid from`` lies further back, which bounds how
  long a captured payload can be replayed under its own queue and id (after
  the task was acked, say). Without ``max_age`` nothing bounds that: the
  same bytes pushed again under the same id run again.
* The key id is ``HMAC-SHA256(key, b"alligator key id")[:8]``: it tells the
  verifier which of its keys to use without revealing the key, so keys can
  be rotated while old payloads are still queued.
* Verification uses :func:`hmac.compare_digest` (constant time) and happens
  before the codec sees a byte.
* ``MAGIC`` matches no built-in codec's leading bytes, so a worker can tell a
  signed payload from an unsigned one.

Rotation, with no task refused along the way:

1. Give every worker the new key as an extra verification key
   (``verify_keys=[new]``; CLI ``--verify-key-file`` / ``ALLIGATOR_VERIFY_KEYS``).
2. Switch producers (and workers) to ``signing_key=new, verify_keys=[old]``.
3. Once no payload signed with the old key remains queued or buried, drop it.

Turning signing on: a Gator without a key strips a signature without
checking it, so producers can start signing before workers get the key;
once a worker has ``signing_key``, it buries every unsigned payload.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable
from typing import Final

from alligator.exceptions import ConfigurationError, SignatureError

__all__ = [
    "MAGIC",
    "MIN_KEY_BYTES",
    "OVERHEAD",
    "Signer",
    "is_signed",
    "key_id",
    "unwrap",
]

#: Leading bytes of a signed payload (version 2 of the format: bound to queue and id).
MAGIC: Final = b"AGS2"
_KEY_ID_BYTES: Final = 8
_TIME_BYTES: Final = 8
_HEAD: Final = len(MAGIC) + _KEY_ID_BYTES + _TIME_BYTES
_MAC_BYTES: Final = hashlib.sha256().digest_size
#: Bytes a signature adds to a payload.
OVERHEAD: Final = _HEAD + _MAC_BYTES
#: Shortest key accepted: shorter secrets can be guessed offline from one payload.
MIN_KEY_BYTES: Final = 16

Key = bytes | str


def _as_bytes(key: Key) -> bytes:
    if isinstance(key, str):
        key = key.encode()
    if not isinstance(key, bytes):
        raise ConfigurationError(f"a signing key must be bytes or str, got {type(key).__name__}")
    if len(key) < MIN_KEY_BYTES:
        raise ConfigurationError(
            f"a signing key must be at least {MIN_KEY_BYTES} bytes (got {len(key)}); "
            'make one with: python -c "import secrets; print(secrets.token_hex(32))"'
        )
    return key


def key_id(key: Key) -> bytes:
    """The 8-byte id that names ``key`` in signed payloads without revealing it."""
    return hmac.new(_as_bytes(key), b"alligator key id", hashlib.sha256).digest()[:_KEY_ID_BYTES]


def is_signed(data: bytes) -> bool:
    """Whether ``data`` carries the signed-payload header."""
    return data[: len(MAGIC)] == MAGIC


def unwrap(data: bytes) -> bytes:
    """The payload inside a signed one, *without* checking the signature.

    Only for a Gator that has no key and so cannot check anything anyway;
    unsigned data is returned unchanged.
    """
    return data[OVERHEAD:] if is_signed(data) else data


class Signer:
    """Signs payloads with one key and verifies them against several.

    Args:
        signing_key: Signs every payload and verifies payloads signed with it.
        verify_keys: Extra keys accepted when verifying (older or newer keys
            during a rotation); never used to sign.

    Raises:
        ConfigurationError: a key shorter than :data:`MIN_KEY_BYTES`.
    """

    def __init__(self, signing_key: Key, verify_keys: Iterable[Key] = ()) -> None:
        self._key = _as_bytes(signing_key)
        self._id = key_id(self._key)
        self._keys: dict[bytes, bytes] = {}
        for key in (*verify_keys, self._key):
            raw = _as_bytes(key)
            self._keys[key_id(raw)] = raw
        self._header = MAGIC + self._id

    def __repr__(self) -> str:  # never show the keys
        return f"<Signer key id {self._id.hex()} (+{len(self._keys) - 1} verify keys)>"

    @property
    def key_id(self) -> str:
        """Hex id of the signing key, for logs and error messages."""
        return self._id.hex()

    def sign(
        self,
        payload: bytes,
        *,
        queue: str,
        task_id: str = "",
        valid_from: float | None = None,
    ) -> bytes:
        """``payload`` with the header and MAC in front, bound to ``queue`` and ``task_id``.

        Args:
            payload: The encoded task.
            queue: The queue it is written to.
            task_id: The id it is stored under; ``""`` where the backend
                picks ids (the verifier must then pass ``""`` too).
            valid_from: When the task may first run (epoch seconds; default
                now): what ``max_age`` counts from.
        """
        when = time.time() if valid_from is None else max(valid_from, time.time())
        head = self._header + int(when * 1000).to_bytes(_TIME_BYTES, "big")
        return head + self._mac(self._key, head, queue, task_id, payload) + payload

    def verify(
        self,
        data: bytes,
        *,
        queue: str,
        task_id: str = "",
        max_age: float | None = None,
    ) -> bytes:
        """The payload inside ``data`` if its signature checks out for ``queue`` and ``task_id``.

        Raises:
            SignatureError: unsigned, truncated, signed with a key this signer
                does not know, altered after signing, written for another
                queue or id, or (with ``max_age``) valid since longer than
                ``max_age`` seconds. ``data`` is kept on the exception.
        """
        if not is_signed(data):
            raise SignatureError(
                "payload is not signed, and this Gator requires signed payloads "
                "(signing_key is set): it was not produced by a holder of the key",
                data,
            )
        if len(data) < OVERHEAD:
            raise SignatureError(f"signed payload is truncated ({len(data)} bytes)", data)
        kid = data[len(MAGIC) : len(MAGIC) + _KEY_ID_BYTES]
        key = self._keys.get(kid)
        if key is None:
            raise SignatureError(
                f"payload is signed with an unknown key (key id {kid.hex()}); "
                "add that key to verify_keys if it is a legitimate old or new key",
                data,
            )
        head, mac, payload = data[:_HEAD], data[_HEAD:OVERHEAD], data[OVERHEAD:]
        if not hmac.compare_digest(self._mac(key, head, queue, task_id, payload), mac):
            raise SignatureError(
                f"bad signature (key id {kid.hex()}): the payload was altered after signing, "
                f"or was signed for another queue or task id than {queue!r}/{task_id!r}",
                data,
            )
        if max_age is not None:
            valid_from = int.from_bytes(head[-_TIME_BYTES:], "big") / 1000
            age = time.time() - valid_from
            if age > max_age:
                raise SignatureError(
                    f"signed payload is {age:,.0f} s old, over the {max_age:,.0f} s max_age: "
                    "refused as a possible replay",
                    data,
                )
        return payload

    @staticmethod
    def _mac(key: bytes, head: bytes, queue: str, task_id: str, payload: bytes) -> bytes:
        bound = _bound(queue) + _bound(task_id)
        return hmac.new(key, head + bound + payload, hashlib.sha256).digest()


def _bound(text: str) -> bytes:
    """``text`` length-prefixed, so ("ab", "c") and ("a", "bc") never sign alike."""
    raw = text.encode("utf-8", "surrogatepass")
    return len(raw).to_bytes(4, "big") + raw
