"""Routes: sign-up, login, logout, upvotes, submissions and collections.

Every POST here checks the CSRF token (403 otherwise) before it changes
anything; the only exception is an anonymous upvote, which changes nothing and
is answered with the way to the login page (or 401 for JSON clients).
Routes parse input, call :mod:`paperwire.accounts` and render; no SQL here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, BackgroundTasks, Body, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask

from ...accounts import collections as colls
from ...accounts import ratelimit, submissions, upvotes
from ...accounts.clock import utcnow
from ...accounts.errors import NotFound, RateLimited, ValidationError
from ...accounts.passwords import MAX_LENGTH, MIN_LENGTH, verify_dummy
from ...accounts.sessions import create_session, delete_session
from ...accounts.users import EmailTaken, User, authenticate, normalise_email, sign_up
from ...catalog.ids import parse_arxiv_id
from ...config import Settings
from ...db import Database
from .. import index_updates
from ..errors import error_response, wants_json
from ..security import (
    SESSION_COOKIE,
    attach_cookies,
    check_csrf,
    clear_session_cookie,
    csrf_token,
    current_user,
    set_current_user,
    set_session_cookie,
)
from ..templating import page
from .api import ErrorBody

T = TypeVar("T")
log = logging.getLogger(__name__)
router = APIRouter()

LOGIN_FAILED = "The email or password is incorrect."


# -- helpers ------------------------------------------------------------------------


def _db(request: Request) -> Database:
    return request.app.state.db


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def today(request: Request) -> date:
    """The feed's today: ``app.state.today()`` when the app provides one, else the UTC date."""
    hook = getattr(request.app.state, "today", None)
    return hook() if callable(hook) else utcnow().date()


def safe_next(value: str | None, default: str = "/") -> str:
    """``value`` if it is a path on this site, else ``default`` (no open redirects)."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return default
    if "\\" in value or any(ord(c) < 32 for c in value) or len(value) > 2000:
        return default
    return value


def _referer_path(request: Request) -> str | None:
    ref = request.headers.get("referer")
    if not ref:
        return None
    parts = urlsplit(ref)
    if parts.netloc and parts.netloc.lower() != (request.headers.get("host") or "").lower():
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _client_key(request: Request) -> str:
    ip = request.client.host if request.client else "unknown"
    return ratelimit.key_for(_settings(request).secret_key, ip)


def _limit(request: Request, limit: ratelimit.Limit) -> ratelimit.Limit:
    return ratelimit.configured(_settings(request), limit)


def _account_key(request: Request, email: str) -> str:
    try:
        email = normalise_email(email)
    except ValidationError:
        email = email.strip().lower()
    return ratelimit.key_for(_settings(request).secret_key, email)


async def _run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking domain call (database, argon2) off the event loop."""
    return await run_in_threadpool(fn, *args, **kwargs)


def _render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    response = page(
        request, f"accounts/{name}", context or {}, status_code=status_code, headers=headers
    )
    response.headers.setdefault("cache-control", "no-store")
    return attach_cookies(request, response)


def _redirect(request: Request, url: str) -> Response:
    return attach_cookies(request, RedirectResponse(url, status_code=303))


def _login_redirect(request: Request, next_path: str) -> Response:
    return _redirect(request, f"/login?next={quote(safe_next(next_path), safe='/')}")


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def _csrf_or_error(request: Request) -> Response | None:
    """None when the CSRF check passes, else the 403 response for this client."""
    try:
        await check_csrf(request)
    except HTTPException as exc:
        return _error(request, exc.status_code, str(exc.detail))
    return None


def _error(request: Request, status: int, message: str) -> Response:
    """An error page, or JSON for API and fetch clients (the site's common format)."""
    response = error_response(request, status, message)
    response.headers["cache-control"] = "no-store"
    return attach_cookies(request, response)


# -- sign-up, login, logout ------------------------------------------------------------


async def _login_response(request: Request, user: User, next_path: str) -> Response:
    """A fresh session (never a reused one) and the redirect that sets its cookie."""
    await _run(delete_session, _db(request), request.cookies.get(SESSION_COOKIE))
    token, _expires = await _run(create_session, _db(request), user.id, now=utcnow())
    set_current_user(request, user, token)
    response = _redirect(request, safe_next(next_path))
    set_session_cookie(request, response, token)
    return response


@router.get("/signup", include_in_schema=False)
async def signup_form(request: Request, next: str = "/") -> Response:
    if current_user(request) is not None:
        return _redirect(request, safe_next(next))
    return _render(
        request,
        "signup.html",
        {"next": safe_next(next), "email": "", "display_name": "", **_policy()},
    )


def _policy() -> dict[str, int]:
    return {"min_password": MIN_LENGTH, "max_password": MAX_LENGTH}


