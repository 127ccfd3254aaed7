"""The "Different Workers" example: a Worker that logs instead of printing.

It overrides ``starting``/``stopping``/``result`` without calling ``super()``.
"""

from __future__ import annotations

import logging
from typing import Any

from alligator import Worker

log = logging.getLogger("alligator.worker")


class LoggingWorker(Worker):
    def starting(self) -> None:
        ident = self.ident()
        log.info(f'{ident} starting & consuming "{self.to_consume}".')

        if self.max_tasks:
            log.info(f"{ident} will die after {self.max_tasks} tasks.")
        else:
            log.info(f"{ident} will never die.")

    def stopping(self) -> None:
        ident = self.ident()
        log.info(
            f'{ident} for "{self.to_consume}" shutting down. Consumed {self.tasks_complete} tasks.'
        )

    def result(self, result: Any) -> None:
        # Because we don't usually care about the return values.
        log.debug(result)
