"""The FastAPI application factory.

Routers live in ``paperwire.web.routes``, one module per area, each exposing
``router``; no route module imports another (what they share is in
``routes/common.py``).  Modules may also expose ``async def on_startup(app)``
and ``async def on_shutdown(app)`` (e.g. the mail sender).  ``paperwire serve``
also runs the background jobs' scheduler in a thread (``jobs=True``).

The interactive API docs (``/api/docs``) are the vendored Swagger UI under
``static/vendor/swagger-ui``, so they work without internet access and under
the same Content-Security-Policy as every page.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache
from importlib import import_module
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..config import Settings, check_secret_key, load_settings
from ..db import open_database
from ..db.changes import watch_changes
from ..jobs.status import Freshness
from . import errors, security
from .cache import InvalidateOnWrite, PageCache
from .routes.common import SECURITY_SCHEMES
from .templating import env as templates

STATIC_DIR = Path(__file__).parent / "static"
# Order matters only for overlapping paths; API first keeps /api/* unambiguous.
# Pages come next because "/" and the feeds are the hot paths (routes are
# matched in order); their only catch-all, GET /papers/{id:path}, leaves the
# POST routes under /papers/ to the votes and collections modules.  The discussion
# comes before the API: its GET /api/papers/{id}/comments is not the API's paper.
ROUTE_MODULES = [
    "comments",
    "api",
    "pages",
    "feeds",
    "auth",
    "account",
    "votes",
    "submissions",
    "collections",
    "following",
    "moderation",
    "inbox",
    "health",
]
OPENAPI_URL = "/api/openapi.json"
DOCS_URL = "/api/docs"
# Set by `paperwire serve` for its worker processes: "1" runs the job scheduler.
SERVE_JOBS_ENV = "PAPERWIRE_SERVE_JOBS"


# How long anonymous pages and API answers are shared (``page_cache_seconds`` in
# config.toml; 0 turns the cache off).
PAGE_CACHE_SECONDS = 5.0
# No inline scripts anywhere; KaTeX sets inline styles, so style attributes are allowed.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: https:; font-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"x-frame-options", b"DENY"),
]


MEMORY_STATIC_MAX = 512 * 1024


@lru_cache(maxsize=128)
def _static_bytes(path: str, mtime_ns: int, size: int) -> bytes:
    """A small static file's content (keyed by mtime and size, so edits are seen)."""
    with open(path, "rb") as fh:
        return fh.read()


class CachedStaticFiles(StaticFiles):
    """Static files with cache headers: a year for versioned URLs (``?v=``), else an hour.

    Small files are answered from memory instead of being streamed from disk in
    worker threads: the site's CSS, JS and fonts are a few hundred KiB in all.
    """

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        if isinstance(response, FileResponse) and stat_result.st_size <= MEMORY_STATIC_MAX:
            body = _static_bytes(str(full_path), stat_result.st_mtime_ns, stat_result.st_size)
            headers = {
                k: v
                for k, v in response.headers.items()
                if k.lower() not in ("content-length", "accept-ranges")
            }
            response = Response(body, status_code=response.status_code, headers=headers)
        versioned = b"v=" in scope.get("query_string", b"")
        response.headers["Cache-Control"] = (
            "public, max-age=31536000, immutable" if versioned else "public, max-age=3600"
        )
        return response


class SecurityHeaders:
    """Pure ASGI middleware adding nosniff, framing and content-security headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [h for h in _SECURITY_HEADERS if h[0] not in present]
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", CSP.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, add_headers)


class HeadAsGet:
    """Answer HEAD like GET without the body (FastAPI routes declare GET only)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def no_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, no_body)


def _route_modules() -> list:
    return [import_module(f"paperwire.web.routes.{name}") for name in ROUTE_MODULES]


def _install_docs(app: FastAPI) -> None:
    """``/api/docs`` (vendored Swagger UI) and a schema that declares how to authenticate."""

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get(DOCS_URL, include_in_schema=False)
    async def api_docs(request: Request) -> Response:
        html = templates.get_template("api_docs.html").render(
            title=app.title, openapi_url=OPENAPI_URL
        )
        return HTMLResponse(html, headers={"cache-control": "no-cache"})


def _start_jobs(app: FastAPI) -> Any:
    """The job scheduler in a thread; a pass that changed papers refreshes cached pages."""
    from ..jobs.scheduler import Outcome, Scheduler

    server_log = logging.getLogger("uvicorn.error")

    def after_pass(outcomes: list[Outcome]) -> None:
        if any(o.changed for o in outcomes):
            app.state.page_cache.clear()
            app.state.freshness.expire()

    return Scheduler(
        app.state.settings,
        app.state.db,
        on_pass=after_pass,
        log_line=lambda line: server_log.info("jobs: %s", line),
    ).start()


def create_app(settings: Settings | None = None, *, jobs: bool | None = None) -> FastAPI:
    """Build the app for ``settings`` (default: from the environment).

    ``jobs`` runs the background jobs in this process (default: as ``paperwire
    serve`` says, i.e. unless ``--no-jobs``; never for an app built in a test).
    """
    settings = settings or load_settings()
    check_secret_key(settings.database_url, settings.secret_key, settings.home)  # server mode
    modules = _route_modules()
    if jobs is None:
        jobs = os.environ.get(SERVE_JOBS_ENV) == "1"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for module in modules:
            hook = getattr(module, "on_startup", None)
            if hook:
                await hook(app)
        app.state.jobs_scheduler = _start_jobs(app) if jobs else None
        yield
        if app.state.jobs_scheduler is not None:
            await asyncio.to_thread(app.state.jobs_scheduler.stop)
        for module in reversed(modules):
            hook = getattr(module, "on_shutdown", None)
            if hook:
                await hook(app)

    app = FastAPI(
        title="Paperwire",
        version=__version__,
        description=(
            "Research papers: daily feeds ranked by upvotes, hybrid search, digests.\n\n"
            "Reading is open to everyone. Calls that act for an account take a personal "
            "access token (`Authorization: Bearer pw_…`, made at /account/tokens; scope "
            "`read` for GET, `write` for everything) or, from a browser, the session "
            "cookie plus the `X-CSRF-Token` header from `GET /api/session`."
        ),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=OPENAPI_URL,
    )
    app.state.settings = settings
    app.state.db = open_database(settings)
    ttl = float(settings.extra.get("page_cache_seconds", PAGE_CACHE_SECONDS))
    app.state.page_cache = PageCache(ttl=ttl, changes=watch_changes(app.state.db.engine))
    app.state.freshness = Freshness(app.state.db)  # "catalog updated" in the footer
    app.state.jobs_scheduler = None
    app.state.nav_links = []  # (label, path) pairs route modules may add to the header
    app.mount("/static", CachedStaticFiles(directory=STATIC_DIR), name="static")
    _install_docs(app)
    for module in modules:
        app.include_router(module.router)
    errors.install(app)
    hook = getattr(security, "install", None)
    if hook is not None:
        hook(app)
    app.add_middleware(InvalidateOnWrite, cache=app.state.page_cache)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(HeadAsGet)
    return app
