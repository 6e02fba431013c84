"""Routes: account settings, sessions, API tokens, export and deletion (pages and JSON API).

- ``/account``: name, address (confirm it, change it by a link to the new
  address), password (confirmed by the current one);
- ``/account/sessions``: every login with its browser and when it was last
  seen; end one, or log out everywhere;
- ``/account/tokens``: personal access tokens (shown once, revocable);
- ``/account/export`` and ``/account/delete``; the same through
  ``GET /api/me/export`` and ``POST /api/me/delete``.

Changes that a stolen session could abuse (password, address, deletion) ask
for the current password, throttled like logins.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ...accounts import privacy, ratelimit, recovery, sessions, tokens
from ...accounts.clock import utcnow
from ...accounts.errors import NotFound, ValidationError
from ...accounts.links import InvalidLink
from ...accounts.passwords import MAX_LENGTH, MIN_LENGTH
from ...accounts.users import TAKEN, EmailTaken, User, check_password, set_display_name
from ...discussion.comments import reply_mail
from ..security import clear_session_cookie, current_user, session_token, set_current_user
from . import common as c

router = APIRouter()

WRONG_PASSWORD = "The password is not correct."


def _user_or_login(request: Request, path: str) -> User | Response:
    user = current_user(request)
    if user is None:
        return c.login_redirect(request, path)
    return user


async def _password_refused(request: Request, user: User, password: str) -> str | None:
    """None when ``password`` is the user's; else why not (failures throttled like logins)."""
    now = utcnow()
    ip_hit = (c.limit(request, ratelimit.LOGIN_IP), c.ip_key(request))
    pair = (ratelimit.LOGIN_PAIR, c.pair_key(request, user.email))
    limited = await c.throttled(request, limits=[ip_hit], backoff=pair, now=now)
    if limited:
        return str(limited)
    if not await c.run(check_password, c.db(request), user.id, password):
        await c.run(ratelimit.record, c.db(request), [ip_hit, pair], now=now)
        return WRONG_PASSWORD
    return None


def _done(request: Request) -> str:
    """Which change the settings page confirms (``?done=…``; ``?reset=1`` after a reset)."""
    params = request.query_params
    return params.get("done") or ("reset" if params.get("reset") else "")


def _settings_context(request: Request, user: User, **extra: Any) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "account": user,
        "min_password": MIN_LENGTH,
        "max_password": MAX_LENGTH,
        "notice": {
            "reset": "Your new password is set. Every other session was logged out.",
            "password": "Your password is changed. Every other session was logged out.",
            "name": "Your display name is saved.",
            "sent": "We sent a new confirmation link to your address.",
            "replies": "Your reply email setting is saved.",
        }.get(_done(request)),
        "notify_replies": reply_mail(c.db(request), user.id),
    }
    ctx.update(extra)
    return ctx


# -- the settings page ------------------------------------------------------------------------


@router.get("/account", include_in_schema=False)
async def account_page(request: Request) -> Response:
    user = _user_or_login(request, "/account")
    if isinstance(user, Response):
        return user
    return c.render(request, "settings.html", _settings_context(request, user))


@router.post("/account/profile", include_in_schema=False)
async def update_profile(request: Request) -> Response:
    user = _user_or_login(request, "/account")
    if isinstance(user, Response):
        return user
    refused = await c.csrf_or_error(request)
    if refused:
        return refused
    form = await c.form(request)
    try:
        await c.run(set_display_name, c.db(request), user.id, form.get("display_name", "")[:200])
    except ValidationError as exc:
        ctx = _settings_context(request, user, profile_error=str(exc))
        return c.render(request, "settings.html", ctx, status_code=400)
    return c.redirect(request, "/account?done=name")


@router.post("/account/verify", include_in_schema=False)
async def resend_verification(request: Request) -> Response:
    user = _user_or_login(request, "/account")
    if isinstance(user, Response):
        return user
    refused = await c.csrf_or_error(request)
    if refused:
        return refused
    db, settings = c.db(request), c.settings(request)
    await c.run(recovery.send_verification, db, settings, c.mailer(request), user, now=utcnow())
    c.kick_mail(request)
    return c.redirect(request, "/account?done=sent")


