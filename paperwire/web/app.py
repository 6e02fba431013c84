"""The FastAPI application factory.

Routers live in ``paperwire.web.routes``, one module per area, each exposing
``router``.  Modules may also expose ``async def on_startup(app)`` and
``async def on_shutdown(app)`` (e.g. the digest scheduler).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache
from importlib import import_module
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.responses import FileResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..config import Settings, load_settings
from ..db import open_database
from ..db.changes import watch_changes
from . import errors, security
from .cache import InvalidateOnWrite, PageCache

STATIC_DIR = Path(__file__).parent / "static"
# Order matters only for overlapping paths; API first keeps /api/* unambiguous.
# Pages come next because "/" and the feeds are the hot paths (routes are
# matched in order); their only catch-all, GET /papers/{id:path}, leaves the
# POST routes under /papers/ to the accounts module.
ROUTE_MODULES = ["api", "pages", "feeds", "accounts", "inbox"]


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
        # The interactive API docs load Swagger UI from its CDN with an inline script.
        with_csp = not scope["path"].startswith("/api/docs")

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [h for h in _SECURITY_HEADERS if h[0] not in present]
                if with_csp and b"content-security-policy" not in present:
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


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for ``settings`` (default: from the environment)."""
    settings = settings or load_settings()
    modules = _route_modules()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for module in modules:
            hook = getattr(module, "on_startup", None)
            if hook:
                await hook(app)
        yield
        for module in reversed(modules):
            hook = getattr(module, "on_shutdown", None)
            if hook:
                await hook(app)

    app = FastAPI(
        title="Paperwire",
        version=__version__,
        description="Research papers: daily feeds ranked by upvotes, hybrid search, digests.",
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.settings = settings
    app.state.db = open_database(settings)
    ttl = float(settings.extra.get("page_cache_seconds", PAGE_CACHE_SECONDS))
    app.state.page_cache = PageCache(ttl=ttl, changes=watch_changes(app.state.db.engine))
    app.state.nav_links = []  # (label, path) pairs route modules may add to the header
    app.mount("/static", CachedStaticFiles(directory=STATIC_DIR), name="static")
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
