"""What every part of the PostgreSQL client reads: its clock, channels, empty-queue notes.

A base below the client and each of its mixins (leases, buried tasks, flow,
results): they call down into it, never up into the client's module, which
keeps a task's route from claim to settle a one-way street.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from alligator.backends._postgresql_listen import channel_of

if TYPE_CHECKING:
    from alligator.backends._checks import QueueNames
    from alligator.backends._postgresql_driver import Target
    from alligator.backends._postgresql_leases import Quiet

__all__ = ["ClientState"]


class ClientState:
    """The clock, the channel names and the empty-queue notes of one client."""

    if TYPE_CHECKING:  # set by the client's constructor
        target: Target
        _names: QueueNames
        _clock: Callable[[], float] | None
        _channels: dict[str, str]
        _quiet: dict[str, Quiet]

    def _now(self) -> float | None:
        """The injected clock's reading; ``None``: the server's own clock."""
        return None if self._clock is None else self._clock()

    def _channel(self, queue_name: str) -> str:
        """The queue's NOTIFY channel, named once per queue."""
        channel = self._channels.get(queue_name)
        if channel is None:
            self._names.check(queue_name)
            channel = self._channels[queue_name] = channel_of(self.target.schema, queue_name)
        return channel

    def _changed(self, queue_name: str) -> None:
        """This client changed the queue: what it knew about it being empty is void."""
        self._quiet.pop(queue_name, None)