@router.post("/account/password", include_in_schema=False)
async def change_password(request: Request) -> Response:
    user = _user_or_login(request, "/account")
    if isinstance(user, Response):
        return user
    refused = await c.csrf_or_error(request)
    if refused:
        return refused
    form = await c.form(request)
    new = form.get("new_password", "")
    if new != form.get("new_password2", new):
        ctx = _settings_context(request, user, password_error="The new passwords differ.")
        return c.render(request, "settings.html", ctx, status_code=400)
    problem = await _password_refused(request, user, form.get("password", ""))
    if problem is None:
        try:
            await c.run(
                recovery.change_password,
                c.db(request),
                c.settings(request),
                c.mailer(request),
                user,
                form.get("password", ""),
                new,
                keep_session=session_token(request),
                now=utcnow(),
            )
        except ValidationError as exc:
            problem = str(exc)
    if problem is not None:
        ctx = _settings_context(request, user, password_error=problem)
        status = 429 if problem.startswith("Too many") else 400
        return c.render(request, "settings.html", ctx, status_code=status)
    c.kick_mail(request)
    return c.redirect(request, "/account?done=password")


@router.post("/account/email", include_in_schema=False)
async def change_email(request: Request) -> Response:
    user = _user_or_login(request, "/account")
    if isinstance(user, Response):
        return user
    refused = await c.csrf_or_error(request)
    if refused:
        return refused
    form = await c.form(request)
    new_email = form.get("email", "")[:400]
    problem = await _password_refused(request, user, form.get("password", ""))
    sent = ""
    if problem is None:
        try:
            sent = await c.run(
                recovery.request_email_change,
                c.db(request),
                c.settings(request),
                c.mailer(request),
                user,
                new_email,
                now=utcnow(),
            )
        except ValidationError as exc:
            problem = str(exc)
    if problem is not None:
        ctx = _settings_context(request, user, email_error=problem, new_email=new_email)
        status = 429 if problem.startswith("Too many") else 400
        return c.render(request, "settings.html", ctx, status_code=status)
    c.kick_mail(request)
    return c.render(
        request,
        "message.html",
        {
            "title": "Check the new address",
            "message": f"We sent a link to {sent}. Your address changes when you follow it "
            "(within 24 hours); until then it stays as it is.",
        },
    )


@router.get("/account/email/{token}", include_in_schema=False)
async def email_change_page(request: Request, token: str) -> Response:
    try:
        claim = recovery.links(c.settings(request)).check_email(token)
    except InvalidLink:
        return _bad_link(request)
    return c.render(
        request,
        "confirm.html",
        {"token": token, "action": "/account/email/", "new_email": claim.new},
    )


@router.post("/account/email/{token}", include_in_schema=False)
async def email_change(request: Request, token: str) -> Response:
    refused = await c.csrf_or_error(request)
    if refused:
        return refused
    try:
        user = await c.run(
            recovery.confirm_email_change,
            c.db(request),
            c.settings(request),
            c.mailer(request),
            token,
            now=utcnow(),
        )
    except InvalidLink:
        return _bad_link(request)
    except EmailTaken:
        return c.render(
            request, "message.html", {"title": "Address not changed", "message": TAKEN}, 409
        )
    c.kick_mail(request)
    return c.render(
        request,
        "message.html",
        {"title": "Address changed", "message": f"Your account now uses {user.email}."},
    )


def _bad_link(request: Request) -> Response:
    return c.render(
        request,
        "message.html",
        {
            "title": "This link is not valid",
            "message": "This link is broken, expired, or has been used already.",
        },
        status_code=404,
    )


# -- sessions ---------------------------------------------------------------------------------


@router.get("/account/sessions", include_in_schema=False)
async def sessions_page(request: Request) -> Response:
    user = _user_or_login(request, "/account/sessions")
    if isinstance(user, Response):
        return user
    items = await c.run(sessions.list_sessions, c.db(request), user.id, now=utcnow())
    token = session_token(request)
    current = sessions.public_id(token) if token else ""
    return c.render(request, "sessions.html", {"sessions": items, "current": current})


@router.post("/account/sessions/{public_id}/end", include_in_schema=False)
async def end_session(request: Request, public_id: str) -> Response:
    user = _user_or_login(request, "/account/sessions")
    if isinstance(user, Response):
        return user
    refused = await c.csrf_or_error(request)
    if refused:
        return refused
    token = session_token(request)
    ending_own = bool(token) and sessions.public_id(token) == public_id
    await c.run(sessions.delete_session_by_public_id, c.db(request), user.id, public_id[:32])
    if ending_own:
        return _logged_out(request)
    return c.redirect(request, "/account/sessions")


