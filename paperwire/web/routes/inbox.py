"""Routes: digest subscriptions (pages and JSON API), signed links, preview; the scheduler.

- ``GET/POST /subscribe``: the form (CSRF-protected), with or without an account.
- ``POST /api/subscriptions``: the same for scripts (JSON; schema in docs/inbox.md).
- ``GET/POST /subscriptions/confirm/{token}``: double opt-in (GET shows a button,
  so link scanners that prefetch URLs do not confirm on the owner's behalf).
- ``GET/POST /subscriptions/manage/{token}``: preferences, by signed link.
- ``GET/POST /unsubscribe/{token}``: RFC 8058 one-click (the POST needs no CSRF
  token: the signed token in the URL is the credential); GET asks to confirm.
- ``GET /digest/preview``: the logged-in user's next digest.

Every subscribe request gets the same answer, whatever the address's state, so
responses never reveal who is subscribed.  Routes parse, call
:mod:`paperwire.inbox`, and render; no SQL here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from ...accounts import ratelimit
from ...accounts.errors import RateLimited
from ...config import Settings
from ...db import Database
from ...inbox import runner
from ...inbox import subscriptions as subs
from ...inbox.options import InboxOptions
from ...inbox.periods import timezone_names
from ...inbox.tokens import InvalidToken, Tokens
from ..security import attach_cookies, check_csrf, current_user
from ..templating import page

log = logging.getLogger(__name__)
router = APIRouter()

ACCEPTED = (
    "Thanks! If this address can receive mail, we have sent it a message. "
    "Follow the link in it to confirm your subscription."
)
MAX_BODY = 16 * 1024
TRANSACTIONAL = ("confirm", "notice", "account")


# -- helpers -----------------------------------------------------------------------


def _db(request: Request) -> Database:
    return request.app.state.db


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _options(request: Request) -> InboxOptions:
    opts = getattr(request.app.state, "inbox_options", None)
    if opts is None:
        opts = request.app.state.inbox_options = InboxOptions.from_settings(_settings(request))
    return opts


def _render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> Response:
    response = page(request, f"inbox/{name}", context or {}, status_code=status_code)
    response.headers["cache-control"] = "no-store"
    # Tokens live in these URLs: never send them to another site.  (Not no-referrer:
    # then browsers send "Origin: null" with the forms, which the CSRF check refuses.)
    response.headers["referrer-policy"] = "same-origin"
    return attach_cookies(request, response)


async def _csrf_refused(request: Request) -> Response | None:
    """The page for a form post without a valid CSRF token; None when it has one."""
    try:
        await check_csrf(request)
    except HTTPException as exc:
        return _render(
            request,
            "message.html",
            {"title": "Request refused", "message": exc.detail},
            status_code=exc.status_code,
        )
    return None


def _invalid_link(request: Request) -> Response:
    return _render(
        request,
        "message.html",
        {
            "title": "This link is not valid",
            "message": "The link is broken or has expired. You can subscribe again at any time.",
            "subscribe_link": True,
        },
        status_code=404,
    )


def _subscribe_limit(request: Request) -> ratelimit.Limit:
    return ratelimit.Limit("subscribe-ip", _options(request).subscribe_per_ip, timedelta(hours=1))


async def _rate_limit(request: Request) -> None:
    """Count this request against the client's address; RateLimited when over."""
    ip = request.client.host if request.client else "unknown"
    key = ratelimit.key_for(_settings(request).secret_key, ip)
    limit = _subscribe_limit(request)
    now = subs.utcnow()
    await run_in_threadpool(ratelimit.check, _db(request), [(limit, key)], now=now)
    await run_in_threadpool(ratelimit.record, _db(request), [(limit, key)], now=now)


def _kick(request: Request) -> None:
    """Ask the sender to deliver transactional mail (confirmations) now."""
    kick = getattr(request.app.state, "inbox_kick", None)
    if kick is not None:
        kick.set()


async def _form(request: Request) -> dict[str, Any]:
    form = await request.form()
    data: dict[str, Any] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            data.setdefault(key, []).append(value)
    return data


def _one(data: dict[str, Any], key: str, default: str = "") -> str:
    values = data.get(key) or [default]
    return values[0]


def _prefs_from_form(data: dict[str, Any]) -> subs.Preferences:
    categories = [c for c in data.get("categories", []) if c.strip()]
    extra = _one(data, "more_categories")
    if extra.strip():
        categories += [c for c in extra.replace(",", " ").split() if c]
    topics = _one(data, "topics").splitlines()
    return subs.make_preferences(
        frequency=_one(data, "frequency", "daily"),
        timezone=_one(data, "timezone", "UTC") or "UTC",
        trending=_one(data, "trending") in ("1", "on", "true"),
        categories=categories,
        topics=[t for t in topics if t.strip()],
        similar_to_upvotes=_one(data, "similar_to_upvotes") in ("1", "on", "true"),
        following=_one(data, "following") in ("1", "on", "true"),
    )


