"""``alligator web DSN``: serve the dashboard (see :mod:`alligator.web`).

The token that actions need comes from ``--token`` or
``$ALLIGATOR_WEB_TOKEN`` (the environment keeps it out of ``ps``); without
one, a random token is made and printed, and only on a loopback address: a
dashboard reachable from other machines must be given its token on purpose.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import secrets
import sys
from typing import Any

from alligator.cli.common import add_target_options, gator_from_args
from alligator.cli.worker import add_queue_option
from alligator.constants import ALL
from alligator.exceptions import ConfigurationError

__all__ = ["TOKEN_ENV", "is_loopback", "register", "run"]

TOKEN_ENV = "ALLIGATOR_WEB_TOKEN"


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "web", help="serve a dashboard of queues and buried tasks", conflict_handler="resolve"
    )
    add_target_options(parser)
    add_queue_option(parser, "queue to show; repeatable (default: every queue the backend lists)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default: 8080)")
    parser.add_argument(
        "--token",
        help=f"what signing in to act takes (default: ${TOKEN_ENV}; else a random one, "
        "printed, on a loopback address only)",
    )
    parser.add_argument("--read-only", action="store_true", help="show, never act")
    parser.add_argument(
        "--hide-args", action="store_true", help="never show task arguments or results"
    )
    parser.set_defaults(handler=run)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def token_of(args: argparse.Namespace, environ: dict[str, str] | None = None) -> str | None:
    """The token actions need, made up when allowed; ``None`` when read-only.

    Raises:
        ConfigurationError: a non-loopback address and no token.
    """
    env = os.environ if environ is None else environ
    token: str | None = args.token or env.get(TOKEN_ENV) or None
    if token is not None or args.read_only:
        return token
    if not is_loopback(args.host):
        raise ConfigurationError(
            f"--host {args.host} can be reached from other machines: give the token actions "
            f"need with ${TOKEN_ENV} (or --token), or pass --read-only"
        )
    token = secrets.token_urlsafe(24)
    print(f"alligator web: the token to sign in with is {token}", flush=True)
    return token


def run(args: argparse.Namespace) -> int:
    from alligator.web import require

    require()
    if not 0 <= args.port <= 65535:
        raise ConfigurationError(f"--port must be 0-65535, got {args.port}")
    token = token_of(args)
    import uvicorn

    from alligator.web.app import create_app
    from alligator.web.data import Dashboard

    queues = args.queue
    first = argparse.Namespace(**{**vars(args), "queue": queues[0] if queues else ALL})
    with gator_from_args(first, existing=True) as gator:
        dashboard = Dashboard(gator, queues, hide_args=args.hide_args)
        app = create_app(
            dashboard, token=token, read_only=args.read_only, loopback=is_loopback(args.host)
        )
        print(f"alligator web: http://{args.host}:{args.port}/", flush=True)
        sys.stdout.flush()
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
