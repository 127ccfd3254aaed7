"""Plain task functions used by the extending-guide tests."""

from __future__ import annotations

#: Every call, in order, so tests can assert what ran and how often.
calls: list[tuple[str, object]] = []


def send_welcome_email(user_pk: int) -> str:
    calls.append(("email", user_pk))
    return f"sent to {user_pk}"


def create_thumbnail(photo_path: str) -> str:
    calls.append(("thumbnail", photo_path))
    return photo_path + ".thumb.png"


def add(a: int, b: int) -> int:
    calls.append(("add", (a, b)))
    return a + b


def shout(text: str, *, times: int = 1) -> str:
    calls.append(("shout", text))
    return text.upper() * times