@router.post("/signup", include_in_schema=False)
async def signup(request: Request) -> Response:
    refused = await _csrf_or_error(request)
    if refused:
        return refused
    form = await _form(request)
    email = form.get("email", "")[:400]
    password = form.get("password", "")
    display_name = form.get("display_name", "")[:200]
    next_path = safe_next(form.get("next"))
    ctx = {"next": next_path, "email": email, "display_name": display_name, **_policy()}
    db, now = _db(request), utcnow()
    ip_hit = (_limit(request, ratelimit.SIGNUP_IP), _client_key(request))
    account_hit = (_limit(request, ratelimit.LOGIN_ACCOUNT), _account_key(request, email))
    refused = await _rate_limited(request, [ip_hit, account_hit], now, "signup.html", ctx)
    if refused:
        return refused
    await _run(ratelimit.record, db, [ip_hit], now=now)
    try:
        user = await _run(sign_up, db, email, password, now=now, display_name=display_name)
    except ValidationError as exc:
        if isinstance(exc, EmailTaken):  # counts as a failed password guess
            await _run(ratelimit.record, db, [account_hit], now=now)
        return _render(request, "signup.html", {**ctx, "error": str(exc)}, status_code=400)
    return await _login_response(request, user, next_path)


async def _rate_limited(
    request: Request, hits: list, now: datetime, template: str, ctx: dict[str, Any]
) -> Response | None:
    """The form again with a 429 when any of ``hits`` is over its limit, else None."""
    try:
        await _run(ratelimit.check, _db(request), hits, now=now)
    except RateLimited as exc:
        return _render(
            request,
            template,
            {**ctx, "error": str(exc)},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
        )
    return None


@router.get("/login", include_in_schema=False)
async def login_form(request: Request, next: str = "/") -> Response:
    if current_user(request) is not None:
        return _redirect(request, safe_next(next))
    return _render(request, "login.html", {"next": safe_next(next), "email": ""})


@router.post("/login", include_in_schema=False)
async def login(request: Request) -> Response:
    refused = await _csrf_or_error(request)
    if refused:
        return refused
    form = await _form(request)
    email = form.get("email", "")[:400]
    password = form.get("password", "")
    next_path = safe_next(form.get("next"))
    ctx = {"next": next_path, "email": email}
    db, now = _db(request), utcnow()
    ip_hit = (_limit(request, ratelimit.LOGIN_IP), _client_key(request))
    account_hit = (_limit(request, ratelimit.LOGIN_ACCOUNT), _account_key(request, email))
    refused = await _rate_limited(request, [ip_hit, account_hit], now, "login.html", ctx)
    if refused:
        return refused
    user = await _run(authenticate, db, email, password)
    if user is None:
        await _run(ratelimit.record, db, [ip_hit, account_hit], now=now)
        return _render(request, "login.html", {**ctx, "error": LOGIN_FAILED}, status_code=400)
    await _run(ratelimit.clear, db, *account_hit)
    return await _login_response(request, user, next_path)


@router.post("/logout", include_in_schema=False)
async def logout(request: Request) -> Response:
    refused = await _csrf_or_error(request)
    if refused:
        return refused
    await _run(delete_session, _db(request), request.cookies.get(SESSION_COOKIE))
    set_current_user(request, None)
    response = _redirect(request, "/")
    clear_session_cookie(request, response)
    return response


class SessionUser(BaseModel):
    id: int
    name: str


class SessionOut(BaseModel):
    user: SessionUser | None = Field(description="the logged-in user, or null")
    csrf_token: str = Field(description="send as X-CSRF-Token with POST requests")


class VoteOut(BaseModel):
    upvoted: bool = Field(description="whether the viewer now upvotes the paper")
    upvotes: int = Field(description="the paper's upvotes (external plus local)")


@router.get(
    "/api/session", tags=["accounts"], response_model=SessionOut, summary="Viewer and CSRF token"
)
async def api_session(request: Request) -> Response:
    """The viewer and a CSRF token for ``X-CSRF-Token`` (same-origin clients and scripts)."""
    user = current_user(request)
    body = {
        "user": {"id": user.id, "name": user.name} if user else None,
        "csrf_token": csrf_token(request),
    }
    response = JSONResponse(body, headers={"cache-control": "no-store"})
    return attach_cookies(request, response)


# -- upvotes ------------------------------------------------------------------------


def _vote_json(state: upvotes.VoteState) -> dict[str, Any]:
    return {"upvoted": state.upvoted, "upvotes": state.upvotes}


def _canonical(paper_id: str) -> str:
    """``2401.00001v2`` or an arXiv URL -> ``2401.00001``; anything else unchanged."""
    parsed = parse_arxiv_id(paper_id)
    return parsed[0] if parsed else paper_id


