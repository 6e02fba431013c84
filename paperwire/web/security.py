"""Sessions, API tokens, CSRF and origin checks, and the current user.

Interface used by every page and route:
- ``current_user(request) -> User | None``: the logged-in user (by session
  cookie, or by ``Authorization: Bearer`` token), or None.
- ``token_scope(request) -> str | None``: ``read``/``write`` for a token
  request, None for a cookie (or anonymous) one.
- ``csrf_token(request) -> str``: the token to put in every form as the hidden
  field ``csrf_token`` (and in the ``X-CSRF-Token`` header for fetch/htmx).
- ``verify_csrf``: a dependency that rejects a state-changing request whose
  token does not match (403).
- ``install(app)``: adds the middleware that hands anonymous visitors the
  cookie their CSRF tokens are bound to (call it once in ``create_app``).

How the CSRF tokens work: a token is the itsdangerous signature (with the
installation's ``secret_key``) of a digest of the *binding* cookie, which is
the session cookie for a logged-in user and otherwise the random
``paperwire_anon`` cookie.  A forged cross-site form cannot read either
cookie nor sign a digest, so it cannot produce a token that matches.  Logging
in or out changes the binding, so tokens from before stop working.  On top of
that, a state-changing request is refused outright when it says it comes
from elsewhere: an ``Origin`` of another site or ``null`` (sandboxed frames,
``data:`` pages), else a ``Referer`` of another site, or
``Sec-Fetch-Site: cross-site``.  The session cookie is ``SameSite=Lax``.

Scripts use a personal access token instead: ``Authorization: Bearer pw_…``.
:class:`BearerAuth` resolves it for every request: an unknown or revoked token
is answered 401, a ``read`` token on anything but GET/HEAD/OPTIONS 403.  Such a
request needs no CSRF token, because no cookie carries its credential (a
forged cross-site request cannot set the header), and its cookies are ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from fastapi import HTTPException, Request, Response
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..accounts import tokens as api_tokens
from ..accounts.clock import utcnow
from ..accounts.sessions import SESSION_LIFETIME, token_digest, user_for_token
from ..accounts.users import User
from ..config import Settings

SESSION_COOKIE = "paperwire_session"
ANON_COOKIE = "paperwire_anon"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
COOKIE_MAX_AGE = int(SESSION_LIFETIME.total_seconds())
CSRF_MAX_AGE = COOKIE_MAX_AGE
_SALT = "paperwire.csrf.v1"
_NEW_ANON = "paperwire_new_anon"
_USER = "paperwire_user"
_TOKEN = "paperwire_csrf"
_SESSION = "paperwire_session_token"
_BEARER = "paperwire_bearer"  # scope state: the TokenUser of a bearer request
_MISSING = object()
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

CSRF_FAILED = (
    "This form has expired or did not come from this site (missing or invalid CSRF "
    "token). Reload the page and try again."
)
CSRF_NO_COOKIE = (
    "Your browser did not send the cookie that protects this form. Allow cookies for "
    "this site, reload the page and try again."
)
CROSS_ORIGIN = "Requests from other sites are not accepted."
BAD_TOKEN = "The API token is not valid (unknown or revoked). Create one in your account settings."
READ_ONLY_TOKEN = "This API token is read-only; this request needs a token with the write scope."


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def secure_cookies(settings: Settings) -> bool:
    """Cookies get the Secure flag when the site is served over https."""
    return settings.base_url.lower().startswith("https://")


def _plausible(value: str | None) -> bool:
    return bool(value) and 16 <= len(value) <= 128 and value.isascii()


# -- the current user ---------------------------------------------------------------


def current_user(request: Request) -> User | None:
    """The logged-in user of this request, or None (looked up once per request)."""
    known, user = known_user(request)
    if not known:
        user = _session_user(request, request.cookies.get(SESSION_COOKIE, ""))
        setattr(request.state, _USER, user)
    return user


def known_user(request: Request) -> tuple[bool, User | None]:
    """``(True, user)`` when this request's user is known without a database read.

    That is: already looked up, a token request, no plausible session cookie, or
    a read whose session this process remembers (see :data:`SESSION_SECONDS`).
    Otherwise ``(False, None)``: :func:`current_user` would read the database
    (so call it off the event loop).
    """
    cached = getattr(request.state, _USER, _MISSING)
    if cached is not _MISSING:
        return True, cached
    bearer = bearer_auth(request)
    token = request.cookies.get(SESSION_COOKIE)
    user: User | None = None
    if bearer is not None:
        user = bearer.user
    elif _plausible(token) and bearer_token(request.headers.get("authorization")) is None:
        cache = _session_cache(request) if request.method in SAFE_METHODS else None
        user = cache.get(("session", token_digest(token))) if cache is not None else None
        if user is None:
            return False, None
    setattr(request.state, _USER, user)
    return True, user


# Who a session cookie belongs to is remembered for a few seconds per process, for
# reads: the lookup (a join of sessions and users) cost more than the rest of a
# logged-in page.  The memory follows the page cache: it is dropped after any
# successful POST to this process and, at the next request, after any commit to
# the database by anyone (another worker, the CLI, another instance on the same
# PostgreSQL: see paperwire.db.changes).  A logout, a password change (which ends
# the other sessions) and a ban are such commits, so they take effect at once
# everywhere; only a session's expiry may be noticed up to SESSION_SECONDS late.
# State-changing requests always look the session up afresh, and only live
# sessions are remembered (an unknown token costs a lookup each time, as before).
SESSION_SECONDS = 5.0


def _session_cache(request: Request) -> Any:
    """The app's cache of session -> user (a follower of its page cache), or None."""
    state = request.app.state
    found = getattr(state, "session_cache", None)
    if found is None:
        pages = getattr(state, "page_cache", None)
        if pages is None:
            return None
        found = state.session_cache = pages.follower(SESSION_SECONDS)
    return found


