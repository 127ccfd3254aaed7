"""Options every subcommand shares, and building a Gator from them.

Signing keys never appear on the command line (where ``ps`` would show
them to every user of the machine): they come from a file
(``--signing-key-file``, ``--verify-key-file``) or from the environment
(``ALLIGATOR_SIGNING_KEY``, and ``ALLIGATOR_VERIFY_KEYS`` as a
comma-separated list). A file given on the command line wins over the
environment.
"""

from __future__ import annotations

import argparse
import importlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from alligator.constants import ALL
from alligator.exceptions import ConfigurationError
from alligator.gator import DEFAULT_DSN, Gator

__all__ = [
    "SIGNING_KEY_ENV",
    "VERIFY_KEYS_ENV",
    "add_target_options",
    "gator_from_args",
    "import_modules",
    "require_existing_file",
    "signing_options",
]

SIGNING_KEY_ENV = "ALLIGATOR_SIGNING_KEY"
VERIFY_KEYS_ENV = "ALLIGATOR_VERIFY_KEYS"


def add_target_options(parser: argparse.ArgumentParser, *, queue: bool = True) -> None:
    """The DSN, the queue (unless ``queue`` is false), modules to import first, the signing keys."""
    parser.add_argument(
        "dsn",
        nargs="?",
        default=DEFAULT_DSN,
        help=f"backend DSN, e.g. redis://localhost:6379/0 (default: {DEFAULT_DSN})",
    )
    if queue:
        parser.add_argument(
            "-q", "--queue", default=ALL, help=f"queue name (default: the queue named {ALL!r})"
        )
    parser.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first (custom codecs, task classes); repeatable",
    )
    parser.add_argument(
        "--signing-key-file",
        metavar="FILE",
        help=f"sign payloads with the key in FILE and refuse unsigned ones "
        f"(default: ${SIGNING_KEY_ENV}, if set)",
    )
    parser.add_argument(
        "--verify-key-file",
        dest="verify_key_files",
        action="append",
        default=[],
        metavar="FILE",
        help=f"also accept payloads signed with the key in FILE (key rotation); "
        f"repeatable (default: ${VERIFY_KEYS_ENV}, comma-separated)",
    )
    parser.add_argument(
        "--signature-max-age",
        type=float,
        metavar="SECONDS",
        help="with a signing key: bury signed payloads due longer ago than this, as "
        "possible replays (default: no limit)",
    )


def import_modules(modules: Sequence[str]) -> None:
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            # A typo in --import is a usage error: exit 2 with the reason, no traceback.
            raise ConfigurationError(f"--import {module}: cannot import it: {exc}") from exc


def _read_key(path: str) -> bytes:
    try:
        key = Path(path).read_bytes().strip()
    except OSError as exc:
        raise ConfigurationError(f"cannot read key file {path!r}: {exc}") from exc
    if not key:
        raise ConfigurationError(f"key file {path!r} is empty")
    return key


def signing_options(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """``signing_key`` and ``verify_keys`` for the Gator, from files or the environment."""
    env = os.environ if environ is None else environ
    key_file: str | None = getattr(args, "signing_key_file", None)
    verify_files: list[str] = getattr(args, "verify_key_files", None) or []
    signing_key: bytes | None = None
    if key_file:
        signing_key = _read_key(key_file)
    elif env.get(SIGNING_KEY_ENV):
        signing_key = env[SIGNING_KEY_ENV].encode()
    verify_keys = [_read_key(path) for path in verify_files]
    if not verify_files and env.get(VERIFY_KEYS_ENV):
        verify_keys = [k.strip().encode() for k in env[VERIFY_KEYS_ENV].split(",") if k.strip()]
    max_age: float | None = getattr(args, "signature_max_age", None)
    if signing_key is None:
        if verify_keys or max_age is not None:
            raise ConfigurationError(
                f"verify keys or --signature-max-age were given but no signing key "
                f"(--signing-key-file or ${SIGNING_KEY_ENV})"
            )
        return {}
    found: dict[str, Any] = {"signing_key": signing_key, "verify_keys": verify_keys}
    if max_age is not None:
        found["signature_max_age"] = max_age
    return found


def gator_from_args(args: argparse.Namespace, *, existing: bool = False, **options: Any) -> Gator:
    """A Gator for the parsed target options, after importing ``--import`` modules.

    Args:
        args: The parsed options.
        existing: Refuse a SQLite file that does not exist yet, rather than
            create an empty one: for the commands that only look (``info``,
            ``failed``), a missing file is a wrong path or working directory.
        options: More arguments for the Gator.
    """
    import_modules(args.imports)
    gator = Gator(args.dsn, queue_name=args.queue, **{**signing_options(args), **options})
    if existing:
        try:
            require_existing_file(gator)
        except ConfigurationError:
            gator.close()
            raise
    return gator


def require_existing_file(gator: Gator) -> None:
    """Raise ``ConfigurationError`` if the Gator's backend is a SQLite file that does not exist."""
    from alligator.backends.sqlite_backend import Client as SQLiteClient

    backend = gator.backend
    if isinstance(backend, SQLiteClient) and not os.path.exists(backend.path):
        relative = not gator.conn_string[len("sqlite://") :].startswith("/")
        where = f" (relative to the working directory, {os.getcwd()})" if relative else ""
        raise ConfigurationError(
            f"SQLite database {backend.path!r}{where} does not exist, so it holds no tasks; "
            "this command never creates it"
        )