@router.post("/papers/{paper_id:path}/upvote", include_in_schema=False)
async def upvote(request: Request, paper_id: str) -> Response:
    """Toggle the viewer's upvote; JSON for fetch, else a redirect back."""
    paper_id = _canonical(paper_id)
    user = current_user(request)
    if user is None:
        if wants_json(request):
            return _error(request, 401, "Log in to upvote papers.")
        return _login_redirect(request, _referer_path(request) or f"/papers/{paper_id}")
    refused = await _csrf_or_error(request)
    if refused:
        return refused
    try:
        state = await _run(upvotes.toggle, _db(request), user.id, paper_id, now=utcnow())
    except NotFound as exc:
        return _error(request, 404, str(exc))
    if wants_json(request):
        response: Response = JSONResponse(_vote_json(state), headers={"cache-control": "no-store"})
    else:
        form = await _form(request)
        back = form.get("next") or _referer_path(request) or f"/papers/{paper_id}"
        response = _redirect(request, safe_next(back, f"/papers/{paper_id}"))
    return _with_count_refresh(request, response, paper_id)


def _with_count_refresh(request: Request, response: Response, paper_id: str) -> Response:
    """After the response: the vote reaches the search index's upvote counts."""
    response.background = BackgroundTask(
        index_updates.after_vote, _settings(request), _db(request), paper_id
    )
    return response


class VoteIn(BaseModel):
    """Set the vote instead of toggling it (safe to retry)."""

    upvoted: bool = Field(strict=True, description="true: upvote; false: take the upvote back")


API_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Not logged in"},
    403: {"model": ErrorBody, "description": "Missing or invalid X-CSRF-Token header"},
    404: {"model": ErrorBody, "description": "No such paper"},
    422: {"model": ErrorBody, "description": 'The body is not {"upvoted": bool}'},
}


@router.post(
    "/api/papers/{paper_id:path}/upvote",
    tags=["accounts"],
    response_model=VoteOut,
    responses=API_ERRORS,
    summary="Upvote a paper (toggle, or set with a body)",
)
async def api_upvote(
    request: Request, paper_id: str, body: Annotated[VoteIn | None, Body()] = None
) -> Response:
    """Toggle the viewer's upvote, or set it with ``{"upvoted": true|false}``.

    Needs the session cookie of a login and the ``X-CSRF-Token`` header (from
    ``GET /api/session``).  Answers ``{"upvoted": bool, "upvotes": n}``.
    """
    paper_id = _canonical(paper_id)
    user = current_user(request)
    if user is None:
        return _error(request, 401, "Log in to upvote papers.")
    refused = await _csrf_or_error(request)
    if refused:
        return refused
    db, now = _db(request), utcnow()
    try:
        if body is None:
            state = await _run(upvotes.toggle, db, user.id, paper_id, now=now)
        else:
            state = await _run(upvotes.set_vote, db, user.id, paper_id, body.upvoted, now=now)
    except NotFound as exc:
        return _error(request, 404, str(exc))
    response = JSONResponse(_vote_json(state), headers={"cache-control": "no-store"})
    return _with_count_refresh(request, response, paper_id)


# -- submissions --------------------------------------------------------------------


@router.get("/submit", include_in_schema=False)
async def submit_form(request: Request) -> Response:
    if current_user(request) is None:
        return _login_redirect(request, "/submit")
    return _render(request, "submit.html", {"value": "", "today": today(request)})


SUBMIT_STATUS = {
    submissions.ADDED: 200,
    submissions.DUPLICATE: 200,
    submissions.INVALID: 400,
    submissions.NOT_FOUND: 404,
    submissions.UNAVAILABLE: 503,
}


@router.post("/submit", include_in_schema=False)
async def submit(request: Request, background: BackgroundTasks) -> Response:
    user = current_user(request)
    if user is None:
        return _login_redirect(request, "/submit")
    refused = await _csrf_or_error(request)
    if refused:
        return refused
    form = await _form(request)
    value = form.get("paper", "")[:300]
    day = today(request)
    result = await run_in_threadpool(
        submissions.submit,
        _db(request),
        _settings(request),
        user,
        value,
        today=day,
        now=utcnow(),
    )
    if result.fetched and result.paper_id:
        background.add_task(
            index_updates.after_submission, _settings(request), _db(request), [result.paper_id]
        )
    response = _render(
        request,
        "submit.html",
        {"value": "" if result.ok else value, "today": day, "result": result},
        status_code=SUBMIT_STATUS.get(result.status, 200),
    )
    response.background = background
    return response


# -- collections --------------------------------------------------------------------