def _session_user(request: Request, token: str) -> User | None:
    """The user of session ``token`` from the database, remembered for reads."""
    cache = _session_cache(request) if request.method in SAFE_METHODS else None
    generation = cache.generation if cache is not None else 0
    user = user_for_token(request.app.state.db, token, now=utcnow())
    if user is not None and cache is not None:
        cache.put(("session", token_digest(token)), user, generation=generation)
    return user


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, or None for no such header."""
    if not header:
        return None
    kind, _, value = header.strip().partition(" ")
    if kind.lower() != "bearer":
        return None
    return value.strip()


def bearer_auth(request: Request) -> api_tokens.TokenUser | None:
    """The token behind this request's ``Authorization`` header (set by BearerAuth)."""
    return request.scope.get("state", {}).get(_BEARER)


def token_scope(request: Request) -> str | None:
    """``read`` or ``write`` when the request came with an API token, else None."""
    bearer = bearer_auth(request)
    return bearer.scope if bearer else None


def session_token(request: Request) -> str | None:
    """The session token this request is logged in with (None for token requests)."""
    if bearer_auth(request) is not None:
        return None
    return getattr(request.state, _SESSION, "") or request.cookies.get(SESSION_COOKIE) or None


def set_current_user(request: Request, user: User | None, session_token: str = "") -> None:
    """Replace the cached user after a login or logout within this request."""
    setattr(request.state, _USER, user)
    setattr(request.state, _SESSION, session_token)
    setattr(request.state, _TOKEN, None)


# -- cookies ------------------------------------------------------------------------


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    """Put a new session token in the browser (HttpOnly, SameSite=Lax, Secure on https)."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=COOKIE_MAX_AGE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure_cookies(_settings(request)),
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure_cookies(_settings(request)),
    )


def _anon_cookie_header(settings: Settings, value: str) -> str:
    parts = [
        f"{ANON_COOKIE}={value}",
        f"Max-Age={COOKIE_MAX_AGE}",
        "Path=/",
        "HttpOnly",
        "SameSite=Lax",
    ]
    if secure_cookies(settings):
        parts.append("Secure")
    return "; ".join(parts)


def attach_cookies(request: Request, response: Response) -> Response:
    """Set the anonymous binding cookie on ``response`` if this request created one.

    The middleware from :func:`install` does this for every response; routes
    that build their own responses may call it directly (it is idempotent).
    """
    state: dict[str, Any] = request.scope.setdefault("state", {})
    value = state.pop(_NEW_ANON, None)
    if value:
        response.headers.append("set-cookie", _anon_cookie_header(_settings(request), value))
    return response


class AnonCookieMiddleware:
    """Pure ASGI middleware: sends the ``paperwire_anon`` cookie a request minted."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                value = state.pop(_NEW_ANON, None)
                if value:
                    headers = list(message.get("headers", []))
                    header = _anon_cookie_header(self.settings, value)
                    headers.append((b"set-cookie", header.encode("latin-1")))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cookie)


