"""Personal access tokens: named, scoped ``read`` or ``write``, shown once, stored hashed.

A token is ``pw_`` plus 43 random URL-safe characters (256 bits).  Only its
sha256 is stored, so the database cannot give a token back; the first
characters (``prefix``) are kept to tell tokens apart in the list.  Revoking
deletes the row, so the token fails at once everywhere.  ``last_used_at`` is
written at most once a minute per token.

A ``read`` token may call every GET; a ``write`` token may also change things
(vote, submit, collections, subscriptions).  Tokens belong to confirmed
addresses only, and a password reset revokes them all.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select, update

from ..db import Database
from ..db.schema.accounts import api_tokens, users
from .clock import as_utc
from .errors import NotFound, ValidationError
from .users import User, user_from_row

PREFIX = "pw_"
SCOPES = ("read", "write")
MAX_NAME = 100
MAX_PER_USER = 50
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class ApiToken:
    """A token as its owner sees it in the list (never the secret itself)."""

    id: int
    name: str
    scope: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True)
class TokenUser:
    """Who a presented token belongs to, and what it may do."""

    user: User
    token_id: int
    scope: str

    @property
    def can_write(self) -> bool:
        return self.scope == "write"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def looks_like_token(value: str | None) -> bool:
    return bool(value) and value.startswith(PREFIX) and 20 <= len(value) <= 100 and value.isascii()


def _from_row(row) -> ApiToken:
    return ApiToken(
        id=row.id,
        name=row.name,
        scope=row.scope,
        prefix=row.prefix,
        created_at=as_utc(row.created_at),
        last_used_at=as_utc(row.last_used_at) if row.last_used_at else None,
    )


def create(
    db: Database, user: User, name: str, scope: str, *, now: datetime
) -> tuple[str, ApiToken]:
    """A new token for ``user``: ``(the secret, shown once; its list entry)``."""
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError("Give the token a name (e.g. the script that uses it).")
    if len(name) > MAX_NAME:
        raise ValidationError(f"Choose a name of at most {MAX_NAME} characters.")
    if scope not in SCOPES:
        raise ValidationError("A token's scope is read or write.")
    if not user.verified:
        raise ValidationError("Confirm your email address before creating API tokens.")
    secret = PREFIX + secrets.token_urlsafe(32)
    with db.begin() as conn:
        count = conn.execute(
            select(func.count()).select_from(api_tokens).where(api_tokens.c.user_id == user.id)
        ).scalar_one()
        if count >= MAX_PER_USER:
            raise ValidationError(f"You can have at most {MAX_PER_USER} tokens; revoke one first.")
        token_id = conn.execute(
            insert(api_tokens).values(
                user_id=user.id,
                name=name,
                scope=scope,
                token_hash=digest(secret),
                prefix=secret[:10],
                created_at=as_utc(now),
            )
        ).inserted_primary_key[0]
    return secret, ApiToken(token_id, name, scope, secret[:10], as_utc(now), None)


def list_for_user(db: Database, user_id: int) -> list[ApiToken]:
    with db.connect() as conn:
        rows = conn.execute(
            select(api_tokens)
            .where(api_tokens.c.user_id == user_id)
            .order_by(api_tokens.c.created_at.desc(), api_tokens.c.id.desc())
        ).all()
    return [_from_row(r) for r in rows]


def revoke(db: Database, user_id: int, token_id: int) -> None:
    """Delete one of the user's tokens; NotFound for another user's or an unknown id."""
    with db.begin() as conn:
        gone = conn.execute(
            delete(api_tokens).where(api_tokens.c.id == token_id, api_tokens.c.user_id == user_id)
        ).rowcount
    if not gone:
        raise NotFound("No such token.")


def revoke_all(db: Database, user_id: int) -> int:
    with db.begin() as conn:
        return conn.execute(delete(api_tokens).where(api_tokens.c.user_id == user_id)).rowcount


def authenticate(db: Database, token: str, *, now: datetime) -> TokenUser | None:
    """The owner and scope of ``token``, or None (unknown, revoked, or owner banned)."""
    if not looks_like_token(token):
        return None
    now = as_utc(now)
    hashed = digest(token)
    with db.connect() as conn:
        row = conn.execute(
            select(
                users,
                api_tokens.c.id.label("token_id"),
                api_tokens.c.scope.label("token_scope"),
                api_tokens.c.last_used_at.label("token_used"),
            )
            .join(api_tokens, api_tokens.c.user_id == users.c.id)
            .where(api_tokens.c.token_hash == hashed, users.c.banned_at.is_(None))
        ).first()
    if row is None:
        return None
    used = row.token_used
    if used is None or as_utc(used) + TOUCH_EVERY <= now:
        with db.begin() as conn:
            conn.execute(
                update(api_tokens).where(api_tokens.c.id == row.token_id).values(last_used_at=now)
            )
    return TokenUser(user=user_from_row(row), token_id=row.token_id, scope=row.token_scope)
