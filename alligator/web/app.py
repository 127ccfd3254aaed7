"""The dashboard's routes, its sign-in and its defences, as one Starlette app.

Security model, in the order a request meets it:

* **Host check.** Bound to a loopback address, only ``Host: 127.0.0.1``,
  ``localhost`` or ``[::1]`` is answered, so a web page cannot reach the
  dashboard through a DNS name rebound to 127.0.0.1.
* **Reading needs nothing; acting needs the token.** Every action is a
  POST that must carry the session cookie set by signing in with the token
  (or an ``Authorization: Bearer TOKEN`` header, for scripts); compared in
  constant time. ``--read-only`` refuses every action.
* **CSRF.** Each form carries a random token that must match the
  ``HttpOnly``, ``SameSite=Strict`` cookie it came with (double submit);
  the session cookie is ``SameSite=Strict`` too.
* **Escaping.** Jinja2 autoescapes every value; the Content-Security-Policy
  allows scripts and styles from the dashboard itself only, so even an
  escaping mistake could not run an inline ``<script>``.

Every endpoint is ``async`` and calls the backend on the event loop's
thread: one backend client, never shared across threads; an operator's
dashboard serves a few requests a second.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode

import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alligator.exceptions import AlligatorError, TaskNotFoundError
from alligator.web.data import Dashboard

__all__ = ["CSRF_COOKIE", "SESSION_COOKIE", "create_app"]

HERE: Final = Path(__file__).resolve().parent
SESSION_COOKIE: Final = "alligator_session"
CSRF_COOKIE: Final = "alligator_csrf"
LOOPBACK_HOSTS: Final = ["127.0.0.1", "localhost", "[::1]", "::1"]
ACTIONS: Final = ("requeue", "requeue-all", "purge", "purge-all")
#: Actions that destroy or move many tasks: shown a confirmation page first.
CONFIRMED: Final = ("requeue-all", "purge", "purge-all")

_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class _SecurityHeaders:
    """Adds :data:`_HEADERS` to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.lower().encode(), v.encode()) for k, v in _HEADERS.items()]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


