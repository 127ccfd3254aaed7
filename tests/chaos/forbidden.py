"""A module no payload may make a worker import: importing it leaves a trace.

The security tests name it in payloads refused by ``allowed_modules`` and
check it never appears in ``sys.modules``.
"""

from __future__ import annotations

import os

IMPORTED = True
os.environ["ALLIGATOR_FORBIDDEN_IMPORTED"] = "1"


def run() -> str:
    return "this should never run"