class BearerAuth:
    """Pure ASGI middleware: resolves ``Authorization: Bearer`` API tokens.

    A request with a Bearer header is answered here when the token is unknown
    or revoked (401), or read-only on a state-changing method (403); otherwise
    its :class:`~paperwire.accounts.tokens.TokenUser` is left in the request
    state for :func:`current_user`.  Requests without the header pass untouched.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = None
        for key, value in scope.get("headers", ()):
            if key == b"authorization":
                header = value.decode("latin-1")
                break
        token = bearer_token(header)
        if token is None:
            await self.app(scope, receive, send)
            return
        db = scope["app"].state.db
        found = await run_in_threadpool(api_tokens.authenticate, db, token, now=utcnow())
        problem = None
        if found is None:
            problem = (401, "unauthorized", BAD_TOKEN)
        elif scope["method"] not in SAFE_METHODS and not found.can_write:
            problem = (403, "forbidden", READ_ONLY_TOKEN)
        if problem is not None:
            status, slug, message = problem
            headers = {"cache-control": "no-store"}
            if status == 401:
                headers["www-authenticate"] = 'Bearer realm="paperwire", error="invalid_token"'
            else:
                headers["www-authenticate"] = 'Bearer realm="paperwire", error="insufficient_scope"'
            response = JSONResponse(
                {"error": slug, "message": message}, status_code=status, headers=headers
            )
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})[_BEARER] = found
        await self.app(scope, receive, send)


def install(app: Any) -> None:
    """Add the security middleware to ``app`` (before it starts serving)."""
    app.add_middleware(AnonCookieMiddleware, settings=app.state.settings)
    app.add_middleware(BearerAuth)


# -- CSRF ---------------------------------------------------------------------------


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt=_SALT)


def _binding(request: Request, *, create: bool) -> str | None:
    """Digest of the cookie this browser's tokens are bound to (minting one if asked)."""
    session = getattr(request.state, _SESSION, "") or request.cookies.get(SESSION_COOKIE, "")
    if current_user(request) is not None and session:
        value = "s:" + session
    else:
        state: dict[str, Any] = request.scope.setdefault("state", {})
        anon = request.cookies.get(ANON_COOKIE)
        if not _plausible(anon):
            anon = state.get(_NEW_ANON)
        if not anon:
            if not create:
                return None
            anon = secrets.token_urlsafe(24)
            state[_NEW_ANON] = anon
        value = "a:" + anon
    return hashlib.sha256(value.encode()).hexdigest()[:32]


# A token signed for a binding is handed out again for a while (signing costs more
# than the rest of a cached page): the same browser gets the same token, valid as
# long as any, and nothing about what it proves changes.
TOKEN_REUSE_SECONDS = 600.0
_MAX_SIGNED = 10_000
_signed: dict[tuple[str, str], tuple[float, str]] = {}


def _sign(settings: Settings, binding: str) -> str:
    key = (settings.secret_key, binding)
    now = time.monotonic()
    found = _signed.get(key)
    if found is not None and now - found[0] < TOKEN_REUSE_SECONDS:
        return found[1]
    token = _serializer(settings).dumps(binding)
    if len(_signed) >= _MAX_SIGNED:
        _signed.clear()
    _signed[key] = (now, token)
    return token


def csrf_token(request: Request) -> str:
    """The CSRF token for forms on this page (the same one for the whole request)."""
    token = getattr(request.state, _TOKEN, None)
    if token:
        return token
    binding = _binding(request, create=True)
    token = _sign(_settings(request), binding)
    setattr(request.state, _TOKEN, token)
    return token


def _netloc(url: str) -> str:
    try:
        return urlsplit(url).netloc.lower()
    except ValueError:
        return "\x00invalid"


def same_origin(request: Request) -> bool:
    """False when the request says it comes from another site (or from an opaque origin).

    ``Origin`` decides when present (``null`` is refused: it is what sandboxed
    frames and ``data:`` pages send); otherwise a ``Referer`` must name this
    site; a request with neither (old clients, scripts) is left to the token.
    """
    allowed = {
        (request.headers.get("host") or "").lower(),
        urlsplit(_settings(request).base_url).netloc.lower(),
    }
    if request.headers.get("sec-fetch-site", "").lower() == "cross-site":
        return False
    origin = request.headers.get("origin")
    if origin is not None:
        origin = origin.strip()
        return origin.lower() != "null" and _netloc(origin) in allowed
    referer = request.headers.get("referer")
    if referer:
        return _netloc(referer.strip()) in allowed
    return True


async def check_csrf(request: Request) -> None:
    """Raise 403 unless the request carries a valid token for this browser.

    A request authenticated by an API token passes: no cookie carries its
    credential (and :class:`BearerAuth` has checked its scope already).
    """
    if bearer_auth(request) is not None:
        return
    if not same_origin(request):
        raise HTTPException(status_code=403, detail=CROSS_ORIGIN)
    sent = request.headers.get(CSRF_HEADER)
    if not sent:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    binding = _binding(request, create=False)
    if binding is None:
        raise HTTPException(status_code=403, detail=CSRF_NO_COOKIE)
    if not sent or len(sent) > 512:
        raise HTTPException(status_code=403, detail=CSRF_FAILED)
    try:
        signed = _serializer(_settings(request)).loads(sent, max_age=CSRF_MAX_AGE)
    except (BadSignature, SignatureExpired) as exc:
        raise HTTPException(status_code=403, detail=CSRF_FAILED) from exc
    if not isinstance(signed, str) or not hmac.compare_digest(signed, binding):
        raise HTTPException(status_code=403, detail=CSRF_FAILED)


async def verify_csrf(request: Request) -> None:
    """Dependency for every state-changing route: 403 without a valid CSRF token."""
    await check_csrf(request)
