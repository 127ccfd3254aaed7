"""procrastinate on the benchmark's private PostgreSQL, run by the peers' venv.

A plain script (procrastinate is never installed into the library's
environment). Each call prints one ``RESULT {json}`` line:

    run_procrastinate.py versions
    run_procrastinate.py schema DSN       apply procrastinate's schema
    run_procrastinate.py enqueue DSN N    add.defer(a=1, b=2) N times, one by one
    run_procrastinate.py drain DSN N      one worker (concurrency 1) until the queue is empty

The drain times ``run_worker(wait=False)`` from its start until it returns,
which it does once no job is left; the N jobs are checked to have succeeded.
"""

import json
import logging
import os
import sys
import time
from importlib import metadata

import procrastinate

QUEUE = "bench"
RESULT_FD = os.dup(1)


def report(**result):
    os.write(RESULT_FD, ("RESULT " + json.dumps(result) + "\n").encode())


def make_app(dsn):
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=dsn))

    @app.task(name="add", queue=QUEUE)
    def add(a, b):
        return a + b

    return app, add


def main(argv):
    logging.basicConfig(level=logging.WARNING)
    command = argv[0]
    if command == "versions":
        report(versions={"procrastinate": metadata.version("procrastinate")})
        return
    dsn = argv[1]
    app, add = make_app(dsn)
    with app.open():
        if command == "schema":
            app.schema_manager.apply_schema()
            report(ok=True)
        elif command == "enqueue":
            n = int(argv[2])
            started = time.perf_counter()
            for _ in range(n):
                add.defer(a=1, b=2)
            report(seconds=time.perf_counter() - started)
        elif command == "drain":
            n = int(argv[2])
            started = time.perf_counter()
            app.run_worker(queues=[QUEUE], wait=False, concurrency=1, install_signal_handlers=False)
            seconds = time.perf_counter() - started
            import psycopg

            with psycopg.connect(dsn) as conn:
                done = conn.execute(
                    "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"
                ).fetchone()[0]
            if done != n:
                raise SystemExit(f"procrastinate ran {done} of {n} jobs")
            report(seconds=seconds, tasks=n)
        else:
            raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
