"""The "Different Workers" example: a Worker that reports through ``logging`` only."""

from __future__ import annotations

import logging
from typing import Any

from alligator import Worker

log = logging.getLogger("myapp.worker")


class LoggingWorker(Worker):
    # Overriding these without calling super() is fine: the loop lives elsewhere.
    def starting(self) -> None:
        ident = self.ident()
        log.info('%s starting & consuming "%s".', ident, self.to_consume)
        if self.max_tasks:
            log.info("%s will die after %d tasks.", ident, self.max_tasks)
        else:
            log.info("%s will never die.", ident)

    def stopping(self) -> None:
        log.info(
            '%s for "%s" shutting down. Consumed %d tasks.',
            self.ident(),
            self.to_consume,
            self.tasks_complete,
        )

    def result(self, result: Any) -> None:
        # Because we don't usually care about the return values.
        log.debug("result: %r", result)
