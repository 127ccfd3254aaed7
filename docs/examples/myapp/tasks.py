"""Task functions of the example app: plain, module-level, typed functions."""

from __future__ import annotations

import asyncio
import datetime
import time

#: Seconds the pretend mail server takes to answer (0 in the tests).
SMTP_DELAY = 0.0

#: What the pretend mail server "sent", in order: (user id, template).
OUTBOX: list[tuple[int, str]] = []

#: Calls of :func:`flaky_sync` so far, by key.
CALLS: dict[str, int] = {}


def send_welcome_email(user_id: int, template: str = "welcome") -> bool:
    """Talk to a slow mail server: the work a web view should not wait for."""
    time.sleep(SMTP_DELAY)
    OUTBOX.append((user_id, template))
    return True


def create_thumbnail(photo_path: str, size: int = 128) -> str:
    """Pretend to resize an image; returns the thumbnail's path."""
    stem, _, ext = photo_path.rpartition(".")
    return f"{stem}.{size}px.{ext}"


def add(a: int, b: int) -> int:
    return a + b


class TemporaryOutage(Exception):
    """A failure worth retrying."""


def flaky_sync(key: str, failures: int) -> int:
    """Fail the first ``failures`` calls for ``key``, then succeed; returns the call count."""
    CALLS[key] = CALLS.get(key, 0) + 1
    if CALLS[key] <= failures:
        raise TemporaryOutage(f"{key}: try {CALLS[key]} failed")
    return CALLS[key]


def tag_summary(tags: set[str], day: datetime.date) -> str:
    """Typed parameters: the worker restores a set and a date from the wire."""
    if not isinstance(tags, set) or not isinstance(day, datetime.date):
        raise TypeError(f"got {type(tags).__name__} and {type(day).__name__}")
    return f"{day.isoformat()}: {', '.join(sorted(tags))}"


async def fetch_page(url: str) -> bytes:
    """An ``async def`` task: a worker awaits it, many at once with ``--concurrency``."""
    await asyncio.sleep(0.01)  # an HTTP client's await in a real application
    return f"<html>{url}</html>".encode()
