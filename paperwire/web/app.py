"""The FastAPI application factory.

Routers live in ``paperwire.web.routes``, one module per area, each exposing
``router``.  Modules may also expose ``async def on_startup(app)`` and
``async def on_shutdown(app)`` (e.g. the digest scheduler).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import import_module
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from .. import __version__
from ..config import Settings, load_settings
from ..db import open_database

STATIC_DIR = Path(__file__).parent / "static"
# Order matters only for overlapping paths; API first keeps /api/* unambiguous.
ROUTE_MODULES = ["api", "feeds", "accounts", "inbox", "pages"]


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
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module in modules:
        app.include_router(module.router)
    return app
