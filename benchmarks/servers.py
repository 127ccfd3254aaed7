"""Private redis-server and beanstalkd processes on free loopback ports.

The benchmark never touches port 6379 or a server it did not start: each run
starts its own, with persistence off, and stops it on the way out. A missing
binary is an error here, not a skip: a benchmark without its servers has
nothing to report.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["Server", "beanstalkd", "free_port", "redis_server"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def find_binary(name: str) -> str:
    """The path of ``name``; ``make servers`` installs what is missing."""
    for candidate in (shutil.which(name), f"/usr/bin/{name}", f"/usr/sbin/{name}"):
        if candidate and Path(candidate).exists():
            return candidate
    raise SystemExit(f"{name} is not installed; run `make servers` first")


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Server:
    """One server process; its log stays in ``workdir`` for post-mortems."""

    def __init__(self, name: str, argv: list[str], port: int, workdir: Path) -> None:
        self.name = name
        self.argv = argv
        self.port = port
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> None:
        log = (self.workdir / f"{self.name}.log").open("ab")
        with log:
            self.proc = subprocess.Popen(
                self.argv, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while not _port_open(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"{self.name} did not start on port {self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[Server]:
    """A redis-server without persistence, so memory figures are the data's own."""
    port = free_port()
    argv = [find_binary("redis-server"), "--port", str(port), "--bind", "127.0.0.1"]
    argv += ["--save", "", "--appendonly", "no", "--dir", str(workdir)]
    server = Server("redis-server", argv, port, workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def beanstalkd(workdir: Path) -> Iterator[Server]:
    """A beanstalkd without a binlog, on a free port."""
    port = free_port()
    argv = [find_binary("beanstalkd"), "-l", "127.0.0.1", "-p", str(port)]
    server = Server("beanstalkd", argv, port, workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