def _suggested_categories(request: Request) -> list[str]:
    """The most common categories, for checkboxes (cached for ten minutes)."""
    cached = getattr(request.app.state, "inbox_categories", None)
    if cached is not None and time.monotonic() - cached[0] < 600:
        return cached[1]
    try:
        from ...feed.ranking import known_categories

        categories = [c for c, _n in known_categories(_db(request), limit=24)]
    except Exception:  # the form works without suggestions
        categories = []
    request.app.state.inbox_categories = (time.monotonic(), categories)
    return categories


def _form_context(request: Request, **extra: Any) -> dict[str, Any]:
    categories = _suggested_categories(request)
    ctx: dict[str, Any] = {
        "timezones": timezone_names(),
        "known_categories": categories,
        "frequency": "daily",
        "timezone": "UTC",
        "trending": True,
        "categories": [],
        "topics": "",
        "similar_to_upvotes": False,
        "following": False,
        "errors": {},
    }
    ctx.update(extra)
    return ctx


def _prefs_context(prefs: subs.Preferences) -> dict[str, Any]:
    return {
        "frequency": prefs.frequency,
        "timezone": prefs.timezone,
        "trending": prefs.trending,
        "categories": list(prefs.categories),
        "topics": "\n".join(prefs.topics),
        "similar_to_upvotes": prefs.similar_to_upvotes,
        "following": prefs.following,
    }


# -- subscribe -----------------------------------------------------------------------


@router.get("/subscribe", include_in_schema=False)
async def subscribe_page(request: Request) -> Response:
    user = current_user(request)
    return _render(
        request,
        "subscribe.html",
        _form_context(request, email=user.email if user else "", similar_to_upvotes=bool(user)),
    )


@router.post("/subscribe", include_in_schema=False)
async def subscribe_form(request: Request) -> Response:
    refused = await _csrf_refused(request)
    if refused is not None:
        return refused
    data = await _form(request)
    email = _one(data, "email").strip()
    try:
        await _rate_limit(request)
    except RateLimited as exc:
        return _render(
            request,
            "subscribe.html",
            _form_context(request, email=email, errors={"form": str(exc)}),
            status_code=429,
        )
    try:
        prefs = _prefs_from_form(data)
        subs.normalise_email(email)
    except subs.InvalidInput as exc:
        ctx = _form_context(request, email=email, errors={exc.field: exc.message})
        ctx.update(
            frequency=_one(data, "frequency", "daily"),
            timezone=_one(data, "timezone", "UTC"),
            trending=_one(data, "trending") in ("1", "on", "true"),
            categories=data.get("categories", []),
            topics=_one(data, "topics"),
        )
        return _render(request, "subscribe.html", ctx, status_code=422)
    user = current_user(request)
    await run_in_threadpool(
        subs.subscribe,
        _db(request),
        _settings(request),
        email,
        prefs,
        user_id=user.id if user else None,
        options=_options(request),
    )
    _kick(request)
    return _render(request, "message.html", {"title": "Check your inbox", "message": ACCEPTED})


def _problem(status: int, field: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"detail": [{"loc": ["body", field], "msg": message, "type": "value_error"}]},
        status_code=status,
    )


ALLOWED_FIELDS = {
    "email",
    "frequency",
    "topics",
    "categories",
    "timezone",
    "trending",
    "similar_to_upvotes",
    "following",
}


SUBSCRIPTION_SCHEMA = {
    "type": "object",
    "required": ["email"],
    "additionalProperties": False,
    "properties": {
        "email": {"type": "string", "format": "email", "maxLength": 320},
        "frequency": {"type": "string", "enum": ["daily", "weekly"], "default": "daily"},
        "topics": {
            "type": "array",
            "maxItems": subs.MAX_TOPICS,
            "items": {"type": "string", "maxLength": subs.MAX_TOPIC_LENGTH},
            "description": "Free-text topics, matched with the hybrid search.",
        },
        "categories": {
            "type": "array",
            "maxItems": subs.MAX_CATEGORIES,
            "items": {"type": "string", "pattern": subs.CATEGORY_RE.pattern},
        },
        "timezone": {"type": "string", "default": "UTC", "description": "IANA time zone."},
        "trending": {
            "type": "boolean",
            "description": "Global trending; default true unless topics or categories are set.",
        },
        "similar_to_upvotes": {
            "type": "boolean",
            "default": False,
            "description": "Papers similar to the upvotes and collections of the account "
            "that owns the address.",
        },
        "following": {
            "type": "boolean",
            "default": False,
            "description": "Papers by the authors and in the categories that the account "
            "owning the address follows.",
        },
    },
}


