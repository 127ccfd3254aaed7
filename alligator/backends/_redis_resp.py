"""Script calls as RESP requests, packed without redis-py's per-command encoder.

redis-py's ``pack_command`` encodes every argument of every call; a push
sends a dozen (the SHA, the queue's fixed keys, the task's bucket and
fields), and that encoding cost more than the script's run on the server.
Both drivers (the blocking :mod:`~alligator.backends._redis_driver` and the
asyncio :mod:`~alligator.backends._redis_async`) pack script calls here: the
``EVALSHA <sha>`` head of each script and the encoding of each key name are
made once and reused, so a call encodes only its arguments.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Final

__all__ = ["ScriptPacker", "sha_of"]

#: Most encoded key names kept (a queue has 1,032 keys at most).
_BULK_CACHE: Final = 50_000


def sha_of(head: bytes) -> str:
    """The script's SHA named in a head made by :meth:`ScriptPacker.head`."""
    return head[-42:-2].decode()


class ScriptPacker:
    """Packs EVALSHA requests, with the heads and key encodings of one connection cached."""

    def __init__(self) -> None:
        self._heads: dict[str, bytes] = {}
        self._bulks: dict[str, bytes] = {}

    def head(self, source: str) -> bytes:
        """``EVALSHA <sha>`` of the script ``source``, as RESP bulk strings."""
        head = self._heads.get(source)
        if head is None:
            sha = hashlib.sha1(source.encode()).hexdigest().encode()
            head = self._heads[source] = b"$7\r\nEVALSHA\r\n$40\r\n" + sha + b"\r\n"
        return head

    def pack(self, head: bytes, keys: Sequence[str], args: Sequence[bytes | str]) -> bytes:
        """The RESP array of one EVALSHA, with each key's encoding cached."""
        bulks = self._bulks
        if len(bulks) > _BULK_CACHE:
            bulks.clear()
        numkeys = str(len(keys)).encode()
        parts = [
            b"*%d\r\n" % (3 + len(keys) + len(args)),
            head,
            b"$%d\r\n%b\r\n" % (len(numkeys), numkeys),
        ]
        for key in keys:
            bulk = bulks.get(key)
            if bulk is None:
                raw = key.encode()
                bulk = bulks[key] = b"$%d\r\n%b\r\n" % (len(raw), raw)
            parts.append(bulk)
        for arg in args:
            # Ids read back from the store may carry undecodable bytes as
            # escapes (see Client.buried): they go back as those bytes.
            raw = arg.encode("utf-8", "surrogateescape") if isinstance(arg, str) else arg
            parts.append(b"$%d\r\n%b\r\n" % (len(raw), raw))
        return b"".join(parts)
