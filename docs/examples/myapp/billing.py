"""Task functions with flow control: limits declared on the functions themselves."""

from __future__ import annotations

from alligator import Limit, limited

#: What the pretend payment provider charged, in order: (merchant, cents).
CHARGED: list[tuple[int, int]] = []
#: Calls the pretend partner API received.
PARTNER_CALLS: list[str] = []
#: Indexes rebuilt, in order.
REBUILT: list[int] = []


@limited(Limit(concurrency=3, per="merchant_id"))
def charge_card(merchant_id: int, cents: int) -> None:
    """At most three charges of one merchant run at once, across every worker."""
    CHARGED.append((merchant_id, cents))


@limited(Limit(rate=10, period=1.0))
def call_partner_api(payload: str) -> None:
    """At most ten calls start in any second, across every worker."""
    PARTNER_CALLS.append(payload)


def rebuild_index(index_id: int) -> None:
    """Expensive and idempotent: one pending rebuild per index is enough."""
    REBUILT.append(index_id)