class _Site:
    """The pages and actions over one :class:`Dashboard`."""

    def __init__(self, dashboard: Dashboard, token: str | None, read_only: bool) -> None:
        self.dashboard = dashboard
        self.token = token
        self.read_only = read_only or token is None
        self._key = secrets.token_bytes(32)
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )

    # -- auth ------------------------------------------------------------------

    def _session_value(self) -> str:
        assert self.token is not None
        return hmac.new(self._key, b"session:" + self.token.encode(), hashlib.sha256).hexdigest()

    def signed_in(self, request: Request) -> bool:
        if self.token is None:
            return False
        bearer = request.headers.get("authorization", "")
        if bearer.startswith("Bearer "):
            return hmac.compare_digest(bearer[7:].encode(), self.token.encode())
        cookie = request.cookies.get(SESSION_COOKIE, "")
        return hmac.compare_digest(cookie.encode(), self._session_value().encode())

    def _csrf_ok(self, request: Request, form: dict[str, str]) -> bool:
        if request.headers.get("authorization", "").startswith("Bearer "):
            return True  # not sent by a browser on its own: no forgery to fear
        cookie, sent = request.cookies.get(CSRF_COOKIE, ""), str(form.get("csrf", ""))
        return bool(cookie) and hmac.compare_digest(cookie.encode(), sent.encode())

    def render(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
        html = self.env.get_template(name).render(
            csrf=csrf,
            signed_in=self.signed_in(request),
            read_only=self.read_only,
            can_act=self.dashboard.can_act and not self.read_only,
            hide_args=self.dashboard.hide_args,
            message=request.query_params.get("message", ""),
            **context,
        )
        response = HTMLResponse(html, status_code=status)
        if CSRF_COOKIE not in request.cookies:
            response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict")
        return response

    def error(self, request: Request, status: int, text: str) -> Response:
        return self.render(request, "error.html", status=status, error=text)

    # -- pages -----------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        return self.render(request, "index.html", counts=self.dashboard.counts())

    async def api_counts(self, request: Request) -> Response:
        queues = request.query_params.getlist("queue") or None
        try:
            counts = self.dashboard.counts(
                None if queues is None else [self.dashboard.check_queue(q) for q in queues]
            )
        except AlligatorError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse([c._asdict() for c in counts])

    async def queue(self, request: Request) -> Response:
        name = request.query_params.get("name", "")
        page = _int(request.query_params.get("page"), 1)
        try:
            rows, pages = self.dashboard.buried_page(name, page)
            [counts] = self.dashboard.counts([name])
        except AlligatorError as exc:
            return self.error(request, 404, str(exc))
        page = min(max(page, 1), pages)
        return self.render(
            request, "queue.html", queue=name, counts=counts, rows=rows, page=page, pages=pages
        )

    async def task(self, request: Request) -> Response:
        queue = request.query_params.get("queue", "")
        task_id = request.query_params.get("id", "")
        try:
            view = self.dashboard.task(queue, task_id)
        except TaskNotFoundError as exc:
            return self.error(request, 404, str(exc))
        except AlligatorError as exc:
            return self.error(request, 400, str(exc))
        return self.render(request, "task.html", task=view)

    async def confirm(self, request: Request) -> Response:
        queue = request.query_params.get("queue", "")
        action = request.query_params.get("action", "")
        task_id = request.query_params.get("id", "")
        if action not in CONFIRMED:
            return self.error(request, 400, f"nothing to confirm for {action!r}")
        try:
            [counts] = self.dashboard.counts([self.dashboard.check_queue(queue)])
        except AlligatorError as exc:
            return self.error(request, 404, str(exc))
        return self.render(
            request, "confirm.html", queue=queue, action=action, task_id=task_id, counts=counts
        )

    # -- actions ---------------------------------------------------------------

    async def act(self, request: Request) -> Response:
        form = await _form(request)
        if not self._csrf_ok(request, form):
            return self.error(request, 403, "the form's CSRF token is missing or wrong: reload")
        if self.read_only:
            return self.error(request, 403, "this dashboard is read-only")
        if not self.signed_in(request):
            return self.error(request, 403, "actions need the dashboard's token: sign in first")
        queue, action = str(form.get("queue", "")), str(form.get("action", ""))
        task_id = str(form.get("id", ""))
        if action not in ACTIONS:
            return self.error(request, 400, f"unknown action {action!r}")
        if action in CONFIRMED and form.get("confirm") != "yes":
            return self.error(request, 400, f"{action} needs its confirmation")
        try:
            message = self._do(queue, action, task_id)
        except AlligatorError as exc:
            return self.error(request, 409, f"{action} failed: {exc}")
        target = "/queue?" + urlencode({"name": queue, "message": message})
        return RedirectResponse(target, status_code=303)

    def _do(self, queue: str, action: str, task_id: str) -> str:
        dashboard = self.dashboard
        if action == "requeue":
            new_id = dashboard.requeue(queue, task_id)
            return f"requeued {task_id}" + (f" as {new_id}" if new_id != task_id else "")
        if action == "requeue-all":
            return f"requeued {dashboard.requeue_all(queue)} buried task(s)"
        if action == "purge":
            if not task_id:
                raise TaskNotFoundError("purge of one task needs its id")
            count = dashboard.purge(queue, task_id)
            return f"purged {task_id}" if count else f"{task_id} was not buried any more"
        return f"purged {dashboard.purge(queue, None)} buried task(s)"

    async def login_page(self, request: Request) -> Response:
        return self.render(request, "login.html", next=_local(request.query_params.get("next")))

    async def login(self, request: Request) -> Response:
        form = await _form(request)
        if not self._csrf_ok(request, form):
            return self.error(request, 403, "the form's CSRF token is missing or wrong: reload")
        token = str(form.get("token", ""))
        if self.token is None or not hmac.compare_digest(token.encode(), self.token.encode()):
            return self.render(
                request, "login.html", status=403, next=_local(str(form.get("next"))), failed=True
            )
        response = RedirectResponse(_local(str(form.get("next"))), status_code=303)
        response.set_cookie(SESSION_COOKIE, self._session_value(), httponly=True, samesite="strict")
        return response

    async def logout(self, request: Request) -> Response:
        form = await _form(request)
        if not self._csrf_ok(request, form):
            return self.error(request, 403, "the form's CSRF token is missing or wrong: reload")
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response


#: Largest form body read: a few hidden fields and a token.
MAX_FORM = 16 * 1024


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form's fields (the last of repeated ones); empty when too large or other."""
    if request.headers.get("content-type", "").split(";")[0].strip() != (
        "application/x-www-form-urlencoded"
    ):
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return {}
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def _local(target: str | None) -> str:
    """A redirect target on this site only (never ``//elsewhere`` or ``https://...``)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


def create_app(
    dashboard: Dashboard, *, token: str | None, read_only: bool = False, loopback: bool = True
) -> Starlette:
    """The dashboard as an ASGI app.

    Args:
        dashboard: What it shows and does.
        token: What signing in takes; ``None`` makes it read-only.
        read_only: Refuse every action, and show none.
        loopback: It listens on a loopback address: answer only requests
            addressed to one (DNS-rebinding defence).
    """
    site = _Site(dashboard, token, read_only)
    routes = [
        Route("/", site.index),
        Route("/api/counts", site.api_counts),
        Route("/queue", site.queue),
        Route("/task", site.task),
        Route("/confirm", site.confirm),
        Route("/action", site.act, methods=["POST"]),
        Route("/login", site.login_page),
        Route("/login", site.login, methods=["POST"]),
        Route("/logout", site.logout, methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    middleware = [Middleware(_SecurityHeaders)]
    if loopback:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK_HOSTS))
    return Starlette(routes=routes, middleware=middleware)
