"""Login sessions: a random token in the browser, only its sha256 in the database.

A stolen database therefore holds no usable session; logging out deletes the
row, so the cookie is dead even if it was copied.  Sessions expire after
``SESSION_LIFETIME``; expired rows are purged whenever someone logs in.

For "my sessions" each row keeps a shortened user agent and when it was last
seen (written at most every ``TOUCH_EVERY``, so reading pages stays read-only
almost always).  A session is named in forms by :func:`public_id`, a prefix of
its digest: enough to pick it out, useless as a credential.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update

from ..db import Database
from ..db.schema.accounts import sessions, users
from .clock import as_utc
from .users import User, user_from_row

SESSION_LIFETIME = timedelta(days=30)
TOKEN_BYTES = 32
TOUCH_EVERY = timedelta(minutes=5)
PUBLIC_ID_LENGTH = 16
MAX_USER_AGENT = 200


@dataclass(frozen=True)
class SessionInfo:
    """One of a user's sessions, as the session list shows it."""

    public_id: str
    created_at: datetime
    last_seen_at: datetime | None
    expires_at: datetime
    user_agent: str


def token_digest(token: str) -> str:
    """The stored form of a session token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def public_id(token: str) -> str:
    """The name of the session behind ``token`` in the session list."""
    return token_digest(token)[:PUBLIC_ID_LENGTH]


def create_session(
    db: Database,
    user_id: int,
    *,
    now: datetime,
    lifetime: timedelta = SESSION_LIFETIME,
    user_agent: str = "",
) -> tuple[str, datetime]:
    """A new session for ``user_id``: ``(token for the cookie, expiry)``."""
    now = as_utc(now)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires = now + lifetime
    with db.begin() as conn:
        conn.execute(delete(sessions).where(sessions.c.expires_at <= now))
        conn.execute(
            insert(sessions).values(
                id=token_digest(token),
                user_id=user_id,
                created_at=now,
                expires_at=expires,
                last_seen_at=now,
                user_agent=(user_agent or "")[:MAX_USER_AGENT] or None,
            )
        )
    return token, expires


def user_for_token(db: Database, token: str | None, *, now: datetime) -> User | None:
    """The user of a live session, or None for a missing, unknown or expired token."""
    if not token or len(token) > 256:
        return None
    now = as_utc(now)
    digest = token_digest(token)
    with db.connect() as conn:
        row = conn.execute(
            select(users, sessions.c.last_seen_at.label("session_seen"))
            .join(sessions, sessions.c.user_id == users.c.id)
            .where(
                sessions.c.id == digest,
                sessions.c.expires_at > now,
                users.c.banned_at.is_(None),
            )
        ).first()
    if row is None:
        return None
    seen = row.session_seen
    if seen is None or as_utc(seen) + TOUCH_EVERY <= now:
        with db.begin() as conn:
            conn.execute(update(sessions).where(sessions.c.id == digest).values(last_seen_at=now))
    return user_from_row(row)


def list_sessions(db: Database, user_id: int, *, now: datetime) -> list[SessionInfo]:
    """The user's live sessions, most recently seen first."""
    with db.connect() as conn:
        rows = conn.execute(
            select(sessions)
            .where(sessions.c.user_id == user_id, sessions.c.expires_at > as_utc(now))
            .order_by(sessions.c.last_seen_at.desc(), sessions.c.created_at.desc())
        ).all()
    return [
        SessionInfo(
            public_id=r.id[:PUBLIC_ID_LENGTH],
            created_at=as_utc(r.created_at),
            last_seen_at=as_utc(r.last_seen_at) if r.last_seen_at else None,
            expires_at=as_utc(r.expires_at),
            user_agent=r.user_agent or "",
        )
        for r in rows
    ]


def delete_session(db: Database, token: str | None) -> None:
    """Log out: the session behind ``token`` stops working at once."""
    if not token:
        return
    with db.begin() as conn:
        conn.execute(delete(sessions).where(sessions.c.id == token_digest(token)))


def delete_session_by_public_id(db: Database, user_id: int, public: str) -> bool:
    """End one of the user's own sessions from the session list."""
    if len(public) != PUBLIC_ID_LENGTH or not all(c in "0123456789abcdef" for c in public):
        return False
    with db.begin() as conn:
        return (
            conn.execute(
                delete(sessions).where(
                    sessions.c.user_id == user_id, sessions.c.id.startswith(public)
                )
            ).rowcount
            > 0
        )


def delete_user_sessions(db: Database, user_id: int, *, keep: str | None = None) -> int:
    """Log a user out everywhere (but the session of ``keep``, a token, when given)."""
    stmt = delete(sessions).where(sessions.c.user_id == user_id)
    if keep:
        stmt = stmt.where(sessions.c.id != token_digest(keep))
    with db.begin() as conn:
        return conn.execute(stmt).rowcount
