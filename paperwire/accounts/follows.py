"""Following: authors (by the name as written) and categories a user wants to see more of.

An author is matched on a *folded* key (accents stripped, case-folded, spaces
collapsed), so "José García", "jose  GARCIA" and "Jose Garcia" are one follow
and match the same papers: catalogs spell the same person with and without
accents.  Follows are idempotent (unique per user, kind and key).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select

from ..db import Database
from ..db.schema.community import follows
from .clock import as_utc
from .errors import ValidationError

KINDS = ("author", "category")
MAX_VALUE = 200
MAX_PER_USER = 500


@dataclass(frozen=True)
class Follow:
    kind: str
    value: str
    key: str
    created_at: datetime


@dataclass(frozen=True)
class Followed:
    """What a user follows, as keys to match papers against."""

    authors: frozenset[str] = frozenset()  # folded names
    categories: frozenset[str] = frozenset()  # lower-cased

    def __bool__(self) -> bool:
        return bool(self.authors or self.categories)


def fold(value: str) -> str:
    """The matching key of a name: no accents, case-folded, single spaces."""
    decomposed = unicodedata.normalize("NFKD", value or "")
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().split())


def _clean(kind: str, value: str) -> tuple[str, str]:
    if kind not in KINDS:
        raise ValidationError("You can follow an author or a category.")
    value = " ".join((value or "").split())
    if not value or len(value) > MAX_VALUE:
        raise ValidationError(f"Give a name of 1 to {MAX_VALUE} characters.")
    if kind == "category":
        if any(ch.isspace() for ch in value) or len(value) > 32:
            raise ValidationError("A category looks like cs.CL.")
        return value, value.lower()
    return value, fold(value)


def follow(db: Database, user_id: int, kind: str, value: str, *, now: datetime) -> Follow:
    """Follow ``value``; following it again changes nothing."""
    value, key = _clean(kind, value)
    with db.begin() as conn:
        existing = conn.execute(
            select(follows).where(
                follows.c.user_id == user_id, follows.c.kind == kind, follows.c.value_key == key
            )
        ).first()
        if existing is not None:
            return Follow(kind, existing.value, key, as_utc(existing.created_at))
        count = conn.execute(
            select(func.count()).select_from(follows).where(follows.c.user_id == user_id)
        ).scalar_one()
        if count >= MAX_PER_USER:
            raise ValidationError(f"You can follow at most {MAX_PER_USER} names and categories.")
        row = {"user_id": user_id, "kind": kind, "value": value, "value_key": key}
        db.upsert(
            conn, follows, [{**row, "created_at": as_utc(now)}], ["user_id", "kind", "value_key"]
        )
    return Follow(kind, value, key, as_utc(now))


def unfollow(db: Database, user_id: int, kind: str, value: str) -> bool:
    """Stop following; True if something was followed."""
    _, key = _clean(kind, value)
    with db.begin() as conn:
        done = conn.execute(
            delete(follows).where(
                follows.c.user_id == user_id, follows.c.kind == kind, follows.c.value_key == key
            )
        )
    return bool(done.rowcount)


def list_follows(db: Database, user_id: int) -> list[Follow]:
    """Everything the user follows: authors first, then categories, by name."""
    with db.connect() as conn:
        rows = conn.execute(
            select(follows)
            .where(follows.c.user_id == user_id)
            .order_by(follows.c.kind, follows.c.value_key)
        ).all()
    return [Follow(r.kind, r.value, r.value_key, as_utc(r.created_at)) for r in rows]


def followed(db: Database, user_id: int) -> Followed:
    items = list_follows(db, user_id)
    return Followed(
        authors=frozenset(f.key for f in items if f.kind == "author"),
        categories=frozenset(f.key for f in items if f.kind == "category"),
    )
