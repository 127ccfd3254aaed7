"""Peer measurements, run by the peers' own interpreter (benchmarks/.venv-peers).

A plain script: it imports RQ, Dramatiq, Huey and Celery, which are never
installed into the library's environment, so mypy never sees this folder (see
pyproject's [tool.mypy] exclude). Each call measures one thing and prints one
``RESULT {json}`` line:

    run_peer.py versions
    run_peer.py SYSTEM enqueue URL N
    run_peer.py rq bulk URL N BATCH
    run_peer.py SYSTEM drain URL N      SYSTEM: rq-simple rq-worker dramatiq huey celery
    run_peer.py SYSTEM results URL N    SYSTEM: rq dramatiq; N add(1, 2) run with
                                        results kept (the caller reads the memory left)

Drains time from the worker's start until its Nth task has run; where the
peer's worker loop cannot be told to stop after N tasks, the Nth completion
records the time, prints the result and ends the process.
"""

import json
import logging
import os
import sys
import threading
import time
from importlib import metadata

from peer_tasks import add

QUEUE = "bench"
#: The real stdout, kept before a peer (Celery) redirects sys.stdout to its logger.
RESULT_FD = os.dup(1)


def report(**result):
    os.write(RESULT_FD, ("RESULT " + json.dumps(result) + "\n").encode())


def finish_at(n, started):
    """A callback that, called for the nth time, reports and ends the process."""
    lock = threading.Lock()
    count = [0]

    def done(*_args, **_kwargs):
        with lock:
            count[0] += 1
            if count[0] == n:
                report(seconds=time.perf_counter() - started[0])
                os._exit(0)

    return done


# -- RQ -------------------------------------------------------------------------


def rq_queue(url):
    from redis import Redis
    from rq import Queue

    return Queue(QUEUE, connection=Redis.from_url(url))


def rq_enqueue(url, n):
    queue = rq_queue(url)
    started = time.perf_counter()
    for _ in range(n):
        queue.enqueue(add, 1, 2)
    return time.perf_counter() - started


def rq_bulk(url, n, batch):
    from rq import Queue

    queue = rq_queue(url)
    started = time.perf_counter()
    for start in range(0, n, batch):
        size = min(batch, n - start)
        queue.enqueue_many([Queue.prepare_data(add, (1, 2)) for _ in range(size)])
    return time.perf_counter() - started


def rq_drain(url, n, simple):
    from rq import SimpleWorker, Worker

    queue = rq_queue(url)
    worker = (SimpleWorker if simple else Worker)([queue], connection=queue.connection)
    started = time.perf_counter()
    worker.work(burst=True, max_jobs=n, logging_level="WARNING")
    return time.perf_counter() - started


# -- Dramatiq -------------------------------------------------------------------


def dramatiq_actor(url):
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker

    broker = RedisBroker(url=url)
    dramatiq.set_broker(broker)
    return broker, dramatiq.actor(add, broker=broker, queue_name=QUEUE)


def dramatiq_enqueue(url, n):
    _, actor = dramatiq_actor(url)
    started = time.perf_counter()
    for _ in range(n):
        actor.send(1, 2)
    return time.perf_counter() - started


def dramatiq_drain(url, n):
    import dramatiq

    broker, _ = dramatiq_actor(url)
    started = [0.0]
    done = finish_at(n, started)

    class Count(dramatiq.Middleware):
        def after_process_message(self, broker, message, *, result=None, exception=None):
            done()

    broker.add_middleware(Count())
    worker = dramatiq.Worker(broker, worker_threads=1)
    started[0] = time.perf_counter()
    worker.start()
    threading.Event().wait(600)


