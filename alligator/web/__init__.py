"""``alligator web``: a dashboard of queues and buried tasks (the ``alligator[web]`` extra).

Server-rendered pages (Starlette and Jinja2, served by uvicorn; no front-end
build): every queue's counts by state, refreshed live; a queue's buried
tasks, a page at a time, with their reasons; a task's function, arguments,
attempts, timestamps, burial traceback and stored outcome; and the actions
requeue one, requeue all and purge, the destructive ones after a
confirmation. It works on every backend through the protocols
(:mod:`alligator.web.data`); the security model is in :mod:`alligator.web.app`.
"""

from __future__ import annotations

from alligator.exceptions import ConfigurationError

__all__ = ["require"]


def require() -> None:
    """Raise a ``ConfigurationError`` naming the extra when the web libraries are missing."""
    try:
        import jinja2  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise ConfigurationError(
            f"the dashboard needs {exc.name}: pip install 'alligator[web]'"
        ) from exc
