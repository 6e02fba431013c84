"""Routes: sign-up, login, logout, upvotes, submissions and collections.

Every POST here checks the CSRF token (403 otherwise) before it changes
anything; the only exception is an anonymous upvote, which changes nothing and
is answered with the way to the login page (or 401 for JSON clients).
Routes parse input, call :mod:`paperwire.accounts` and render; no SQL here.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from typing import Any

from fastapi import APIRouter, BackgroundTasks, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response

from ...accounts import collections as colls
from ...accounts import ratelimit, submissions, upvotes
from ...accounts.clock import utcnow
from ...accounts.errors import NotFound, RateLimited, ValidationError
from ...accounts.passwords import MAX_LENGTH, MIN_LENGTH, verify_dummy
from ...accounts.sessions import create_session, delete_session
from ...accounts.users import EmailTaken, User, authenticate, normalise_email, sign_up
from ...config import Settings
from ...db import Database
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


def wants_json(request: Request) -> bool:
    """Whether the client asked for JSON (fetch with ``Accept: application/json``)."""
    return "application/json" in request.headers.get("accept", "").lower()


def safe_next(value: str | None, default: str = "/") -> str:
    """``value`` if it is a path on this site, else ``default`` (no open redirects)."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return default
    if "\\" in value or any(ord(c) < 32 for c in value) or len(value) > 2000:
        return default
    return value


def _referer_path(request: Request) -> str | None:
    from urllib.parse import urlsplit

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


def _account_key(request: Request, email: str) -> str:
    try:
        email = normalise_email(email)
    except ValidationError:
        email = email.strip().lower()
    return ratelimit.key_for(_settings(request).secret_key, email)


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
    from urllib.parse import quote

    return _redirect(request, f"/login?next={quote(safe_next(next_path), safe='/')}")


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def _csrf_or_error(request: Request) -> Response | None:
    """None when the CSRF check passes, else the 403 response for this client."""
    try:
        await check_csrf(request)
    except HTTPException as exc:
        if wants_json(request):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        return _render(
            request,
            "error.html",
            {"title": "Request refused", "message": exc.detail},
            status_code=exc.status_code,
        )
    return None


# -- sign-up, login, logout ------------------------------------------------------------


def _login_response(request: Request, user: User, next_path: str) -> Response:
    token, _expires = create_session(_db(request), user.id, now=utcnow())
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
    ip_hit = (ratelimit.SIGNUP_IP, _client_key(request))
    account_hit = (ratelimit.LOGIN_ACCOUNT, _account_key(request, email))
    try:
        ratelimit.check(db, [ip_hit, account_hit], now=now)
    except RateLimited as exc:
        return _render(
            request,
            "signup.html",
            {**ctx, "error": str(exc)},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
        )
    ratelimit.record(db, [ip_hit], now=now)
    try:
        user = await run_in_threadpool(
            sign_up, db, email, password, now=now, display_name=display_name
        )
    except ValidationError as exc:
        if isinstance(exc, EmailTaken):  # counts as a failed password guess
            ratelimit.record(db, [account_hit], now=now)
        return _render(request, "signup.html", {**ctx, "error": str(exc)}, status_code=400)
    return _login_response(request, user, next_path)


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
    ip_hit = (ratelimit.LOGIN_IP, _client_key(request))
    account_hit = (ratelimit.LOGIN_ACCOUNT, _account_key(request, email))
    try:
        ratelimit.check(db, [ip_hit, account_hit], now=now)
    except RateLimited as exc:
        return _render(
            request,
            "login.html",
            {**ctx, "error": str(exc)},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
        )
    user = await run_in_threadpool(authenticate, db, email, password)
    if user is None:
        ratelimit.record(db, [ip_hit, account_hit], now=now)
        return _render(request, "login.html", {**ctx, "error": LOGIN_FAILED}, status_code=400)
    ratelimit.clear(db, *account_hit)
    return _login_response(request, user, next_path)


@router.post("/logout", include_in_schema=False)
async def logout(request: Request) -> Response:
    refused = await _csrf_or_error(request)
    if refused:
        return refused
    delete_session(_db(request), request.cookies.get(SESSION_COOKIE))
    set_current_user(request, None)
    response = _redirect(request, "/")
    clear_session_cookie(request, response)
    return response


@router.get("/api/session", tags=["accounts"])
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


@router.post("/papers/{paper_id:path}/upvote", include_in_schema=False)
async def upvote(request: Request, paper_id: str) -> Response:
    """Toggle the viewer's upvote; JSON for fetch, else a redirect back."""
    user = current_user(request)
    if user is None:
        if wants_json(request):
            return JSONResponse({"detail": "Log in to upvote papers."}, status_code=401)
        return _login_redirect(request, _referer_path(request) or f"/papers/{paper_id}")
    refused = await _csrf_or_error(request)
    if refused:
        return refused
    try:
        state = upvotes.toggle(_db(request), user.id, paper_id, now=utcnow())
    except NotFound as exc:
        if wants_json(request):
            return JSONResponse({"detail": str(exc)}, status_code=404)
        return _render(
            request, "error.html", {"title": "Not found", "message": str(exc)}, status_code=404
        )
    if wants_json(request):
        return JSONResponse(_vote_json(state), headers={"cache-control": "no-store"})
    form = await _form(request)
    back = form.get("next") or _referer_path(request) or f"/papers/{paper_id}"
    return _redirect(request, safe_next(back, f"/papers/{paper_id}"))


