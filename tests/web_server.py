"""The dashboard served by a real uvicorn on a free loopback port, in a thread of the test."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence

import uvicorn

from alligator import Gator
from alligator.web.app import create_app
from alligator.web.data import Dashboard
from tests.servers import free_port, wait_until

__all__ = ["TOKEN", "serving"]

TOKEN = "test-token-0123456789"


@contextlib.contextmanager
def serving(
    dsn: str,
    *,
    queues: Sequence[str] | None = None,
    token: str | None = TOKEN,
    read_only: bool = False,
    hide_args: bool = False,
    **gator_options: object,
) -> Iterator[str]:
    """Serve a dashboard of ``dsn`` (its own Gator, used by the server's thread only)."""
    gator = Gator(dsn, queue_name=queues[0] if queues else "all", **gator_options)  # type: ignore[arg-type]
    app = create_app(
        Dashboard(gator, queues, hide_args=hide_args), token=token, read_only=read_only
    )
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="dashboard", daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, timeout=20, message="the dashboard to listen")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        gator.close()
