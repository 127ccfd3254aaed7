"""A private PostgreSQL cluster on a free loopback port, for tests and benchmarks.

``initdb`` refuses to run as root, so when this process is root the data
directory is handed to the ``postgres`` system user and every ``initdb`` and
``pg_ctl`` call runs as that user (``su postgres``). The server listens on
127.0.0.1 and a socket in its own directory only: a PostgreSQL a developer
already runs (on 5432 or elsewhere) is never touched.

No pytest here: :mod:`tests.fixtures` wraps it as a fixture and the
benchmarks start one the same way.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["PostgresCluster", "find_pg_bin", "free_port"]

#: Settings for a throw-away server: small, quick to start, logged to a file.
_SETTINGS = (
    "listen_addresses=127.0.0.1",
    "max_connections=200",
    "shared_buffers=128MB",
    "log_min_messages=warning",
    "log_min_error_statement=panic",
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def find_pg_bin(name: str = "pg_ctl") -> str | None:
    """The directory holding PostgreSQL's server binaries, or ``None``.

    Looks on ``PATH`` first, then in Debian's ``/usr/lib/postgresql/*/bin``
    (newest version first), where the ``postgresql`` package puts them.
    """
    found = shutil.which(name)
    if found:
        return str(Path(found).resolve().parent)
    versions = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in p.split("/")[4].split(".")],
        reverse=True,
    )
    return str(Path(versions[0]).parent) if versions else None


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class PostgresCluster:
    """``initdb`` + ``pg_ctl`` on a temp directory and a free port.

    Args:
        bindir: Directory of ``initdb`` and ``pg_ctl``.
        workdir: Parent of the data directory (a fresh temp dir if ``None``).
        settings: Extra ``name=value`` server settings (``fsync=off`` ...).
    """

    def __init__(
        self, bindir: str, workdir: Path | None = None, settings: tuple[str, ...] = ()
    ) -> None:
        self.bindir = bindir
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="alligator-pg-"))
        self.datadir = self.workdir / "data"
        self.port = free_port()
        self.settings = (*_SETTINGS, *settings)
        self.log_path = self.workdir / "postgres.log"
        self._as_postgres = os.geteuid() == 0

    @property
    def dsn(self) -> str:
        """``postgresql://postgres@127.0.0.1:PORT/postgres`` (trust authentication)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str, timeout: float = 60.0) -> None:
        command = [f"{self.bindir}/{argv[0]}", *argv[1:]]
        if self._as_postgres:
            command = ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(command)]
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
            cwd="/",
        )
        if done.returncode != 0:
            tail = ""
            with contextlib.suppress(OSError):
                tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(
                f"{argv[0]} failed ({done.returncode}): {done.stdout}{done.stderr}{tail}"
            )

    def init(self) -> None:
        """Create the data directory (owned by ``postgres`` when running as root)."""
        self.datadir.mkdir(parents=True)
        self.log_path.touch()
        if self._as_postgres:
            shutil.chown(self.workdir, "postgres")
            shutil.chown(self.datadir, "postgres")
            shutil.chown(self.log_path, "postgres")
        self._run("initdb", "-D", str(self.datadir), "-A", "trust", "-U", "postgres", "-E", "UTF8")

    def _options(self) -> str:
        flags = [f"-p {self.port}", f"-k {self.workdir}"]
        flags += [f"-c {s}" for s in self.settings]
        return " ".join(flags)

    def start(self) -> None:
        """``pg_ctl start -w``: returns once the server accepts connections."""
        if not self.datadir.exists():
            self.init()
        self._run(
            "pg_ctl", "-D", str(self.datadir), "-l", str(self.log_path),
            "-o", self._options(), "-w", "-t", "60", "start",
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not _port_open(self.port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres did not open port {self.port}")
            time.sleep(0.02)

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m MODE`` (``immediate`` is a crash: recovery at the next start)."""
        if (self.datadir / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "stop")

    def restart(self, mode: str = "immediate") -> None:
        """Stop (a crash with ``immediate``) and start again on the same port."""
        self._run(
            "pg_ctl", "-D", str(self.datadir), "-l", str(self.log_path), "-m", mode,
            "-o", self._options(), "-w", "-t", "60", "restart",
        )  # fmt: skip

    def destroy(self) -> None:
        """Stop the server and delete its files (if this object made the directory)."""
        try:
            self.stop("immediate")
        finally:
            if self._own_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)