@router.post("/account/sessions/end-all", include_in_schema=False)
async def end_all_sessions(request: Request) -> Response:
    """Log out everywhere, this browser included."""
    user = _user_or_login(request, "/account/sessions")
    if isinstance(user, Response):
        return user
    refused = await c.csrf_or_error(request)
    if refused:
        return refused
    await c.run(sessions.delete_user_sessions, c.db(request), user.id)
    return _logged_out(request)


def _logged_out(request: Request, to: str = "/login") -> Response:
    set_current_user(request, None)
    response = c.redirect(request, to)
    clear_session_cookie(request, response)
    return response


# -- API tokens -------------------------------------------------------------------------------


@router.get("/account/tokens", include_in_schema=False)
async def tokens_page(request: Request) -> Response:
    user = _user_or_login(request, "/account/tokens")
    if isinstance(user, Response):
        return user
    items = await c.run(tokens.list_for_user, c.db(request), user.id)
    return c.render(request, "tokens.html", {"tokens": items, "account": user, "name": ""})


@router.post("/account/tokens", include_in_schema=False)
async def create_token(request: Request) -> Response:
    user = _user_or_login(request, "/account/tokens")
    if isinstance(user, Response):
        return user
    refused = await c.csrf_or_error(request)
    if refused:
        return refused
    if c.by_token(request):
        return c.error(request, 403, "Create tokens on the site, not with another token.")
    form = await c.form(request)
    name, scope = form.get("name", "")[:300], form.get("scope", "read")
    db = c.db(request)
    try:
        secret, created = await c.run(tokens.create, db, user, name, scope, now=utcnow())
    except ValidationError as exc:
        items = await c.run(tokens.list_for_user, db, user.id)
        ctx = {"tokens": items, "account": user, "name": name, "error": str(exc)}
        return c.render(request, "tokens.html", ctx, status_code=400)
    items = await c.run(tokens.list_for_user, db, user.id)
    ctx = {"tokens": items, "account": user, "name": "", "secret": secret, "created": created}
    return c.render(request, "tokens.html", ctx, status_code=201)


@router.post("/account/tokens/{token_id}/revoke", include_in_schema=False)
async def revoke_token(request: Request, token_id: int) -> Response:
    user = _user_or_login(request, "/account/tokens")
    if isinstance(user, Response):
        return user
    refused = await c.csrf_or_error(request)
    if refused:
        return refused
    try:
        await c.run(tokens.revoke, c.db(request), user.id, token_id)
    except NotFound as exc:
        return c.error(request, 404, str(exc))
    return c.redirect(request, "/account/tokens")


# -- export and deletion ------------------------------------------------------------------------


def _export_response(data: dict[str, Any]) -> Response:
    body = json.dumps(data, ensure_ascii=False, indent=2, default=str).encode()
    return Response(
        body,
        media_type="application/json",
        headers={
            "content-disposition": 'attachment; filename="paperwire-export.json"',
            "cache-control": "no-store",
        },
    )


@router.post("/account/export", include_in_schema=False)
async def export_page(request: Request) -> Response:
    user = _user_or_login(request, "/account")
    if isinstance(user, Response):
        return user
    refused = await c.csrf_or_error(request)
    if refused:
        return refused
    data = await c.run(privacy.export_account, c.db(request), user, now=utcnow())
    return _export_response(data)


@router.get("/account/delete", include_in_schema=False)
async def delete_page(request: Request) -> Response:
    user = _user_or_login(request, "/account/delete")
    if isinstance(user, Response):
        return user
    return c.render(request, "delete.html", {"account": user})


DELETED = (
    "Your account and everything personal about it are gone: sessions, API tokens, "
    "votes, collections and subscriptions. Thank you for using Paperwire."
)


