"""The "Hook Methods" example of the extending guide, typed.

``requests`` and the app's cache are replaced by in-memory stand-ins so the
example runs offline: :data:`STATUS` scripts what each feed URL answers.
"""

from __future__ import annotations

import logging

from alligator import Task

log = logging.getLogger(__name__)

#: Scripted HTTP status codes per URL; each call takes the next, the last repeats.
STATUS: dict[str, list[int]] = {}
#: Stands in for ``cache.incr("feeds_imported", ...)``.
COUNTERS: dict[str, int] = {}


class FeedUnavailable(Exception):
    pass


class FeedNotFound(Exception):
    pass


def http_status(url: str) -> int:
    answers = STATUS.get(url, [200])
    return answers.pop(0) if len(answers) > 1 else answers[0]


# This is the main task function.
def fetch_feeds(feeds: list[str]) -> int:
    for feed_url in feeds:
        status = http_status(feed_url)
        if status == 503:
            raise FeedUnavailable(feed_url)
        if status != 200:
            raise FeedNotFound(feed_url)
        # Some other processing of the feed data
    return len(feeds)


# Hook functions: typed with the task's result type, int.
def log_start(task: Task[int]) -> None:
    log.info("Starting to import feeds via task %s...", task.task_id)


def log_success(task: Task[int], result: int) -> None:
    log.info("Finished importing %d feeds via task %s.", result, task.task_id)
    COUNTERS["feeds_imported"] = COUNTERS.get("feeds_imported", 0) + result


def maybe_retry_error(task: Task[int], err: Exception) -> None:
    if isinstance(err, FeedUnavailable):
        # Try again soon.
        task.retries += 1
    else:
        log.error("Importing feed url %s failed.", err)