@router.get("/collections", include_in_schema=False)
async def collections_page(request: Request) -> Response:
    user = current_user(request)
    if user is None:
        return _login_redirect(request, "/collections")
    items = await _run(colls.list_for_user, _db(request), user.id)
    return _render(request, "collections.html", {"collections": items, "name": ""})


@router.post("/collections", include_in_schema=False)
async def create_collection(request: Request) -> Response:
    user = current_user(request)
    if user is None:
        return _login_redirect(request, "/collections")
    refused = await _csrf_or_error(request)
    if refused:
        return refused
    form = await _form(request)
    name = form.get("name", "")[:300]
    try:
        coll = await _run(colls.create, _db(request), user.id, name, now=utcnow())
    except ValidationError as exc:
        items = await _run(colls.list_for_user, _db(request), user.id)
        return _render(
            request,
            "collections.html",
            {"collections": items, "name": name, "error": str(exc)},
            status_code=400,
        )
    return _redirect(request, f"/collections/{coll.slug}")


async def _collection_or_404(
    request: Request, user: User, slug: str
) -> colls.Collection | Response:
    try:
        return await _run(colls.get, _db(request), user.id, slug)
    except NotFound as exc:
        return _error(request, 404, str(exc))


@router.get("/collections/{slug}", include_in_schema=False)
async def collection_page(request: Request, slug: str) -> Response:
    user = current_user(request)
    if user is None:
        return _login_redirect(request, f"/collections/{slug}")
    coll = await _collection_or_404(request, user, slug)
    if isinstance(coll, Response):
        return coll
    rows = await _run(colls.papers_in, _db(request), user.id, slug)
    return _render(request, "collection.html", {"collection": coll, "papers": rows})


async def _collection_action(request: Request, slug: str, action: str) -> Response:
    user = current_user(request)
    if user is None:
        return _login_redirect(request, f"/collections/{slug}")
    refused = await _csrf_or_error(request)
    if refused:
        return refused
    form = await _form(request)
    db, paper_id = _db(request), form.get("paper_id", "").strip()[:300]
    paper_id = _canonical(paper_id)
    try:
        if action == "add":
            await _run(colls.add_paper, db, user.id, slug, paper_id, now=utcnow())
        elif action == "remove":
            await _run(colls.remove_paper, db, user.id, slug, paper_id)
        else:
            await _run(colls.delete_collection, db, user.id, slug)
            return _redirect(request, "/collections")
    except NotFound as exc:
        return _error(request, 404, str(exc))
    return _redirect(request, safe_next(form.get("next"), f"/collections/{slug}"))


@router.post("/collections/{slug}/add", include_in_schema=False)
async def collection_add(request: Request, slug: str) -> Response:
    return await _collection_action(request, slug, "add")


@router.post("/collections/{slug}/remove", include_in_schema=False)
async def collection_remove(request: Request, slug: str) -> Response:
    return await _collection_action(request, slug, "remove")


@router.post("/collections/{slug}/delete", include_in_schema=False)
async def collection_delete(request: Request, slug: str) -> Response:
    return await _collection_action(request, slug, "delete")


@router.post("/papers/{paper_id:path}/collect", include_in_schema=False)
async def collect(request: Request, paper_id: str) -> Response:
    """The paper page's control: add to a chosen collection, or to a new one by name."""
    paper_id = _canonical(paper_id)
    user = current_user(request)
    if user is None:
        return _login_redirect(request, f"/papers/{paper_id}")
    refused = await _csrf_or_error(request)
    if refused:
        return refused
    form = await _form(request)
    db, now = _db(request), utcnow()
    new_name = form.get("new_collection", "").strip()
    try:
        slug = (await _run(colls.create, db, user.id, new_name, now=now)).slug if new_name else ""
        slug = slug or form.get("collection", "")
        await _run(colls.add_paper, db, user.id, slug, paper_id, now=now)
    except ValidationError as exc:
        return _error(request, 400, str(exc))
    except NotFound as exc:
        return _error(request, 404, str(exc))
    return _redirect(request, safe_next(form.get("next"), f"/papers/{paper_id}"))


def collection_choices(request: Request, paper_id: str) -> dict[str, Any] | None:
    """Context for the ``add_to_collection`` macro on a paper page (None when anonymous).

    ``{"collections": [Collection...], "containing": {slug...}}``.
    """
    user = current_user(request)
    if user is None:
        return None
    db = _db(request)
    return {
        "collections": colls.list_for_user(db, user.id),
        "containing": colls.slugs_containing(db, user.id, paper_id),
    }


async def on_startup(app: Any) -> None:
    """Compute the dummy hash now, so the first unknown-email login is not slower."""
    await run_in_threadpool(verify_dummy)
