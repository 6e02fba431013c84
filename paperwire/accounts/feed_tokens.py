"""The secret in the URL of a user's private "For you" Atom feed.

Feed readers cannot log in, so the URL carries the credential: ``pwf_`` plus
256 random bits.  As for API tokens (:mod:`paperwire.accounts.tokens`) only its
sha256 is stored; rotating replaces it and revoking deletes it, so an old URL
stops working at once.  A user has at most one.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import delete, select

from ..db import Database
from ..db.schema.community import feed_tokens
from .clock import as_utc
from .tokens import digest

PREFIX = "pwf_"


def rotate(db: Database, user_id: int, *, now: datetime) -> str:
    """A new secret for the user's feed (the old one, if any, stops working); shown once."""
    secret = PREFIX + secrets.token_urlsafe(32)
    row = {"user_id": user_id, "token_hash": digest(secret), "created_at": as_utc(now)}
    with db.begin() as conn:
        db.upsert(conn, feed_tokens, [row], ["user_id"], update=["token_hash", "created_at"])
    return secret


def revoke(db: Database, user_id: int) -> bool:
    with db.begin() as conn:
        done = conn.execute(delete(feed_tokens).where(feed_tokens.c.user_id == user_id))
    return bool(done.rowcount)


def created_at(db: Database, user_id: int) -> datetime | None:
    """When the user's current secret was made (None: the feed is off)."""
    with db.connect() as conn:
        found = conn.execute(
            select(feed_tokens.c.created_at).where(feed_tokens.c.user_id == user_id)
        ).scalar()
    return as_utc(found) if found is not None else None


def user_for_secret(db: Database, secret: str) -> int | None:
    """The user whose feed ``secret`` opens, or None (unknown, rotated or revoked)."""
    if not secret or not secret.startswith(PREFIX) or len(secret) > 100 or not secret.isascii():
        return None
    with db.connect() as conn:
        return conn.execute(
            select(feed_tokens.c.user_id).where(feed_tokens.c.token_hash == digest(secret))
        ).scalar()
