"""Rate limits for logins, sign-ups and account mail, kept in the database.

Each counted event is a row in ``auth_attempts`` keyed by a scope and an HMAC
(with the installation's secret) of what it is counted against, so the table
never holds raw addresses or emails.  Because the state lives in the database,
the limits hold across restarts and across app processes sharing one database.

Two kinds of limit:

- :class:`Limit`: at most ``limit`` events per sliding ``window`` for one key
  (sign-ups per client address, account mails per address, the per-address
  ceiling on failed logins);
- :class:`Backoff`: after ``free`` failures, each further attempt must wait a
  delay that doubles with every failure, up to ``cap``.

Failed logins are throttled per *account and client address* (a Backoff) plus
a per-address ceiling (a Limit), never per account alone: an attacker
hammering an account from elsewhere slows down only their own attempts, and
the owner's correct password from the owner's address still works.  Guessing
from many addresses is bounded by the ceiling of each.

Behind a reverse proxy the client address is the proxy's unless uvicorn runs
with ``--proxy-headers --forwarded-allow-ips=<proxy>``; otherwise every client
shares the per-address budget.
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


@dataclass(frozen=True)
class Backoff:
    """After ``free`` failures within ``window``, wait ``base * 2**(n - free)`` (≤ ``cap``)."""

    scope: str
    free: int
    base: timedelta
    cap: timedelta
    window: timedelta

    def delay(self, failures: int) -> timedelta:
        """How long after the last of ``failures`` failures the next attempt must wait."""
        if failures < self.free:
            return timedelta(0)
        steps = min(failures - self.free, 30)
        return min(self.base * (2**steps), self.cap)


# Failed logins per (account, client address): growing delays after a few tries.
LOGIN_PAIR = Backoff(
    "login-pair",
    free=3,
    base=timedelta(seconds=2),
    cap=timedelta(minutes=15),
    window=timedelta(hours=6),
)
# Failed logins per client address, whatever the account: the ceiling for one address.
LOGIN_IP = Limit("login-ip", 30, timedelta(minutes=15))
# Sign-ups per client address.
SIGNUP_IP = Limit("signup-ip", 20, timedelta(hours=1))
# Password-reset requests per client address.
RESET_IP = Limit("reset-ip", 20, timedelta(hours=1))
# Account mails (confirmations, "you already have an account", resets) per address:
# beyond this nothing more is sent, silently, so nobody can mail-bomb an address.
MAIL_ADDRESS = Limit("mail-address", 5, timedelta(hours=1))

# config.toml keys that override the number of attempts per window.
CONFIG_KEYS = {
    "login_failures_per_ip": LOGIN_IP,
    "signups_per_ip": SIGNUP_IP,
    "resets_per_ip": RESET_IP,
    "account_mails_per_address": MAIL_ADDRESS,
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


def key_for(secret: str, value: str) -> str:
    """The stored key for an IP address, a normalised email, or ``email + ip``."""
    return hmac.new(secret.encode(), value.encode("utf-8"), hashlib.sha256).hexdigest()


def pair_key(secret: str, email: str, ip: str) -> str:
    """The key of one account tried from one client address.

    Half the account's key, half the address's, so that deleting an account can
    delete its rows (:func:`account_prefix`) without knowing the addresses.
    """
    return key_for(secret, email)[:32] + key_for(secret, ip)[:32]


def account_prefix(secret: str, email: str) -> str:
    """What every :func:`pair_key` of this account starts with."""
    return key_for(secret, email)[:32]


def _refuse(wait: float) -> RateLimited:
    seconds = max(1, math.ceil(wait))
    if seconds < 120:
        when = f"{seconds} second{'s' if seconds != 1 else ''}"
    else:
        minutes = math.ceil(seconds / 60)
        when = f"{minutes} minutes"
    return RateLimited(f"Too many attempts. Please wait {when} and try again.", seconds)


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
        raise _refuse(wait)


def allowed(db: Database, limit: Limit, key: str, *, now: datetime) -> bool:
    """Whether one more event fits ``limit`` (for limits that must stay silent)."""
    try:
        check(db, [(limit, key)], now=now)
    except RateLimited:
        return False
    return True


def check_backoff(db: Database, backoff: Backoff, key: str, *, now: datetime) -> None:
    """Raise RateLimited while the delay earned by earlier failures has not passed."""
    now = as_utc(now)
    with db.connect() as conn:
        count, last = conn.execute(
            select(func.count(), func.max(auth_attempts.c.at)).where(
                auth_attempts.c.scope == backoff.scope,
                auth_attempts.c.key == key,
                auth_attempts.c.at > now - backoff.window,
            )
        ).one()
    if not count or last is None:
        return
    wait = (as_utc(last) + backoff.delay(count) - now).total_seconds()
    if wait > 0:
        raise _refuse(wait)


def record(db: Database, hits: Iterable[tuple[Limit | Backoff, str]], *, now: datetime) -> None:
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


def clear(db: Database, limit: Limit | Backoff, key: str) -> None:
    """Forget the attempts of one key (an account and address after a successful login)."""
    with db.begin() as conn:
        conn.execute(
            delete(auth_attempts).where(
                auth_attempts.c.scope == limit.scope, auth_attempts.c.key == key
            )
        )
