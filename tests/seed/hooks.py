"""The "Hook Methods" example: fetch feeds, log, count, and retry when unavailable.

``requests`` and ``myapp.utils.cache`` are replaced by in-memory fakes so the
example runs with no network; the hooks record their calls for the tests.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from alligator import Task

log = logging.getLogger(__name__)


class FeedUnavailable(Exception):
    pass


class FeedNotFound(Exception):
    pass


@dataclass
class FakeResponse:
    status_code: int


@dataclass
class FakeRequests:
    """Stands in for ``requests``: each URL answers a scripted series of status codes."""

    script: dict[str, list[int]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def get(self, url: str) -> FakeResponse:
        self.calls.append(url)
        answers = self.script.get(url, [200])
        # The last scripted answer repeats forever.
        status = answers.pop(0) if len(answers) > 1 else answers[0]
        return FakeResponse(status)


@dataclass
class FakeCache:
    counts: dict[str, int] = field(default_factory=dict)

    def incr(self, key: str, incr_by: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + incr_by


requests = FakeRequests()
cache = FakeCache()
#: (hook name, task id, argument) for every hook call, in order.
events: list[tuple[str, str, object]] = []


def reset() -> None:
    """Forget every scripted answer, call and count (between tests)."""
    requests.script.clear()
    requests.calls.clear()
    cache.counts.clear()
    events.clear()


# This is the main task function.
def fetch_feeds(feeds: list[str]) -> int:
    for feed_url in feeds:
        resp = requests.get(feed_url)

        if resp.status_code == 503:
            raise FeedUnavailable(feed_url)
        elif resp.status_code != 200:
            raise FeedNotFound(feed_url)

        # Some other processing of the feed data

    return len(feeds)


# Hook functions
def log_start(task: Task[int]) -> None:
    events.append(("on_start", task.task_id, None))
    log.info(f"Starting to import feeds via task {task.task_id}...")


def log_success(task: Task[int], result: int) -> None:
    events.append(("on_success", task.task_id, result))
    log.info(f"Finished importing {result} feeds via task {task.task_id}.")
    cache.incr("feeds_imported", incr_by=result)


def maybe_retry_error(task: Task[int], err: Exception) -> None:
    events.append(("on_error", task.task_id, err))
    if isinstance(err, FeedUnavailable):
        # Try again soon.
        task.retries += 1
    else:
        log.error(f"Importing feed url {err!s} failed.")