@router.post(
    "/api/subscriptions",
    tags=["inbox"],
    status_code=202,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": SUBSCRIPTION_SCHEMA}},
        }
    },
    responses={
        202: {"description": "Accepted (the same answer for every address)"},
        400: {"description": "Body is not a JSON object"},
        413: {"description": "Body too large"},
        415: {"description": "Not application/json"},
        422: {"description": "Invalid field"},
        429: {"description": "Too many requests from this address"},
    },
)
async def api_subscribe(request: Request) -> JSONResponse:
    """Subscribe an address to digests (double opt-in: a confirmation mail is sent).

    Body: ``{"email": str, "frequency": "daily"|"weekly", "topics": [str],
    "categories": [str], "timezone": "Area/City", "trending": bool,
    "similar_to_upvotes": bool}``; only ``email`` is required.  The answer is
    202 whether or not the address was already subscribed.
    """
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        return _problem(415, "body", "send application/json")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return _problem(413, "body", "request body too large")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return _problem(400, "body", "body is not valid JSON")
    if not isinstance(data, dict):
        return _problem(422, "body", "body must be a JSON object")
    unknown = sorted(set(data) - ALLOWED_FIELDS)
    if unknown:
        return _problem(422, unknown[0], "unknown field")
    for name in ("topics", "categories"):
        if data.get(name) is not None and not isinstance(data[name], list):
            return _problem(422, name, "must be a list of strings")
    try:
        email = subs.normalise_email(data.get("email"))
        prefs = subs.make_preferences(
            frequency=data.get("frequency", "daily"),
            timezone=data.get("timezone", "UTC"),
            trending=data.get("trending"),
            categories=data.get("categories"),
            topics=data.get("topics"),
            similar_to_upvotes=data.get("similar_to_upvotes"),
            following=data.get("following"),
        )
    except subs.InvalidInput as exc:
        return _problem(422, exc.field, exc.message)
    try:
        await _rate_limit(request)
    except RateLimited as exc:
        return JSONResponse(
            {"detail": str(exc)},
            status_code=429,
            headers={"retry-after": str(getattr(exc, "retry_after", 3600))},
        )
    await run_in_threadpool(
        subs.subscribe, _db(request), _settings(request), email, prefs, options=_options(request)
    )
    _kick(request)
    return JSONResponse({"status": "accepted", "detail": ACCEPTED}, status_code=202)


# -- signed links --------------------------------------------------------------------


@router.get("/subscriptions/confirm/{token}", include_in_schema=False)
async def confirm_page(request: Request, token: str) -> Response:
    opts = _options(request)
    try:
        Tokens(_settings(request).secret_key).check_confirm(token, opts.confirm_max_age)
    except InvalidToken:
        return _invalid_link(request)
    return _render(request, "confirm.html", {"token": token})


@router.post("/subscriptions/confirm/{token}", include_in_schema=False)
async def confirm_post(request: Request, token: str) -> Response:
    try:
        sub = await run_in_threadpool(subs.confirm, _db(request), _settings(request), token)
    except InvalidToken:
        return _invalid_link(request)
    manage = "/subscriptions/manage/" + Tokens(_settings(request).secret_key).manage(sub.id)
    return _render(
        request,
        "message.html",
        {
            "title": "Subscription confirmed",
            "message": f"You will receive {sub.prefs.frequency} digests at {sub.email}.",
            "manage_url": manage,
        },
    )


def _managed(request: Request, token: str) -> subs.Subscription | None:
    try:
        sid = Tokens(_settings(request).secret_key).check_manage(token)
    except InvalidToken:
        return None
    sub = subs.get(_db(request), sid)
    return sub if sub is not None and sub.status != "unsubscribed" else None


@router.get("/subscriptions/manage/{token}", include_in_schema=False)
async def manage_page(request: Request, token: str) -> Response:
    sub = await run_in_threadpool(_managed, request, token)
    if sub is None:
        return _invalid_link(request)
    tokens = Tokens(_settings(request).secret_key)
    ctx = _form_context(request, email=sub.email, token=token, subscription=sub)
    ctx.update(_prefs_context(sub.prefs))
    ctx["unsubscribe_url"] = "/unsubscribe/" + tokens.unsubscribe(sub.id)
    return _render(request, "manage.html", ctx)