@router.post("/api/papers/{paper_id:path}/upvote", tags=["accounts"])
async def api_upvote(request: Request, paper_id: str) -> Response:
    """Toggle the upvote, or set it with a JSON body ``{"upvoted": true|false}``.

    Needs the session cookie and the ``X-CSRF-Token`` header (see ``/api/session``).
    Answers ``{"upvoted": bool, "upvotes": n}``.
    """
    user = current_user(request)
    if user is None:
        return JSONResponse({"detail": "Log in to upvote papers."}, status_code=401)
    try:
        await check_csrf(request)
    except HTTPException as exc:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
    want: bool | None = None
    raw = await request.body()
    if raw.strip():
        try:
            payload = json.loads(raw)
        except ValueError:
            return JSONResponse({"detail": "The body must be JSON."}, status_code=422)
        value = payload.get("upvoted") if isinstance(payload, dict) else None
        if not isinstance(value, bool):
            return JSONResponse(
                {"detail": 'Send {"upvoted": true} or {"upvoted": false}, or no body.'},
                status_code=422,
            )
        want = value
    try:
        if want is None:
            state = upvotes.toggle(_db(request), user.id, paper_id, now=utcnow())
        else:
            state = upvotes.set_vote(_db(request), user.id, paper_id, want, now=utcnow())
    except NotFound as exc:
        return JSONResponse({"detail": str(exc)}, status_code=404)
    return JSONResponse(_vote_json(state), headers={"cache-control": "no-store"})


# -- submissions --------------------------------------------------------------------


@router.get("/submit", include_in_schema=False)
async def submit_form(request: Request) -> Response:
    if current_user(request) is None:
        return _login_redirect(request, "/submit")
    return _render(request, "submit.html", {"value": "", "today": today(request)})


def _refresh_derived(settings: Settings, db: Database, ids: list[str]) -> None:
    """Index a newly fetched paper for search (after the response; failures are logged)."""
    try:
        from ...cli.catalog import refresh_derived

        refresh_derived(settings, db, ids)
    except Exception:  # search is optional; the catalog row is what matters
        log.exception("could not index submitted papers %s", ids)


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
        background.add_task(_refresh_derived, _settings(request), _db(request), [result.paper_id])
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
    items = colls.list_for_user(_db(request), user.id)
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
        coll = colls.create(_db(request), user.id, name, now=utcnow())
    except ValidationError as exc:
        items = colls.list_for_user(_db(request), user.id)
        return _render(
            request,
            "collections.html",
            {"collections": items, "name": name, "error": str(exc)},
            status_code=400,
        )
    return _redirect(request, f"/collections/{coll.slug}")


def _collection_or_404(request: Request, user: User, slug: str) -> colls.Collection | Response:
    try:
        return colls.get(_db(request), user.id, slug)
    except NotFound as exc:
        return _render(
            request, "error.html", {"title": "Not found", "message": str(exc)}, status_code=404
        )


@router.get("/collections/{slug}", include_in_schema=False)
async def collection_page(request: Request, slug: str) -> Response:
    user = current_user(request)
    if user is None:
        return _login_redirect(request, f"/collections/{slug}")
    coll = _collection_or_404(request, user, slug)
    if isinstance(coll, Response):
        return coll
    rows = colls.papers_in(_db(request), user.id, slug)
    return _render(request, "collection.html", {"collection": coll, "papers": rows})


async def _collection_action(request: Request, slug: str, action: str) -> Response:
    user = current_user(request)
    if user is None:
        return _login_redirect(request, f"/collections/{slug}")
    refused = await _csrf_or_error(request)
    if refused:
        return refused
    form = await _form(request)
    db, paper_id = _db(request), form.get("paper_id", "").strip()
    try:
        if action == "add":
            colls.add_paper(db, user.id, slug, paper_id, now=utcnow())
        elif action == "remove":
            colls.remove_paper(db, user.id, slug, paper_id)
        else:
            colls.delete_collection(db, user.id, slug)
            return _redirect(request, "/collections")
    except NotFound as exc:
        return _render(
            request, "error.html", {"title": "Not found", "message": str(exc)}, status_code=404
        )
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
        slug = colls.create(db, user.id, new_name, now=now).slug if new_name else ""
        slug = slug or form.get("collection", "")
        colls.add_paper(db, user.id, slug, paper_id, now=now)
    except ValidationError as exc:
        return _render(
            request, "error.html", {"title": "Not added", "message": str(exc)}, status_code=400
        )
    except NotFound as exc:
        return _render(
            request, "error.html", {"title": "Not found", "message": str(exc)}, status_code=404
        )
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
