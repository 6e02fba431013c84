"""What the route modules share: request helpers, form answers, API errors, login.

Not a route module (it has no router): every module in this package may import
it, and no route module imports another.  Nothing here touches SQL; it calls
the domain like the routes do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from fastapi import HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask

from ... import feed
from ...accounts import ratelimit
from ...accounts.clock import utcnow
from ...accounts.errors import RateLimited, ValidationError
from ...accounts.sessions import create_session, delete_session
from ...accounts.users import User, normalise_email
from ...catalog.ids import parse_arxiv_id
from ...config import Settings
from ...db import Database
from ...inbox.account_mail import OutboxAccountMail
from ...search.backend import get_backend
from .. import index_updates
from ..errors import error_response, wants_json
from ..security import (
    SESSION_COOKIE,
    attach_cookies,
    bearer_auth,
    check_csrf,
    current_user,
    known_user,
    set_current_user,
    set_session_cookie,
)
from ..templating import page

T = TypeVar("T")
log = logging.getLogger(__name__)

# The HTML forms of the account pages answer with these templates' folder.
ACCOUNT_TEMPLATES = "accounts"


class ErrorBody(BaseModel):
    """Every JSON error: ``{"error": "...", "message": "..."}``."""

    error: str = Field(description="machine-readable code, e.g. invalid_parameter, not_found")
    message: str = Field(description="what went wrong and how to fix it")
    detail: list[dict[str, Any]] | None = None


def responses(*codes: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for JSON errors: ``responses(401, 404, e422="...")``."""
    text = {
        400: "Invalid input (see message)",
        401: "Not logged in, or the API token is unknown or revoked",
        403: "Missing X-CSRF-Token (cookie clients), a read-only token, or not allowed",
        404: "Not found",
        409: "Conflict (see message)",
        422: "A parameter or the body is invalid (see message)",
        429: "Too many requests (see Retry-After)",
    }
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        out[code] = {"model": ErrorBody, "description": described.get(f"e{code}", text[code])}
    return out


# OpenAPI security schemes (declared on the schema by paperwire.web.app).
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "bearerToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "pw_…",
        "description": "A personal access token from /account/tokens (shown once). "
        "Scope read: GET requests only; scope write: every call. No CSRF token needed.",
    },
    "sessionCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": "paperwire_session",
        "description": "The session cookie of a login (browsers and same-origin scripts).",
    },
    "csrfToken": {
        "type": "apiKey",
        "in": "header",
        "name": "X-CSRF-Token",
        "description": "With the session cookie, every state-changing call needs the token "
        "from GET /api/session.",
    },
}


def auth_doc(scope: str) -> dict[str, Any]:
    """``openapi_extra`` for a route that needs a login: a token of ``scope``, or a session."""
    session: dict[str, list] = {"sessionCookie": []}
    if scope == "write":
        session["csrfToken"] = []
    return {"security": [{"bearerToken": []}, session]}


def db(request: Request) -> Database:
    return request.app.state.db


def settings(request: Request) -> Settings:
    return request.app.state.settings


def today(request: Request) -> date:
    """The feed's today: ``app.state.today()`` when the app provides one, else the UTC date."""
    hook = getattr(request.app.state, "today", None)
    return hook() if callable(hook) else utcnow().date()


async def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking domain call (database, argon2) off the event loop."""
    return await run_in_threadpool(fn, *args, **kwargs)


def canonical(paper_id: str) -> str:
    """``2401.00001v2`` or an arXiv URL -> ``2401.00001``; anything else unchanged."""
    parsed = parse_arxiv_id(paper_id)
    return parsed[0] if parsed else paper_id


# -- redirects ----------------------------------------------------------------------------


def safe_next(value: str | None, default: str = "/") -> str:
    """``value`` if it is a path on this site, else ``default`` (no open redirects)."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return default
    if "\\" in value or any(ord(c) < 32 for c in value) or len(value) > 2000:
        return default
    return value


def referer_path(request: Request) -> str | None:
    ref = request.headers.get("referer")
    if not ref:
        return None
    parts = urlsplit(ref)
    if parts.netloc and parts.netloc.lower() != (request.headers.get("host") or "").lower():
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def redirect(request: Request, url: str) -> Response:
    return attach_cookies(request, RedirectResponse(url, status_code=303))


def login_redirect(request: Request, next_path: str) -> Response:
    return redirect(request, f"/login?next={quote(safe_next(next_path), safe='/')}")


# -- forms and pages ----------------------------------------------------------------------


async def form(request: Request) -> dict[str, str]:
    data = await request.form()
    return {k: v for k, v in data.items() if isinstance(v, str)}


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """An account page (``templates/accounts/NAME``), never cached anywhere."""
    response = page(
        request,
        f"{ACCOUNT_TEMPLATES}/{name}",
        context or {},
        status_code=status_code,
        headers=headers,
    )
    response.headers.setdefault("cache-control", "no-store")
    return attach_cookies(request, response)


def error(request: Request, status: int, message: str, headers: dict | None = None) -> Response:
    """An error page, or JSON for API and fetch clients (the site's common format)."""
    response = error_response(request, status, message, headers=headers)
    response.headers["cache-control"] = "no-store"
    return attach_cookies(request, response)


async def csrf_or_error(request: Request) -> Response | None:
    """None when the CSRF and origin checks pass, else the 403 response for this client."""
    try:
        await check_csrf(request)
    except HTTPException as exc:
        return error(request, exc.status_code, str(exc.detail))
    return None


