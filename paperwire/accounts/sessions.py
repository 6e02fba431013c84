"""Login sessions: a random token in the browser, only its sha256 in the database.

A stolen database therefore holds no usable session; logging out deletes the
row, so the cookie is dead even if it was copied.  Sessions expire after
``SESSION_LIFETIME``; expired rows are purged whenever someone logs in.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select

from ..db import Database
from ..db.schema.accounts import sessions, users
from .clock import as_utc
from .users import User, user_from_row

SESSION_LIFETIME = timedelta(days=30)
TOKEN_BYTES = 32


def token_digest(token: str) -> str:
    """The stored form of a session token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_session(
    db: Database, user_id: int, *, now: datetime, lifetime: timedelta = SESSION_LIFETIME
) -> tuple[str, datetime]:
    """A new session for ``user_id``: ``(token for the cookie, expiry)``."""
    now = as_utc(now)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires = now + lifetime
    with db.begin() as conn:
        conn.execute(delete(sessions).where(sessions.c.expires_at <= now))
        conn.execute(
            insert(sessions).values(
                id=token_digest(token), user_id=user_id, created_at=now, expires_at=expires
            )
        )
    return token, expires


def user_for_token(db: Database, token: str | None, *, now: datetime) -> User | None:
    """The user of a live session, or None for a missing, unknown or expired token."""
    if not token or len(token) > 256:
        return None
    with db.connect() as conn:
        row = conn.execute(
            select(users)
            .join(sessions, sessions.c.user_id == users.c.id)
            .where(sessions.c.id == token_digest(token), sessions.c.expires_at > as_utc(now))
        ).first()
    return user_from_row(row) if row else None


def delete_session(db: Database, token: str | None) -> None:
    """Log out: the session behind ``token`` stops working at once."""
    if not token:
        return
    with db.begin() as conn:
        conn.execute(delete(sessions).where(sessions.c.id == token_digest(token)))


def delete_user_sessions(db: Database, user_id: int) -> None:
    """Log a user out everywhere (e.g. after a password change)."""
    with db.begin() as conn:
        conn.execute(delete(sessions).where(sessions.c.user_id == user_id))
