"""Typing checks that must fail: things that do not conform to the protocols.

Each line marked ``# E: <code>`` must get exactly that mypy error code, and no
other line may get any (tests/test_typing.py).
"""

from __future__ import annotations

from alligator import Gator, Task, protocols
from alligator.backends import beanstalk_backend


class NoPop:
    def __init__(self, conn_string: str) -> None:
        self.conn_string = conn_string

    def len(self, queue_name: str) -> int:
        return 0

    def drop_all(self, queue_name: str) -> None:
        pass

    def push(self, queue_name: str, task_id: str, data: bytes) -> str:
        return task_id

    def get(self, queue_name: str, task_id: str) -> bytes | None:
        return None


class StrPayloads(NoPop):
    def pop(self, queue_name: str) -> str | None:
        return None


class NotATask:
    pass


class NamelessCodec:
    def encode(self, envelope: object) -> bytes:
        return b""


client: protocols.Client = NoPop("x://")  # E: assignment
text_client: protocols.Client = StrPayloads("x://")  # E: assignment
reliable: protocols.ReliableClient = StrPayloads("x://")  # E: assignment
Gator("x://", backend_class=NoPop)  # E: arg-type
Gator("locmem://typing", task_class=NotATask)  # E: arg-type
codec: protocols.Codec = NamelessCodec()  # E: assignment
Gator("locmem://typing", codec=NamelessCodec())  # E: arg-type
task: protocols.Task[str] = Task[int]()  # E: assignment
worker: protocols.Worker = Gator("locmem://typing")  # E: assignment
# beanstalkd reads its bury reasons all at once: it does not page them.
pages: protocols.BuriedPages = beanstalk_backend.Client("beanstalk://typing")  # E: assignment
