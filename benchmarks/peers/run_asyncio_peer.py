"""The asyncio peers (arq, SAQ, taskiq) on the benchmark's Redis, run by the peers' venv.

A plain script (the peers are never installed into the library's
environment, so mypy never sees this folder). Each call prints one
``RESULT {json}`` line:

    run_asyncio_peer.py versions
    run_asyncio_peer.py SYSTEM WORKLOAD URL N CONCURRENCY    SYSTEM: arq saq taskiq

WORKLOAD is ``noop`` (``aadd(1, 2)``) or ``sleep`` (``await asyncio.sleep(0.1)``).
The process enqueues N tasks one awaited call at a time (timed: ``enqueue``),
then runs one worker in this process with CONCURRENCY tasks at once and times
it from its start until its Nth task has run (``seconds``): the Nth
completion reports and ends the process, as ``run_peer.py`` does, since none
of these workers can be told to stop after N tasks exactly.

Settings beside the defaults, and why:

* arq: ``max_jobs=CONCURRENCY`` and ``poll_delay=0.01`` (default 0.5 s: arq
  polls its queue, sleeping that long between fetches when it has nothing
  new, which alone would cost the sleep drain about 2 s); results kept as
  by default (``keep_result`` 3,600 s).
* SAQ: ``concurrency=CONCURRENCY``; its defaults otherwise.
* taskiq: taskiq-redis's ``ListQueueBroker`` (LPUSH / BRPOP: a task taken
  by a worker that dies is lost), the receiver run in this process as
  ``taskiq worker --max-async-tasks CONCURRENCY`` would run it; no result
  backend (taskiq's default).
"""

import asyncio
import json
import logging
import os
import sys
import time
from importlib import metadata

QUEUE = "bench"
SLEEP = 0.1
RESULT_FD = os.dup(1)


def report(**result):
    os.write(RESULT_FD, ("RESULT " + json.dumps(result) + "\n").encode())


class Finish:
    """Counts completions; the nth reports the drain time and ends the process."""

    def __init__(self, n, enqueue_seconds):
        self.n = n
        self.count = 0
        self.enqueue = enqueue_seconds
        self.started = 0.0

    def start(self):
        self.started = time.perf_counter()

    def done(self, *_args, **_kwargs):
        self.count += 1
        if self.count == self.n:
            seconds = time.perf_counter() - self.started
            report(seconds=seconds, enqueue=self.enqueue, tasks=self.n)
            os._exit(0)


async def timed_enqueue(n, enqueue_one):
    started = time.perf_counter()
    for _ in range(n):
        await enqueue_one()
    return time.perf_counter() - started


# -- arq ------------------------------------------------------------------------


async def arq_aadd(ctx, a, b):
    return a + b


async def arq_asleep(ctx, seconds):
    await asyncio.sleep(seconds)


async def arq_run(url, workload, n, concurrency):
    from arq import create_pool
    from arq.connections import RedisSettings
    from arq.worker import Worker, func

    settings = RedisSettings.from_dsn(url)
    pool = await create_pool(settings, default_queue_name=QUEUE)
    name, args = ("aadd", (1, 2)) if workload == "noop" else ("asleep", (SLEEP,))
    finish = Finish(n, await timed_enqueue(n, lambda: pool.enqueue_job(name, *args)))
    await pool.aclose()

    async def after_job_end(ctx):
        finish.done()

    worker = Worker(
        [func(arq_aadd, name="aadd"), func(arq_asleep, name="asleep")],
        queue_name=QUEUE,
        redis_settings=settings,
        max_jobs=concurrency,
        poll_delay=0.01,
        handle_signals=False,
        after_job_end=after_job_end,
        log_results=False,
    )
    finish.start()
    await worker.main()


# -- SAQ ------------------------------------------------------------------------


async def saq_aadd(ctx, *, a, b):
    return a + b


async def saq_asleep(ctx, *, seconds):
    await asyncio.sleep(seconds)


async def saq_run(url, workload, n, concurrency):
    from saq import Queue, Worker

    queue = Queue.from_url(url, name=QUEUE)
    await queue.connect()
    if workload == "noop":
        name, kwargs = "aadd", {"a": 1, "b": 2}
    else:
        name, kwargs = "asleep", {"seconds": SLEEP}
    finish = Finish(n, await timed_enqueue(n, lambda: queue.enqueue(name, **kwargs)))

    async def after_process(ctx):
        finish.done()

    worker = Worker(
        queue,
        functions=[("aadd", saq_aadd), ("asleep", saq_asleep)],
        concurrency=concurrency,
        after_process=after_process,
    )
    finish.start()
    await worker.start()


# -- taskiq ---------------------------------------------------------------------


async def taskiq_aadd(a, b):
    return a + b


async def taskiq_asleep(seconds):
    await asyncio.sleep(seconds)


async def taskiq_run(url, workload, n, concurrency):
    from taskiq import TaskiqMiddleware
    from taskiq.api import run_receiver_task
    from taskiq_redis import ListQueueBroker

    broker = ListQueueBroker(url, queue_name=QUEUE)
    aadd = broker.register_task(taskiq_aadd, task_name="aadd")
    asleep = broker.register_task(taskiq_asleep, task_name="asleep")
    await broker.startup()
    if workload == "noop":
        finish = Finish(n, await timed_enqueue(n, lambda: aadd.kiq(1, 2)))
    else:
        finish = Finish(n, await timed_enqueue(n, lambda: asleep.kiq(SLEEP)))

    class Count(TaskiqMiddleware):
        def post_execute(self, message, result):
            finish.done()

    broker.add_middlewares(Count())
    finish.start()
    await run_receiver_task(broker, max_async_tasks=concurrency, run_startup=False)


# -- dispatch -------------------------------------------------------------------

RUN = {"arq": arq_run, "saq": saq_run, "taskiq": taskiq_run}


def main(argv):
    logging.basicConfig(level=logging.ERROR)
    if argv[0] == "versions":
        names = ["arq", "saq", "taskiq", "taskiq-redis"]
        report(versions={name: metadata.version(name) for name in names})
        return
    system, workload, url, n, concurrency = argv[0], argv[1], argv[2], int(argv[3]), int(argv[4])
    if workload not in ("noop", "sleep"):
        raise SystemExit(f"unknown workload {workload!r}")
    asyncio.run(RUN[system](url, workload, n, concurrency))
    raise SystemExit(f"{system}'s worker stopped before running {n} tasks")


if __name__ == "__main__":
    main(sys.argv[1:])
