"""Sliding-window rate limits for logins and sign-ups, kept in the database.

Each failed login (and each sign-up) is a row in ``auth_attempts`` keyed by a
scope and the sha256 of the client address or email.  A request is refused
while the window holds ``limit`` rows for any of its keys.  Because the state
lives in the database, the limits hold across restarts and across several app
processes sharing one database.  Keys are hashed (with the installation's
secret) so the table never holds raw addresses or emails.

Behind a reverse proxy the client address is the proxy's unless uvicorn runs
with ``--proxy-headers --forwarded-allow-ips=<proxy>``; otherwise every client
shares the per-IP budget.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, insert, or_, select

from ..config import Settings
from ..db import Database
from ..db.schema.accounts import auth_attempts
from .clock import as_utc
from .errors import RateLimited


@dataclass(frozen=True)
class Limit:
    """At most ``limit`` attempts per ``window`` for one key in ``scope``."""

    scope: str
    limit: int
    window: timedelta


# Failed logins per account: slows password guessing against one account.
LOGIN_ACCOUNT = Limit("login-account", 5, timedelta(minutes=15))
# Failed logins per client address: slows guessing across many accounts.
LOGIN_IP = Limit("login-ip", 20, timedelta(minutes=15))
# Sign-ups per client address: sign-up is also an (unavoidable) email oracle.
SIGNUP_IP = Limit("signup-ip", 20, timedelta(hours=1))

# config.toml keys that override the number of attempts per window.
CONFIG_KEYS = {
    "login_failures_per_account": LOGIN_ACCOUNT,
    "login_failures_per_ip": LOGIN_IP,
    "signups_per_ip": SIGNUP_IP,
}


def configured(settings: Settings, limit: Limit) -> Limit:
    """``limit`` with its count taken from ``config.toml`` when set there (e.g.
    ``signups_per_ip = 100`` for a site whose users share one address)."""
    for key, default in CONFIG_KEYS.items():
        if default.scope == limit.scope and key in settings.extra:
            try:
                count = int(settings.extra[key])
            except (TypeError, ValueError):
                raise ValueError(f"{key} in config.toml must be a whole number") from None
            return replace(limit, limit=max(1, count))
    return limit


MESSAGE = "Too many attempts. Please wait {minutes} minute{s} and try again."


def key_for(secret: str, value: str) -> str:
    """The stored key for an IP address or normalised email."""
    return hmac.new(secret.encode(), value.encode("utf-8"), hashlib.sha256).hexdigest()


def check(db: Database, checks: Iterable[tuple[Limit, str]], *, now: datetime) -> None:
    """Raise RateLimited if any ``(limit, key)`` has used up its window."""
    now = as_utc(now)
    wait = 0.0
    with db.connect() as conn:
        for limit, key in checks:
            since = now - limit.window
            count, oldest = conn.execute(
                select(func.count(), func.min(auth_attempts.c.at)).where(
                    auth_attempts.c.scope == limit.scope,
                    auth_attempts.c.key == key,
                    auth_attempts.c.at > since,
                )
            ).one()
            if count >= limit.limit and oldest is not None:
                wait = max(wait, (as_utc(oldest) + limit.window - now).total_seconds())
    if wait > 0:
        minutes = max(1, math.ceil(wait / 60))
        raise RateLimited(
            MESSAGE.format(minutes=minutes, s="" if minutes == 1 else "s"),
            retry_after=max(1, math.ceil(wait)),
        )


def record(db: Database, hits: Iterable[tuple[Limit, str]], *, now: datetime) -> None:
    """Count one attempt against each ``(limit, key)``; forget rows older than their window."""
    now = as_utc(now)
    hits = list(hits)
    if not hits:
        return
    with db.begin() as conn:
        conn.execute(
            delete(auth_attempts).where(
                or_(
                    *(
                        and_(
                            auth_attempts.c.scope == limit.scope,
                            auth_attempts.c.at <= now - limit.window,
                        )
                        for limit, _key in hits
                    )
                )
            )
        )
        conn.execute(
            insert(auth_attempts),
            [{"scope": limit.scope, "key": key, "at": now} for limit, key in hits],
        )


def clear(db: Database, limit: Limit, key: str) -> None:
    """Forget the attempts of one key (an account after a successful login)."""
    with db.begin() as conn:
        conn.execute(
            delete(auth_attempts).where(
                auth_attempts.c.scope == limit.scope, auth_attempts.c.key == key
            )
        )