@router.post("/subscriptions/manage/{token}", include_in_schema=False)
async def manage_post(request: Request, token: str) -> Response:
    refused = await _csrf_refused(request)
    if refused is not None:
        return refused
    sub = await run_in_threadpool(_managed, request, token)
    if sub is None:
        return _invalid_link(request)
    data = await _form(request)
    tokens = Tokens(_settings(request).secret_key)
    try:
        prefs = _prefs_from_form(data)
    except subs.InvalidInput as exc:
        ctx = _form_context(request, email=sub.email, token=token, subscription=sub)
        ctx.update(_prefs_context(sub.prefs))
        ctx["errors"] = {exc.field: exc.message}
        ctx["unsubscribe_url"] = "/unsubscribe/" + tokens.unsubscribe(sub.id)
        return _render(request, "manage.html", ctx, status_code=422)
    await run_in_threadpool(subs.update_preferences, _db(request), sub.id, prefs)
    return attach_cookies(
        request, RedirectResponse(f"/subscriptions/manage/{token}?saved=1", status_code=303)
    )


def _unsubscribe_id(request: Request, token: str) -> int | None:
    try:
        return Tokens(_settings(request).secret_key).check_unsubscribe(token)
    except InvalidToken:
        return None


@router.get("/unsubscribe/{token}", include_in_schema=False)
async def unsubscribe_page(request: Request, token: str) -> Response:
    if _unsubscribe_id(request, token) is None:
        return _invalid_link(request)
    return _render(request, "unsubscribe.html", {"token": token})


@router.post("/unsubscribe/{token}", include_in_schema=False)
async def unsubscribe_post(request: Request, token: str) -> Response:
    """RFC 8058 one-click: mail clients POST ``List-Unsubscribe=One-Click`` here."""
    sid = _unsubscribe_id(request, token)
    if sid is None:
        return _invalid_link(request)
    await run_in_threadpool(subs.unsubscribe, _db(request), sid)
    return _render(
        request,
        "message.html",
        {
            "title": "You are unsubscribed",
            "message": "This address will receive no more digests.",
            "subscribe_link": True,
        },
    )


# -- preview -------------------------------------------------------------------------


@router.get("/digest/preview", include_in_schema=False)
async def preview_page(request: Request) -> Response:
    user = current_user(request)
    if user is None:
        return attach_cookies(
            request, RedirectResponse("/login?next=/digest/preview", status_code=303)
        )

    def build() -> runner.Preview:
        db = _db(request)
        sub = subs.find_for_user(db, user.id, user.email)
        if sub is not None and sub.status != "active":
            sub = None
        return runner.preview(db, _settings(request), subscription=sub, user_id=user.id)

    result = await run_in_threadpool(build)
    if request.query_params.get("format") == "html":
        return HTMLResponse(
            result.html,
            headers={
                "cache-control": "no-store",
                "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
            },
        )
    return _render(request, "preview.html", {"preview": result})


# -- scheduler -----------------------------------------------------------------------


async def _scheduler(app: FastAPI, opts: InboxOptions) -> None:
    """Each tick (or when kicked): compose what is due and deliver; never dies."""
    settings: Settings = app.state.settings
    db: Database = app.state.db
    kick: asyncio.Event = app.state.inbox_kick
    while True:
        kicked = False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(kick.wait(), timeout=opts.digest_interval)
            kicked = True
        kick.clear()
        try:
            # With the job scheduler in this app, its digests job composes; here only mail.
            jobs_compose = getattr(app.state, "jobs_scheduler", None) is not None
            if kicked or not opts.digest_scheduler or jobs_compose:
                report = await asyncio.to_thread(
                    runner.run, db, settings, compose=False, kinds=TRANSACTIONAL, wait=30
                )
            else:
                report = await asyncio.to_thread(runner.run, db, settings, wait=0)
            if report.unreachable:
                log.warning("digest delivery: %s", report.unreachable)
        except Exception:
            log.exception("digest scheduler tick failed")


async def on_startup(app: FastAPI) -> None:
    """Start the sender: transactional mail on demand, digests on a schedule."""
    opts = InboxOptions.from_settings(app.state.settings)
    app.state.inbox_options = opts
    app.state.inbox_kick = asyncio.Event()
    nav = getattr(app.state, "nav_links", None)
    if isinstance(nav, list) and ("Digests", "/subscribe") not in nav:
        nav.append(("Digests", "/subscribe"))
    elif nav is None:
        app.state.nav_links = [("Digests", "/subscribe")]
    app.state.inbox_task = asyncio.create_task(_scheduler(app, opts))


async def on_shutdown(app: FastAPI) -> None:
    task = getattr(app.state, "inbox_task", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