def dramatiq_results(url, n):
    """Enqueue and run ``n`` add(1, 2) with Dramatiq's Results middleware on Redis.

    The worker is stopped (letting its threads finish) once the nth message
    was processed, so every result is stored before this process reports.
    """
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker
    from dramatiq.results import Results
    from dramatiq.results.backends.redis import RedisBackend

    broker = RedisBroker(url=url)
    done = threading.Event()
    count = [0]

    class Count(dramatiq.Middleware):
        def after_process_message(self, broker, message, *, result=None, exception=None):
            count[0] += 1
            if count[0] == n:
                done.set()

    broker.add_middleware(Count())
    broker.add_middleware(Results(backend=RedisBackend(url=url)))
    dramatiq.set_broker(broker)
    actor = dramatiq.actor(add, broker=broker, queue_name=QUEUE, store_results=True)
    started = time.perf_counter()
    for _ in range(n):
        actor.send(1, 2)
    worker = dramatiq.Worker(broker, worker_threads=1)
    worker.start()
    done.wait(600)
    worker.stop()
    broker.close()
    return time.perf_counter() - started


def rq_results(url, n):
    """Enqueue and run ``n`` add(1, 2) with RQ's default result_ttl (500 s)."""
    rq_enqueue(url, n)
    return rq_drain(url, n, simple=True)


# -- Huey -----------------------------------------------------------------------


def huey_task(url):
    from huey import RedisHuey

    huey = RedisHuey("bench", url=url)
    return huey, huey.task()(add)


def huey_enqueue(url, n):
    _, task = huey_task(url)
    started = time.perf_counter()
    for _ in range(n):
        task(1, 2)
    return time.perf_counter() - started


def huey_drain(url, n):
    from huey.signals import SIGNAL_COMPLETE

    huey, _ = huey_task(url)
    started = [0.0]
    huey.signal(SIGNAL_COMPLETE)(finish_at(n, started))
    consumer = huey.create_consumer(workers=1, worker_type="thread", periodic=False)
    started[0] = time.perf_counter()
    consumer.run()


# -- Celery ---------------------------------------------------------------------


def celery_task(url):
    from celery import Celery

    app = Celery("bench", broker=url)
    app.conf.update(task_default_queue=QUEUE, worker_hijack_root_logger=False)
    return app, app.task(name="add")(add)


def celery_enqueue(url, n):
    _, task = celery_task(url)
    started = time.perf_counter()
    for _ in range(n):
        task.delay(1, 2)
    return time.perf_counter() - started


def celery_drain(url, n):
    from celery.signals import task_postrun

    app, _ = celery_task(url)
    started = [0.0]
    task_postrun.connect(finish_at(n, started), weak=False)
    worker = app.Worker(
        pool="solo",
        concurrency=1,
        loglevel="WARNING",
        quiet=True,
        redirect_stdouts=False,
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
    )
    started[0] = time.perf_counter()
    worker.start()


# -- dispatch -------------------------------------------------------------------

ENQUEUE = {"rq": rq_enqueue, "dramatiq": dramatiq_enqueue, "huey": huey_enqueue}
ENQUEUE["celery"] = celery_enqueue
DRAIN = {
    "rq-simple": lambda url, n: rq_drain(url, n, simple=True),
    "rq-worker": lambda url, n: rq_drain(url, n, simple=False),
    "dramatiq": dramatiq_drain,
    "huey": huey_drain,
    "celery": celery_drain,
}


def versions():
    names = ["rq", "dramatiq", "huey", "celery", "kombu", "redis", "matplotlib"]
    return {name: metadata.version(name) for name in names}


def main(argv):
    # Dramatiq warns on every discarded return value; logging it would be timed too.
    logging.basicConfig(level=logging.ERROR)
    if argv[0] == "versions":
        report(versions=versions(), python=sys.version.split()[0])
        return
    system, mode, url, n = argv[0], argv[1], argv[2], int(argv[3])
    if mode == "enqueue":
        report(seconds=ENQUEUE[system](url, n))
    elif mode == "results":
        report(seconds={"rq": rq_results, "dramatiq": dramatiq_results}[system](url, n))
    elif mode == "bulk":
        report(seconds=rq_bulk(url, n, int(argv[4])))
    else:
        seconds = DRAIN[system](url, n)
        report(seconds=seconds)


if __name__ == "__main__":
    main(sys.argv[1:])
