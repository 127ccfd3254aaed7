"""Start throw-away servers on free loopback ports for the tests.

A test that needs a server skips when the binary is missing on a
developer's machine, but fails when ``CI=true``: CI must never pass by
skipping the backends it is meant to prove.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def require_binary(name: str) -> str:
    """The path of ``name``; skip the test locally, fail it in CI, if missing."""
    path = shutil.which(name) or next(
        (p for p in (f"/usr/bin/{name}", f"/usr/sbin/{name}") if os.path.exists(p)), None
    )
    if path is None:
        message = f"{name} is not installed (make test installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def wait_until(
    condition: Callable[[], bool],
    timeout: float = 10.0,
    interval: float = 0.01,
    message: str = "condition",
) -> None:
    """Poll ``condition`` until it holds; raise ``TimeoutError`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def redis_ready(port: int) -> bool:
    """Whether a Redis server answers PING with PONG: it also opens its port
    while it loads its AOF or RDB file, answering every command with LOADING."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class ServerProcess:
    """One server process on a loopback port, restartable for crash tests.

    ``ready(port)`` says when a started server can serve (default: its port
    accepts connections).
    """

    def __init__(
        self,
        argv: Sequence[str],
        port: int,
        workdir: Path,
        name: str,
        ready: Callable[[int], bool] = port_open,
    ) -> None:
        self.argv = list(argv)
        self.port = port
        self.workdir = workdir
        self.name = name
        self.ready = ready
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"{name}-{port}.log"

    def start(self, timeout: float = 15.0) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            message = f"{self.name} on {self.port}"
            wait_until(lambda: self.ready(self.port), timeout, message=message)
        except TimeoutError:
            self.stop()
            detail = self.log_path.read_text(errors="replace")[-2000:]
            message = f"{self.name} did not start on port {self.port}:\n{detail}"
            if IN_CI:
                pytest.fail(message)
            pytest.skip(message)

    def stop(self, kill: bool = False) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None
        wait_until(lambda: not port_open(self.port), 10.0, message=f"{self.name} to close")

    def restart(self, kill: bool = False) -> None:
        self.stop(kill=kill)
        self.start()


@contextlib.contextmanager
def running(server: ServerProcess) -> Iterator[ServerProcess]:
    server.start()
    try:
        yield server
    finally:
        server.stop()