@router.post("/account/delete", include_in_schema=False)
async def delete_account(request: Request) -> Response:
    user = _user_or_login(request, "/account/delete")
    if isinstance(user, Response):
        return user
    refused = await c.csrf_or_error(request)
    if refused:
        return refused
    form = await c.form(request)
    problem = await _password_refused(request, user, form.get("password", ""))
    if problem is not None:
        status = 429 if problem.startswith("Too many") else 400
        return c.render(
            request, "delete.html", {"account": user, "error": problem}, status_code=status
        )
    erasure = await c.run(privacy.delete_account, c.db(request), c.settings(request), user)
    set_current_user(request, None)
    response = c.render(
        request, "message.html", {"title": "Your account is deleted", "message": DELETED}
    )
    c.refresh_counts(request, response, sorted(erasure.votes_changed))
    clear_session_cookie(request, response)
    return response


# -- the JSON API --------------------------------------------------------------------------------


class MeOut(BaseModel):
    id: int
    email: str
    display_name: str
    verified: bool
    role: str
    created_at: str


class TokenOut(BaseModel):
    id: int
    name: str
    scope: str = Field(description="read or write")
    prefix: str = Field(description="the token's first characters")
    created_at: str
    last_used_at: str | None


class DeleteIn(BaseModel):
    password: str = Field(max_length=1024, description="the account's password, to confirm")


def _me(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "display_name": user.display_name,
        "verified": user.verified,
        "role": user.role,
        "created_at": user.created_at.isoformat(),
    }


@router.get(
    "/api/me",
    tags=["accounts"],
    response_model=MeOut,
    responses=c.responses(401),
    openapi_extra=c.auth_doc("read"),
    summary="The account of the caller",
)
async def api_me(request: Request) -> Response:
    user = await c.api_user(request, write=False)
    if isinstance(user, Response):
        return user
    return c.json(_me(user))


@router.get(
    "/api/me/export",
    tags=["accounts"],
    responses={**c.responses(401), 200: {"description": "Everything stored about the caller"}},
    openapi_extra=c.auth_doc("read"),
    summary="Export my data (one JSON document)",
)
async def api_export(request: Request) -> Response:
    """Profile, votes, collections, subscriptions, sessions, tokens, submissions: all of it."""
    user = await c.api_user(request, write=False)
    if isinstance(user, Response):
        return user
    data = await c.run(privacy.export_account, c.db(request), user, now=utcnow())
    return _export_response(data)


@router.post(
    "/api/me/delete",
    tags=["accounts"],
    status_code=200,
    responses=c.responses(400, 401, 403, 429),
    openapi_extra=c.auth_doc("write"),
    summary="Delete my account",
)
async def api_delete(request: Request, body: Annotated[DeleteIn, Body()]) -> Response:
    """Delete the caller's account for good; the body repeats its password.

    Ends every session and revokes every token, takes the votes out of the
    counts, and deletes collections, subscriptions and everything else personal.
    """
    user = await c.api_user(request)
    if isinstance(user, Response):
        return user
    problem = await _password_refused(request, user, body.password)
    if problem is not None:
        return c.error(request, 429 if problem.startswith("Too many") else 400, problem)
    erasure = await c.run(privacy.delete_account, c.db(request), c.settings(request), user)
    response = c.json({"deleted": True})
    clear_session_cookie(request, response)
    return c.refresh_counts(request, response, sorted(erasure.votes_changed))


@router.get(
    "/api/tokens",
    tags=["accounts"],
    response_model=list[TokenOut],
    responses=c.responses(401),
    openapi_extra=c.auth_doc("read"),
    summary="My API tokens",
)
async def api_tokens(request: Request) -> Response:
    user = await c.api_user(request, write=False)
    if isinstance(user, Response):
        return user
    items = await c.run(tokens.list_for_user, c.db(request), user.id)
    return c.json(
        [
            {
                "id": t.id,
                "name": t.name,
                "scope": t.scope,
                "prefix": t.prefix,
                "created_at": t.created_at.isoformat(),
                "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
            }
            for t in items
        ]
    )


@router.delete(
    "/api/tokens/{token_id}",
    tags=["accounts"],
    status_code=200,
    responses=c.responses(401, 403, 404),
    openapi_extra=c.auth_doc("write"),
    summary="Revoke an API token",
)
async def api_revoke_token(request: Request, token_id: int) -> Response:
    """Revoke one of my tokens (a leaked token may revoke itself)."""
    user = await c.api_user(request)
    if isinstance(user, Response):
        return user
    try:
        await c.run(tokens.revoke, c.db(request), user.id, token_id)
    except NotFound as exc:
        return c.error(request, 404, str(exc))
    return c.json({"revoked": token_id})
