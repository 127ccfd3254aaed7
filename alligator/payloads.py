"""The rules a payload passes on its way to a backend and back.

A producer and a consumer of one queue must agree on them: the codec tasks
are written with, the signing keys, the size limit and the module allow-list.
:class:`Payloads` holds them once, for the Gator that writes payloads and
the consumer that reads and rewrites them (a retry re-encodes the task).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from alligator import codecs, signing
from alligator.exceptions import ConfigurationError, PayloadTooLarge
from alligator.protocols import Codec, Task, TaskClass
from alligator.tasks import Task as BuiltinTask
from alligator.utils import main_allowed

__all__ = ["Payloads", "check_allow_list"]


class Payloads:
    """Encodes tasks into payloads and decodes payloads into tasks.

    Args:
        task_class: Decodes payloads (its ``from_envelope`` when an
            allow-list is set, else its ``deserialize``).
        codec: Encodes tasks that have no codec of their own.
        max_payload: Largest payload written or read, in bytes.
        allowed_modules: Modules a decoded task may import from; ``None``: any.
        signer: Signs what is written and verifies what is read.
        in_process: The queue's tasks run in this process (``locmem://``), so
            functions of ``__main__`` may be named; elsewhere only a task run
            eagerly (``is_async=False``) may.
        bind_ids: Signatures bind the task id as well as the queue; ``False``
            where the backend picks ids or cannot report them.
        max_age: Refuse signed payloads valid since longer than this many
            seconds (see :mod:`alligator.signing`).
    """

    def __init__(
        self,
        task_class: TaskClass,
        codec: Codec,
        max_payload: int,
        allowed_modules: tuple[str, ...] | None,
        signer: signing.Signer | None,
        *,
        in_process: bool = False,
        bind_ids: bool = True,
        max_age: float | None = None,
    ) -> None:
        self.task_class = task_class
        self.codec = codec
        self.max_payload = max_payload
        self.allowed_modules = allowed_modules
        self.signer = signer
        self.in_process = in_process
        self.bind_ids = bind_ids
        self.max_age = max_age

    def encode(self, task: Task[Any], queue_name: str) -> bytes:
        """``task`` as a payload for ``queue_name``: encoded, signed, within ``max_payload``."""
        if task.codec is None:
            task.codec = self.codec
        if self.in_process or not task.is_async:
            with main_allowed():
                data = task.serialize()
        else:
            data = task.serialize()
        if self.signer is not None:
            data = self.signer.sign(
                data,
                queue=queue_name,
                task_id=task.task_id if self.bind_ids else "",
                valid_from=task.delay_until,
            )
        if len(data) > self.max_payload:
            raise PayloadTooLarge(
                f"task {task.task_id} encodes to {len(data):,} bytes, over the "
                f"{self.max_payload:,}-byte limit; pass smaller arguments (e.g. a key "
                "to data stored elsewhere), use a compressing codec such as "
                "'msgpack+zlib', or raise Gator(max_payload=...)"
            )
        return data

    def sign(self, data: bytes, queue_name: str, task_id: str) -> bytes:
        """An encoded payload signed for ``queue_name`` and ``task_id`` (unchanged: no key)."""
        if self.signer is None:
            return data
        return self.signer.sign(data, queue=queue_name, task_id=task_id if self.bind_ids else "")

    def verified(
        self, data: bytes, queue_name: str, task_id: str, *, check_age: bool = True
    ) -> bytes:
        """The payload inside ``data`` once its signature checks out for that queue and id.

        Without a signer a signature is stripped unchecked (so producers can
        start signing before workers hold the key).

        Raises:
            SignatureError: there is a signer and ``data`` is unsigned,
                altered, signed with a key it does not know, for another
                queue or id, or (unless ``check_age`` is off: an operator
                requeueing a buried task) too old for ``max_age``.
        """
        if self.signer is not None:
            return self.signer.verify(
                data,
                queue=queue_name,
                task_id=task_id if self.bind_ids else "",
                max_age=self.max_age if check_age else None,
            )
        return signing.unwrap(data)

    def decode(self, data: bytes, queue_name: str, task_id: str) -> Task[Any]:
        """A task from a payload: size, signature, ``allowed_modules``, then imports."""
        if len(data) > self.max_payload:
            raise PayloadTooLarge(
                f"payload is {len(data):,} bytes, over this Gator's {self.max_payload:,}-byte "
                "limit; it was not written through a Gator with the same max_payload"
            )
        data = self.verified(data, queue_name, task_id)
        if self.in_process:  # an in-process consumer may name its own __main__
            with main_allowed():
                return self._decoded(data)
        return self._decoded(data)

    def _decoded(self, data: bytes) -> Task[Any]:
        if self.allowed_modules is not None:
            return self.task_class.from_envelope(codecs.decode(data), self.allowed_modules)
        return self.task_class.deserialize(data)


def check_allow_list(
    task_class: type[BuiltinTask[Any]], allowed_modules: Iterable[str] | None
) -> tuple[str, ...] | None:
    """The allow-list as a tuple, refused when ``task_class`` could bypass it.

    The list is enforced by ``Task.from_envelope``; a task class that
    overrides ``deserialize`` imports by its own rules, so promising an
    allow-list with it would be a lie.
    """
    if allowed_modules is None:
        return None
    if isinstance(allowed_modules, str):
        raise ConfigurationError("allowed_modules is a list of module names, not one str")
    allowed = tuple(allowed_modules)
    if any(not isinstance(m, str) or not m or m.startswith(".") for m in allowed):
        raise ConfigurationError(f"allowed_modules must be module names, got {allowed!r}")
    overrides = (
        k for k in task_class.__mro__ if k is not BuiltinTask and issubclass(k, BuiltinTask)
    )
    if any("deserialize" in vars(k) for k in overrides):
        raise ConfigurationError(
            f"{task_class.__name__} overrides deserialize, so allowed_modules cannot be "
            "enforced on it; decode through Task.from_envelope instead"
        )
    return allowed
