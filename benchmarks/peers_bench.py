"""The peers (RQ, Dramatiq, Huey, Celery) on the same Redis, from their own venv.

They are installed into ``benchmarks/.venv-peers``, never into the library's
environment, and every measurement runs ``peers/run_peer.py`` with that
interpreter. Memory per task is read here, from ``INFO memory``, between the
enqueue process and the drain process.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.alligator_bench import ROOT, run_result_process
from benchmarks.rows import Row, per_second

__all__ = ["PEERS", "Peer", "ensure_env", "measure_peer", "peer_versions"]

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv-peers"
SCRIPT = HERE / "peers" / "run_peer.py"
REQUIREMENTS = HERE / "peers" / "requirements.txt"


@dataclass
class Peer:
    """One peer configuration (a row of the table).

    Attributes:
        system: Row label.
        library: ``run_peer.py``'s enqueue name.
        drain: ``run_peer.py``'s drain name.
        env: Extra environment for the drain (Dramatiq's prefetch).
        scale: Fraction of N to drain, for workers too slow to drain all of N
            within the run's time budget (the table shows each row's N).
        bulk: Also measure the library's bulk enqueue.
    """

    system: str
    library: str
    drain: str
    env: dict[str, str] = field(default_factory=dict)
    scale: float = 1.0
    bulk: bool = False


PEERS = [
    Peer("RQ SimpleWorker", "rq", "rq-simple", scale=0.2, bulk=True),
    Peer("RQ Worker (fork)", "rq", "rq-worker", scale=0.05),
    Peer("Dramatiq", "dramatiq", "dramatiq", scale=0.2),
    Peer("Dramatiq prefetch 100", "dramatiq", "dramatiq", {"dramatiq_queue_prefetch": "100"}),
    Peer("Huey", "huey", "huey"),
    Peer("Celery solo", "celery", "celery"),
]


def python() -> Path:
    return VENV / "bin" / "python"


def ensure_env() -> Path:
    """Create the peers' venv, or refresh it when requirements.txt changed."""
    stamp = VENV / ".installed"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if python().exists() and stamp.exists() and stamp.read_text() == wanted:
        return python()
    print(f"installing the peers into {VENV.relative_to(ROOT)} ...", flush=True)
    if not python().exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(REQUIREMENTS)], check=True)
    stamp.write_text(wanted)
    return python()


def _run(args: list[str], env: dict[str, str] | None = None) -> dict[str, object]:
    argv = [str(python()), str(SCRIPT), *args]
    return run_result_process(argv, env={**os.environ, **env} if env else None)


def peer_versions() -> dict[str, str]:
    found = _run(["versions"])["versions"]
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def _seconds(result: dict[str, object]) -> float:
    return float(str(result["seconds"]))


def measure_peer(
    peer: Peer,
    url: str,
    n: int,
    repeats: int,
    batch_size: int,
    *,
    flush: Callable[[], object],
    memory: Callable[[], int],
) -> list[Row]:
    """Enqueue, memory and drain for one peer on the Redis at ``url``."""
    count = max(1, int(n * peer.scale))
    enqueue = Row(peer.system, "peer", "enqueue", n=count)
    used = Row(peer.system, "peer", "bytes", n=count)
    drain = Row(peer.system, "peer", "drain", n=count)
    bulk = Row(peer.system, "peer", "batch", n=n, note=f"enqueue_many by {batch_size}")
    for _ in range(repeats):
        flush()
        before = memory()
        seconds = _seconds(_run([peer.library, "enqueue", url, str(count)]))
        enqueue.values.append(per_second(count, seconds))
        used.values.append((memory() - before) / count)
        seconds = _seconds(_run([peer.drain, "drain", url, str(count)], peer.env))
        drain.values.append(per_second(count, seconds))
        if peer.bulk:
            flush()
            seconds = _seconds(_run([peer.library, "bulk", url, str(n), str(batch_size)]))
            bulk.values.append(per_second(n, seconds))
    return [row for row in (enqueue, bulk, drain, used) if row.values]
