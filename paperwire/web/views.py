"""Helpers the page, API and feed routes share: shared pages, per-viewer slots, errors.

Every viewer of a page shares one rendering of it (see :mod:`paperwire.web.slots`):
the page cache keeps it for a few seconds and each response fills in the
viewer's parts.  An anonymous viewer's page is one ``bytes.join`` with their
form token, on the event loop.  A logged-in viewer's page costs the session
lookup and one small indexed query (their votes and saves among the page's
papers, with the papers' current counts) in the thread pool, so they see their
own vote, and its count, at once, whichever worker or instance answers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from anyio import CapacityLimiter, to_thread
from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import escape
from starlette.concurrency import run_in_threadpool

from ..accounts import collections as colls
from ..accounts.marks import marks_for
from . import discussion
from .cache import PageCache
from .follow_controls import follow_controls
from .security import SESSION_COOKIE, csrf_token, current_user, set_current_user
from .slots import (
    ACCOUNT,
    COLLECT,
    CSRF,
    CSRF_BYTES,
    CSRF_MARK,
    DISCUSS,
    FOLLOW,
    SAVED,
    VOTE,
    Slot,
    SlottedPage,
    cut,
    with_token,
)
from .templating import env, has_route, render, upvote_form

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


def error_page(request: Request, error: PageError) -> HTMLResponse:
    context = {"status": error.status, "title": error.title, "message": error.message}
    context.update(error.extra)
    return HTMLResponse(
        render(request, "error.html", context),
        status_code=error.status,
        headers=HTML_HEADERS,
    )


async def cached_page(
    request: Request,
    template: str,
    build: Callable[[], dict[str, Any] | Response],
    *,
    cache: bool = True,
) -> Response:
    """Render ``template`` with the context ``build()`` returns, shared by every viewer.

    ``build`` may return a Response (a redirect) or raise :class:`PageError`;
    neither is shared.  ``cache=False`` renders afresh (still with the
    viewer's slots filled the same way).
    """

    def shared() -> Any:
        return to_thread.run_sync(
            _shared_page, request, template, build, limiter=_build_limiter(request)
        )

    if cache:
        result = await page_cache(request).shared(("page", str(request.url)), shared)
    else:
        result = await shared()
    if isinstance(result, PageError):
        return await run_in_threadpool(error_page, request, result)
    if isinstance(result, Response):
        return result
    if not request.cookies.get(SESSION_COOKIE):
        return _html(result.for_anonymous(_token(request)))
    return await run_in_threadpool(_for_viewer, request, result)


# Page builds hold the GIL almost throughout: more of them at once than this only
# adds switching between threads (and contention for database connections).
BUILD_CONCURRENCY = 4


def _build_limiter(request: Request) -> CapacityLimiter:
    limiter = getattr(request.app.state, "build_limiter", None)
    if limiter is None:
        limiter = request.app.state.build_limiter = CapacityLimiter(BUILD_CONCURRENCY)
    return limiter


def _html(body: bytes) -> HTMLResponse:
    return HTMLResponse(body, headers=HTML_HEADERS)


def _token(request: Request) -> bytes:
    return str(escape(csrf_token(request))).encode()


def _shared_page(
    request: Request, template: str, build: Callable[[], dict[str, Any] | Response]
) -> SlottedPage | Response | PageError:
    """The page as every viewer shares it, cut where per-viewer parts go."""
    try:
        context = build()
    except PageError as error:
        return error
    if isinstance(context, Response):
        return context
    context["slotted"] = True
    html = render(request, template, context, user=None, csrf=CSRF_MARK)
    path = str(escape(request.url.path))
    return cut(html, path, lambda slot: _anonymous(request, slot, path.encode()))


def _anonymous(request: Request, slot: Slot, path: bytes) -> bytes | tuple[bytes, bytes]:
    """What an anonymous viewer sees in ``slot``: ``(before, after)`` their form token."""
    if slot.kind == VOTE:
        before, between, after = upvote_form(slot.paper_id, slot.count, None, slot.part)
        return before, between + path + after
    if slot.kind == SAVED:
        return b""
    if slot.kind == DISCUSS:
        return discussion.thread_html(request, slot.paper_id, None).encode()
    html = _fragment(request, slot.kind, slot.paper_id, None).encode()
    before, marker, after = html.partition(CSRF_BYTES)
    if marker and CSRF_BYTES in after:
        raise ValueError("a shared fragment may hold one form token at most")
    return (before, after) if marker else html


# Who a session cookie belongs to is remembered for a few seconds per process: the
# lookup costs more than the rest of a logged-in page.  It is dropped with the page
# cache: after any POST here and at the next request after any commit anywhere, so
# a logout (which deletes the session) or a password change ends it everywhere.
SESSION_SECONDS = 5.0


def _viewer(request: Request) -> Any:
    """The logged-in user of this request, or None (see :data:`SESSION_SECONDS`)."""
    token = request.cookies.get(SESSION_COOKIE, "")
    cache = getattr(request.app.state, "session_cache", None)
    if cache is None:
        cache = request.app.state.session_cache = page_cache(request).follower(SESSION_SECONDS)
    key = ("session", hashlib.sha256(token.encode()).hexdigest())
    user = cache.get(key)
    if user is not None:
        set_current_user(request, user, token)
        return user
    user = current_user(request)
    if user is not None:
        cache.put(key, user)
    return user


def _for_viewer(request: Request, page: SlottedPage) -> HTMLResponse:
    """``page`` for a request with a session cookie (anonymous if the session is dead)."""
    user = _viewer(request)
    token = _token(request)
    if user is None:
        return _html(page.for_anonymous(token))
    db = request.app.state.db
    marks = marks_for(db, user.id, page.paper_ids)
    fragments = {(ACCOUNT, ""): with_token(_account_menu(request, user), token)}
    for pid in page.collect_ids:
        fragments[(COLLECT, pid)] = with_token(_fragment(request, COLLECT, pid, user), token)
    chips = _saved_chips(request)

    path = page.path

    def value(slot: Slot) -> bytes:
        kind = slot.kind
        if kind == VOTE:
            pid = slot.paper_id
            count = marks.upvotes.get(pid, slot.count)
            before, between, after = upvote_form(pid, count, pid in marks.voted, slot.part)
            return b"".join((before, token, between, path, after))
        if kind == CSRF:
            return token
        if kind == SAVED:
            return chips(slot.paper_id) if slot.paper_id in marks.saved else b""
        if kind == FOLLOW:
            return with_token(follow_controls(request, slot.paper_id, user), token)
        if kind == DISCUSS:  # always fresh for a logged-in viewer: their comment shows at once
            return with_token(discussion.thread_html(request, slot.paper_id, user), token)
        return fragments[(kind, slot.paper_id)]

    return _html(page.fill(value))


def _memo(request: Request, name: str) -> dict[Any, Any]:
    """A dict kept on the app for small rendered pieces (bounded by their callers)."""
    memo = getattr(request.app.state, name, None)
    if memo is None:
        memo = {}
        setattr(request.app.state, name, memo)
    return memo


def _saved_chips(request: Request) -> Callable[[str], bytes]:
    """The "saved" chip of a card, by paper id (a tiny template: rendered once per id)."""
    chips = _memo(request, "saved_chips")
    if len(chips) > 10_000:
        chips.clear()
    href = "/collections" if has_route(request, "/collections") else None

    def chip(paper_id: str) -> bytes:
        found = chips.get(paper_id)
        if found is None:
            template = env.get_template("_saved.html")
            found = chips[paper_id] = template.render(paper_id=paper_id, href=href).encode()
        return found

    return chip


def _account_menu(request: Request, user: Any) -> str:
    """The header menu of ``user``, rendered once per user and kept while they stay the same."""
    menus = _memo(request, "account_menus")
    found = menus.get(user)
    if found is None:
        if len(menus) > 10_000:
            menus.clear()
        found = menus[user] = _fragment(request, ACCOUNT, "", user)
    return found


def _fragment(request: Request, kind: str, paper_id: str, user: Any) -> str:
    """The account menu or the collection form for ``user`` (None: anonymous)."""
    if kind == FOLLOW:
        return follow_controls(request, paper_id, user)
    context: dict[str, Any] = {"request": request, "user": user, "csrf": CSRF_MARK}
    if kind == COLLECT:
        context["paper_id"] = paper_id
        context["choices"] = _collection_choices(request, user, paper_id)
        return env.get_template("_collect.html").render(context)
    return env.get_template("_account.html").render(context)


def _collection_choices(request: Request, user: Any, paper_id: str) -> dict[str, Any] | None:
    """What the ``add_to_collection`` macro shows ``user`` (None: anonymous)."""
    if user is None:
        return None
    db = request.app.state.db
    return {
        "collections": colls.list_for_user(db, user.id),
        "containing": colls.slugs_containing(db, user.id, paper_id),
    }
