"""Helpers the page, API and feed routes share: caching, voted state, error pages."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import escape
from starlette.concurrency import run_in_threadpool

from ..accounts.upvotes import paper_ids_upvoted_by
from .cache import PageCache
from .security import csrf_token, current_user
from .templating import render

# Cached pages hold this in place of the form token; each response gets its own.
CSRF_SLOT = "__paperwire_csrf_slot__"
HTML_HEADERS = {"Cache-Control": "private, no-cache"}


class PageError(Exception):
    """Raised while building a page: render ``error.html`` with this status and text."""

    def __init__(self, status: int, title: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message
        self.extra = extra


def page_cache(request: Request) -> PageCache:
    return request.app.state.page_cache


def voted_ids(request: Request, user: Any, ids: Iterable[str]) -> set[str] | None:
    """Which of ``ids`` the viewer upvoted (None when unknown: anonymous or no accounts)."""
    if user is None:
        return None
    return paper_ids_upvoted_by(request.app.state.db, user.id, among=list(ids))


def _card_ids(context: dict[str, Any]) -> list[str]:
    ids: list[str] = []
    for key in ("cards", "similar"):
        ids.extend(c.id for c in context.get(key) or ())
    if context.get("paper") is not None:
        ids.append(context["paper"].card.id)
    return ids


def error_page(request: Request, error: PageError) -> HTMLResponse:
    context = {"status": error.status, "title": error.title, "message": error.message}
    context.update(error.extra)
    return HTMLResponse(
        render(request, "error.html", context),
        status_code=error.status,
        headers=HTML_HEADERS,
    )


def _session_cookie() -> str:
    from . import security

    return getattr(security, "SESSION_COOKIE", "paperwire_session")


async def cached_page(
    request: Request,
    template: str,
    build: Callable[[], dict[str, Any] | Response],
    *,
    cache: bool = True,
) -> Response:
    """Render ``template`` with the context ``build()`` returns, sharing it when safe.

    Anonymous viewers share one rendering per URL for a few seconds (the form
    token is put in per response); logged-in viewers get a fresh page showing
    their own votes.  ``build`` may return a Response (a redirect) or raise
    :class:`PageError`.  A cache hit is answered on the event loop; everything
    that touches the database runs in the thread pool.
    """
    if not cache or request.cookies.get(_session_cookie()):
        return await run_in_threadpool(_page, request, template, build, cache)
    result = await page_cache(request).shared(
        ("page", str(request.url)),
        lambda: run_in_threadpool(_shared_page, request, template, build),
    )
    if isinstance(result, Response):
        return result
    return _with_token(request, result)


def _shared_page(
    request: Request, template: str, build: Callable[[], dict[str, Any] | Response]
) -> tuple[bytes, ...] | Response:
    """The page as every anonymous viewer sees it, split where form tokens go."""
    try:
        context = build()
    except PageError as error:
        return error_page(request, error)
    if isinstance(context, Response):
        return context
    html = render(request, template, context, user=None, csrf=CSRF_SLOT)
    return tuple(html.encode().split(CSRF_SLOT.encode()))


def _with_token(request: Request, page: tuple[bytes, ...]) -> HTMLResponse:
    """The shared page with this viewer's form token in every slot."""
    token = str(escape(csrf_token(request))).encode()
    return HTMLResponse(token.join(page), headers=HTML_HEADERS)


def _page(
    request: Request,
    template: str,
    build: Callable[[], dict[str, Any] | Response],
    cache: bool,
) -> Response:
    """A page rendered for this viewer alone (their votes; nothing shared)."""
    user = current_user(request)
    if user is None and cache:
        result = _shared_page(request, template, build)  # an expired or bogus session
        return result if isinstance(result, Response) else _with_token(request, result)
    try:
        context = build()
    except PageError as error:
        return error_page(request, error)
    if isinstance(context, Response):
        return context
    context["voted"] = voted_ids(request, user, _card_ids(context))
    return HTMLResponse(render(request, template, context, user=user), headers=HTML_HEADERS)
