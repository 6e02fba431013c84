"""Helpers the page, API and feed routes share: shared pages, per-viewer slots, errors.

Every viewer of a page shares one rendering of it (see :mod:`paperwire.web.slots`):
the page cache keeps it for a few seconds and each response fills in the
viewer's parts.  An anonymous viewer's page is one ``bytes.join`` with their
form token, on the event loop.  A logged-in viewer's page costs one small
indexed query (their votes and saves among the page's papers, with the papers'
current counts), so they see their own vote, and its count, at once, whichever
worker or instance answers.  The rest is remembered per process, and dropped
whenever the page cache is (after any POST here, and at the next request after
any commit anywhere): who the session belongs to (:mod:`.security`) and a paper
page's collection form, follow buttons and discussion as this viewer sees them.
On a local SQLite file, once those are at hand, the page is filled on the event
loop: a trip to the thread pool costs more under load than the whole fill.
"""

from __future__ import annotations

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
from .cache import PageCache, facts
from .follow_controls import follow_controls
from .security import SESSION_COOKIE, csrf_token, current_user, known_user
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
    parts = _parts_at_hand(request, result)
    if parts is not None:  # nothing to read but the marks, from a local file: on the loop
        return _for_viewer(request, result, parts, own_connection=True)
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
    if slot.kind == ACCOUNT:
        html = _account_menu(request, None).encode()
    else:  # kept with the facts, as a viewer's own parts are (see _mine)
        html = _mine(request, slot.kind, slot.paper_id, None).encode()
    if slot.kind == DISCUSS:
        return html
    before, marker, after = html.partition(CSRF_BYTES)
    if marker and CSRF_BYTES in after:
        raise ValueError("a shared fragment may hold one form token at most")
    return (before, after) if marker else html


def _parts_at_hand(request: Request, page: SlottedPage) -> dict[tuple[str, str], str] | None:
    """The viewer's parts of ``page`` if filling it here reads nothing but the marks.

    That is when the database is a local SQLite file (the marks query takes tens
    of microseconds and never waits: cheaper than a trip to the thread pool,
    which under load costs more than the whole page), the session is one this
    process remembers, and the page's other per-viewer parts are kept already.
    Otherwise None: the page is filled in the thread pool.
    """
    if not request.app.state.db.is_local_file:
        return None
    known, user = known_user(request)
    if not known:
        return None
    parts: dict[tuple[str, str], str] = {}
    if user is None:
        return parts
    kept = facts(request.app.state)
    for kind, paper_id in page.own_parts:
        found = kept.get(_part_key(kind, paper_id, user))
        if found is None:
            return None
        parts[(kind, paper_id)] = found
    return parts


def _for_viewer(
    request: Request,
    page: SlottedPage,
    parts: dict[tuple[str, str], str] | None = None,
    *,
    own_connection: bool = False,
) -> HTMLResponse:
    """``page`` for a request with a session cookie (anonymous if the session is dead).

    ``parts``: the viewer's collection forms, follow buttons and discussions of
    the page when the caller has them (else they are looked up here);
    ``own_connection``: read the marks on this thread's own connection (the
    event loop's, see :func:`_parts_at_hand`).
    """
    user = current_user(request)
    token = _token(request)
    if user is None:
        return _html(page.for_anonymous(token))
    db = request.app.state.db
    marks = marks_for(db, user.id, page.paper_ids, own_connection=own_connection)
    if parts is None:
        parts = {(kind, pid): _mine(request, kind, pid, user) for kind, pid in page.own_parts}
    fragments = {key: with_token(html, token) for key, html in parts.items()}
    fragments[(ACCOUNT, "")] = with_token(_account_menu(request, user), token)
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
        return fragments[(kind, slot.paper_id)]

    return _html(page.fill(value))


def _part_key(kind: str, paper_id: str, user: Any) -> tuple[Any, ...]:
    return ("viewer-part", kind, paper_id, user)


def _mine(request: Request, kind: str, paper_id: str, user: Any) -> str:
    """A paper page's part for ``user`` (collection form, follow buttons, discussion).

    Rendered once and kept with the app's facts (:func:`~.cache.facts`): dropped
    after any POST here and at the next request after any commit anywhere, so
    my new comment, follow or collection shows at once; the key holds the whole
    user, so a change of role or verification is a new entry.
    """
    return facts(request.app.state).get_or_build(
        _part_key(kind, paper_id, user), lambda: _fragment(request, kind, paper_id, user)
    )


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
    """The header menu of ``user`` (None: anonymous), rendered once per user while they stay
    the same (it shows nothing else)."""
    menus = _memo(request, "account_menus")
    found = menus.get(user)
    if found is None:
        if len(menus) > 10_000:
            menus.clear()
        found = menus[user] = _fragment(request, ACCOUNT, "", user)
    return found


def _fragment(request: Request, kind: str, paper_id: str, user: Any) -> str:
    """A per-viewer part of a page for ``user`` (None: anonymous), with form-token markers."""
    if kind == FOLLOW:
        return follow_controls(request, paper_id, user)
    if kind == DISCUSS:
        return discussion.thread_html(request, paper_id, user)
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
