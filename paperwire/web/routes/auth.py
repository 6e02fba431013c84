"""Routes: sign-up, address confirmation, login, logout, password reset, the session API.

- Sign-up answers every address alike (303 to "check your inbox"); the mail
  differs: a confirmation link for a new account, "you already have an
  account" with a way to a new password for a taken one.
- Login failures are throttled per account *and* client address with growing
  delays, under a per-address ceiling (see :mod:`paperwire.accounts.ratelimit`),
  so hammering an account from elsewhere never locks its owner out.
- Links in mail (confirm, reset) open a page with a button; only its POST acts,
  so mail scanners that prefetch links change nothing.

Every POST checks the CSRF token and origin (403 otherwise) before anything else.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from ...accounts import ratelimit, recovery
from ...accounts.clock import utcnow
from ...accounts.errors import ValidationError
from ...accounts.links import InvalidLink
from ...accounts.passwords import MAX_LENGTH, MIN_LENGTH, verify_dummy
from ...accounts.sessions import delete_session
from ...accounts.users import authenticate, sign_up
from ..security import (
    SESSION_COOKIE,
    attach_cookies,
    clear_session_cookie,
    csrf_token,
    current_user,
    set_current_user,
    token_scope,
)
from . import common as c

log = logging.getLogger(__name__)
router = APIRouter()

LOGIN_FAILED = "The email or password is incorrect."
LOGIN_FAILED_STRICT = (
    "The email or password is incorrect, or the address is not confirmed yet "
    "(follow the link we mailed you)."
)
BANNED = "This account has been suspended by the moderators."
SIGNUP_SENT = (
    "Thanks! We have sent a message to this address. Follow the link in it to confirm your account."
)
RESET_SENT = (
    "If this address has an account, we have sent it a message with a link to "
    "choose a new password. The link works for one hour."
)
BAD_LINK = "This link is not valid: it is broken, expired, or has been used already."


def _policy() -> dict[str, int]:
    return {"min_password": MIN_LENGTH, "max_password": MAX_LENGTH}


def strict_confirmation(request: Request) -> bool:
    """``confirm_before_login = true`` in config.toml: a new account logs in only once
    its address is confirmed, so not even a sign-up followed by a login tells whether
    an address had an account (the default lets unconfirmed accounts log in and use
    the site, as the confirmation mail may take a while)."""
    value = c.settings(request).extra.get("confirm_before_login", False)
    return str(value).strip().lower() in ("1", "true", "yes", "on")


# -- sign-up --------------------------------------------------------------------------------


@router.get("/signup", include_in_schema=False)
async def signup_form(request: Request, next: str = "/") -> Response:
    if current_user(request) is not None:
        return c.redirect(request, c.safe_next(next))
    return c.render(
        request,
        "signup.html",
        {"next": c.safe_next(next), "email": "", "display_name": "", **_policy()},
    )


@router.post("/signup", include_in_schema=False)
async def signup(request: Request) -> Response:
    refused = await c.csrf_or_error(request)
    if refused:
        return refused
    form = await c.form(request)
    email = form.get("email", "")[:400]
    password = form.get("password", "")
    display_name = form.get("display_name", "")[:200]
    next_path = c.safe_next(form.get("next"))
    ctx = {"next": next_path, "email": email, "display_name": display_name, **_policy()}
    db, now = c.db(request), utcnow()
    ip_hit = (c.limit(request, ratelimit.SIGNUP_IP), c.ip_key(request))
    limited = await c.throttled(request, limits=[ip_hit], now=now)
    if limited:
        return c.render(
            request,
            "signup.html",
            {**ctx, "error": str(limited)},
            status_code=429,
            headers=c.retry_after(limited),
        )
    await c.run(ratelimit.record, db, [ip_hit], now=now)
    try:
        outcome = await c.run(sign_up, db, email, password, now=now, display_name=display_name)
    except ValidationError as exc:  # bad input only: never "this address is taken"
        return c.render(request, "signup.html", {**ctx, "error": str(exc)}, status_code=400)
    settings, mailer = c.settings(request), c.mailer(request)
    await c.run(recovery.after_sign_up, db, settings, mailer, outcome, now=now)
    c.kick_mail(request)
    sent = "/signup/sent" + (f"?next={quote(next_path, safe='/')}" if next_path != "/" else "")
    return c.redirect(request, sent)


@router.get("/signup/sent", include_in_schema=False)
async def signup_sent(request: Request, next: str = "/") -> Response:
    return c.render(
        request,
        "message.html",
        {
            "title": "Check your inbox",
            "message": SIGNUP_SENT,
            "login_link": not strict_confirmation(request),
            "next": c.safe_next(next),
        },
    )


# -- confirming an address -----------------------------------------------------------------


@router.get("/account/verify/{token}", include_in_schema=False)
async def verify_page(request: Request, token: str) -> Response:
    try:
        recovery.links(c.settings(request)).check_verify(token)
    except InvalidLink:
        return _bad_link(request)
    return c.render(request, "confirm.html", {"token": token, "action": "/account/verify/"})


@router.post("/account/verify/{token}", include_in_schema=False)
async def verify(request: Request, token: str) -> Response:
    refused = await c.csrf_or_error(request)
    if refused:
        return refused
    db, settings = c.db(request), c.settings(request)
    try:
        user, then = await c.run(recovery.confirm_address, db, settings, token, now=utcnow())
    except InvalidLink:
        return _bad_link(request)
    if then == "reset":
        path = await c.run(recovery.reset_path_after_confirm, db, settings, user)
        return c.redirect(request, path)
    viewer = current_user(request)
    return c.render(
        request,
        "message.html",
        {
            "title": "Address confirmed",
            "message": f"Thank you: {user.email} is confirmed.",
            "login_link": viewer is None or viewer.id != user.id,
        },
    )


def _bad_link(request: Request) -> Response:
    return c.render(
        request,
        "message.html",
        {"title": "This link is not valid", "message": BAD_LINK, "reset_link": True},
        status_code=404,
    )


# -- login and logout -------------------------------------------------------------------------


@router.get("/login", include_in_schema=False)
async def login_form(request: Request, next: str = "/") -> Response:
    if current_user(request) is not None:
        return c.redirect(request, c.safe_next(next))
    return c.render(request, "login.html", {"next": c.safe_next(next), "email": ""})


@router.post("/login", include_in_schema=False)
async def login(request: Request) -> Response:
    refused = await c.csrf_or_error(request)
    if refused:
        return refused
    form = await c.form(request)
    email = form.get("email", "")[:400]
    password = form.get("password", "")
    next_path = c.safe_next(form.get("next"))
    ctx = {"next": next_path, "email": email}
    db, now = c.db(request), utcnow()
    ip_hit = (c.limit(request, ratelimit.LOGIN_IP), c.ip_key(request))
    pair = (ratelimit.LOGIN_PAIR, c.pair_key(request, email))
    limited = await c.throttled(request, limits=[ip_hit], backoff=pair, now=now)
    if limited:
        return c.render(
            request,
            "login.html",
            {**ctx, "error": str(limited)},
            status_code=429,
            headers=c.retry_after(limited),
        )
    user = await c.run(authenticate, db, email, password)
    strict = strict_confirmation(request)
    if user is None or (strict and not user.verified):
        await c.run(ratelimit.record, db, [ip_hit, pair], now=now)
        message = LOGIN_FAILED_STRICT if strict else LOGIN_FAILED
        return c.render(request, "login.html", {**ctx, "error": message}, status_code=400)
    await c.run(ratelimit.clear, db, *pair)
    if user.banned:
        return c.render(request, "login.html", {**ctx, "error": BANNED}, status_code=403)
    return await c.login_response(request, user, next_path)


@router.post("/logout", include_in_schema=False)
async def logout(request: Request) -> Response:
    refused = await c.csrf_or_error(request)
    if refused:
        return refused
    await c.run(delete_session, c.db(request), request.cookies.get(SESSION_COOKIE))
    set_current_user(request, None)
    response = c.redirect(request, "/")
    clear_session_cookie(request, response)
    return response


# -- password reset -----------------------------------------------------------------------------


@router.get("/reset", include_in_schema=False)
async def reset_request_form(request: Request) -> Response:
    return c.render(request, "reset_request.html", {"email": ""})


@router.post("/reset", include_in_schema=False)
async def reset_request(request: Request) -> Response:
    refused = await c.csrf_or_error(request)
    if refused:
        return refused
    form = await c.form(request)
    email = form.get("email", "")[:400]
    db, now = c.db(request), utcnow()
    ip_hit = (c.limit(request, ratelimit.RESET_IP), c.ip_key(request))
    limited = await c.throttled(request, limits=[ip_hit], now=now)
    if limited:
        return c.render(
            request,
            "reset_request.html",
            {"email": email, "error": str(limited)},
            status_code=429,
            headers=c.retry_after(limited),
        )
    await c.run(ratelimit.record, db, [ip_hit], now=now)
    settings, mailer = c.settings(request), c.mailer(request)
    await c.run(recovery.request_reset, db, settings, mailer, email, now=now)
    c.kick_mail(request)
    return c.render(request, "message.html", {"title": "Check your inbox", "message": RESET_SENT})


@router.get("/reset/{token}", include_in_schema=False)
async def reset_form(request: Request, token: str) -> Response:
    try:
        user = await c.run(recovery.user_for_reset, c.db(request), c.settings(request), token)
    except InvalidLink:
        return _bad_link(request)
    return c.render(request, "reset.html", {"token": token, "email": user.email, **_policy()})


@router.post("/reset/{token}", include_in_schema=False)
async def reset(request: Request, token: str) -> Response:
    refused = await c.csrf_or_error(request)
    if refused:
        return refused
    form = await c.form(request)
    password = form.get("password", "")
    db, settings = c.db(request), c.settings(request)
    try:
        user = await c.run(recovery.user_for_reset, db, settings, token)
    except InvalidLink:
        return _bad_link(request)
    if password != form.get("password2", password):
        ctx = {"token": token, "email": user.email, "error": "The passwords differ.", **_policy()}
        return c.render(request, "reset.html", ctx, status_code=400)
    try:
        user = await c.run(recovery.reset_password, db, settings, token, password, now=utcnow())
    except ValidationError as exc:
        ctx = {"token": token, "email": user.email, "error": str(exc), **_policy()}
        return c.render(request, "reset.html", ctx, status_code=400)
    except InvalidLink:
        return _bad_link(request)
    return await c.login_response(request, user, "/account?reset=1")


# -- the session API -------------------------------------------------------------------------------


class SessionUser(BaseModel):
    id: int
    name: str
    verified: bool = Field(description="whether the account's address is confirmed")
    role: str = Field(description="user, moderator or admin")


class SessionOut(BaseModel):
    user: SessionUser | None = Field(description="the logged-in user, or null")
    csrf_token: str = Field(description="send as X-CSRF-Token with POST requests")
    auth: str | None = Field(description="'session', 'token:read', 'token:write' or null")


@router.get(
    "/api/session", tags=["accounts"], response_model=SessionOut, summary="Viewer and CSRF token"
)
async def api_session(request: Request) -> Response:
    """The viewer and a CSRF token for ``X-CSRF-Token`` (same-origin clients and scripts)."""
    user = await run_in_threadpool(current_user, request)
    scope = token_scope(request)
    body = {
        "user": (
            {"id": user.id, "name": user.name, "verified": user.verified, "role": user.role}
            if user
            else None
        ),
        "csrf_token": csrf_token(request),
        "auth": (f"token:{scope}" if scope else "session") if user else None,
    }
    response = JSONResponse(body, headers={"cache-control": "no-store"})
    return attach_cookies(request, response)


async def on_startup(app) -> None:  # type: ignore[no-untyped-def]
    """Compute the dummy hash now, so the first unknown-email login is not slower."""
    await run_in_threadpool(verify_dummy)