async def form_user(request: Request, back: str) -> User | Response:
    """The logged-in user of a form post whose CSRF token and origin check out.

    Otherwise the answer to give: the login page (coming back to ``back``) or
    the refusal.
    """
    user = current_user(request)
    if user is None:
        return login_redirect(request, back)
    return await csrf_or_error(request) or user


def json(body: Any, status_code: int = 200) -> Response:
    return JSONResponse(body, status_code=status_code, headers={"cache-control": "no-store"})


async def api_user(request: Request, *, write: bool = True) -> User | Response:
    """The caller of a JSON API route, or the 401/403 to answer.

    A token request was checked by BearerAuth already; a cookie request that
    changes something must also carry its CSRF token (``X-CSRF-Token``).
    """
    user = current_user(request)
    if user is None:
        return error(request, 401, "Log in, or send an API token: Authorization: Bearer pw_…")
    if write:
        refused = await csrf_or_error(request)
        if refused is not None:
            return refused
    return user


def by_token(request: Request) -> bool:
    return bearer_auth(request) is not None


# -- rate limits ----------------------------------------------------------------------------


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def ip_key(request: Request) -> str:
    return ratelimit.key_for(settings(request).secret_key, client_ip(request))


def pair_key(request: Request, email: str) -> str:
    """The throttle key of this account (by email) tried from this client address."""
    try:
        email = normalise_email(email)
    except ValidationError:
        email = (email or "").strip().lower()
    return ratelimit.pair_key(settings(request).secret_key, email, client_ip(request))


def limit(request: Request, which: ratelimit.Limit) -> ratelimit.Limit:
    return ratelimit.configured(settings(request), which)


async def throttled(
    request: Request,
    *,
    limits: Iterable[tuple[ratelimit.Limit, str]] = (),
    backoff: tuple[ratelimit.Backoff, str] | None = None,
    now: datetime,
) -> RateLimited | None:
    """The RateLimited refusal when any limit or the backoff says wait, else None."""
    try:
        await run(ratelimit.check, db(request), list(limits), now=now)
        if backoff is not None:
            await run(ratelimit.check_backoff, db(request), backoff[0], backoff[1], now=now)
    except RateLimited as exc:
        return exc
    return None


def retry_after(exc: RateLimited) -> dict[str, str]:
    return {"Retry-After": str(exc.retry_after)}


# -- sessions and mail ---------------------------------------------------------------------


async def login_response(request: Request, user: User, next_path: str) -> Response:
    """A fresh session (never a reused one) and the redirect that sets its cookie."""
    await run(delete_session, db(request), request.cookies.get(SESSION_COOKIE))
    agent = request.headers.get("user-agent", "")
    token, _expires = await run(
        create_session, db(request), user.id, now=utcnow(), user_agent=agent
    )
    set_current_user(request, user, token)
    response = redirect(request, safe_next(next_path))
    set_session_cookie(request, response, token)
    return response


def mailer(request: Request) -> OutboxAccountMail:
    """Where account mail goes: the outbox (call :func:`kick_mail` once it is queued)."""
    return OutboxAccountMail(db(request), settings(request))


def kick_mail(request: Request) -> None:
    """Wake the app's sender so queued account mail leaves now (call on the event loop).

    Called after every flow that may mail, whether it did or not, so the
    answer's timing does not tell.
    """
    kick = getattr(request.app.state, "inbox_kick", None)
    if kick is not None:
        kick.set()


# -- votes ---------------------------------------------------------------------------------


def refresh_counts(request: Request, response: Response, paper_ids: Iterable[str]) -> Response:
    """After the response: changed upvote counts reach the search index."""
    ids = list(paper_ids)
    if ids:
        response.background = BackgroundTask(_refresh_all, settings(request), db(request), ids)
    return response


def _refresh_all(cfg: Settings, database: Database, ids: list[str]) -> None:
    for paper_id in ids:
        index_updates.after_vote(cfg, database, paper_id)


def papers_changed(cfg: Settings, database: Database, ids: list[str]) -> None:
    """Tell search that these papers changed (hidden or shown again); never raises."""
    try:
        get_backend(cfg).papers_changed(database, ids)
    except Exception:
        log.exception("could not update the search index for %s", ids)


# -- what page routes show for accounts ----------------------------------------------------


def page_viewer(request: Request) -> User | None:
    """Whom a cacheable page may be built for: the session's user, never a token's.

    Pages are shared between anonymous viewers by the absence of a session
    cookie, and a token request has none: what a page shows for a token's user
    (their collections, a hidden paper) must not land in the shared copy.
    """
    return None if by_token(request) else current_user(request)


def is_moderator(request: Request) -> bool:
    """Whether a page may show what only moderators see (a hidden paper)."""
    user = page_viewer(request)
    return bool(user and user.is_moderator)


async def moderator_viewer(request: Request) -> bool:
    """:func:`is_moderator`, without a trip to the thread pool when the viewer is known.

    (Anonymous viewers and remembered sessions are answered on the event loop.)
    """
    if by_token(request):
        return False
    known, user = known_user(request)
    if not known:
        return await run(is_moderator, request)
    return bool(user and user.is_moderator)


def trending_page_data(db: Any, now: datetime, limit: int, offset: int) -> tuple[Any, date | None]:
    """Trending at ``now``; when the window is empty, trending as of the latest day.

    Returns the page and, when it fell back, the day it is anchored on.
    """
    result = feed.trending(db, now, limit=limit, offset=offset)
    if result.total:
        return result, None
    latest = feed.latest_day(db)
    if latest is None or latest >= now.date():
        return result, None
    anchor = datetime.combine(latest, time(23, 59, 59), tzinfo=UTC)
    return feed.trending(db, anchor, limit=limit, offset=offset), latest


__all__ = ["wants_json"]
