"""Collections: named, private lists of papers, one slug per name and user.

Slugs come from the name (``"Reading list"`` -> ``reading-list``); two names
that slug alike get ``-2``, ``-3``... so the slug stays unique per user, while
the same name twice (ignoring case) is refused.  Adding a paper twice is a no-op.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from ..db import Database
from ..db.schema.accounts import collection_items, collections
from ..db.schema.catalog import papers
from .clock import as_utc
from .errors import NotFound, ValidationError

MAX_NAME = 100
MAX_SLUG = 80
MAX_PER_USER = 200


@dataclass(frozen=True)
class Collection:
    """One user's collection; ``size`` is the number of papers in it."""

    id: int
    user_id: int
    name: str
    slug: str
    created_at: datetime
    size: int = 0


def slugify(name: str) -> str:
    """A URL-safe slug for ``name`` (ASCII letters, digits and hyphens)."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:MAX_SLUG].strip("-")
    return slug or "collection"


def _clean_name(raw: str) -> str:
    name = " ".join((raw or "").split())
    if not name:
        raise ValidationError("Give the collection a name.")
    if len(name) > MAX_NAME:
        raise ValidationError(f"Choose a name of at most {MAX_NAME} characters.")
    return name


def _from_row(row: Row, size: int = 0) -> Collection:
    return Collection(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        slug=row.slug,
        created_at=as_utc(row.created_at),
        size=size,
    )


def create(db: Database, user_id: int, name: str, *, now: datetime) -> Collection:
    """A new collection for ``user_id``; ValidationError for a bad or repeated name."""
    name = _clean_name(name)
    base = slugify(name)
    for _attempt in range(3):
        with db.connect() as conn:
            rows = conn.execute(
                select(collections.c.name, collections.c.slug).where(
                    collections.c.user_id == user_id
                )
            ).all()
        if len(rows) >= MAX_PER_USER:
            raise ValidationError(f"You can have at most {MAX_PER_USER} collections.")
        if any(r.name.casefold() == name.casefold() for r in rows):
            raise ValidationError(f"You already have a collection named “{name}”.")
        taken = {r.slug for r in rows}
        slug, n = base, 1
        while slug in taken:
            n += 1
            suffix = f"-{n}"
            slug = base[: MAX_SLUG - len(suffix)] + suffix
        try:
            with db.begin() as conn:
                result = conn.execute(
                    insert(collections).values(
                        user_id=user_id, name=name, slug=slug, created_at=as_utc(now)
                    )
                )
                new_id = result.inserted_primary_key[0]
        except IntegrityError:
            continue  # a concurrent create took the slug; pick again
        return Collection(new_id, user_id, name, slug, as_utc(now))
    raise ValidationError("Could not create the collection; please try again.")


def list_for_user(db: Database, user_id: int) -> list[Collection]:
    """The user's collections with their sizes, by name."""
    size = func.count(collection_items.c.paper_id)
    with db.connect() as conn:
        rows = conn.execute(
            select(collections, size.label("size"))
            .outerjoin(collection_items, collection_items.c.collection_id == collections.c.id)
            .where(collections.c.user_id == user_id)
            .group_by(collections.c.id)
            .order_by(func.lower(collections.c.name), collections.c.id)
        ).all()
    return [_from_row(r, r.size) for r in rows]


def get(db: Database, user_id: int, slug: str) -> Collection:
    """The user's collection with ``slug``; NotFound otherwise (also for others' slugs)."""
    with db.connect() as conn:
        row = conn.execute(
            select(collections).where(collections.c.user_id == user_id, collections.c.slug == slug)
        ).first()
        if row is None:
            raise NotFound("No such collection.")
        size = conn.execute(
            select(func.count()).where(collection_items.c.collection_id == row.id)
        ).scalar_one()
    return _from_row(row, size)


def delete_collection(db: Database, user_id: int, slug: str) -> None:
    """Delete the user's collection ``slug`` and its items (the papers stay)."""
    coll = get(db, user_id, slug)
    with db.begin() as conn:
        conn.execute(delete(collection_items).where(collection_items.c.collection_id == coll.id))
        conn.execute(delete(collections).where(collections.c.id == coll.id))


def add_paper(db: Database, user_id: int, slug: str, paper_id: str, *, now: datetime) -> bool:
    """Put ``paper_id`` in the collection; False when it was there already."""
    coll = get(db, user_id, slug)
    with db.connect() as conn:
        visible = select(papers.c.id).where(papers.c.id == paper_id, papers.c.hidden_at.is_(None))
        if conn.execute(visible).first() is None:
            raise NotFound("No such paper.")
        present = conn.execute(
            select(collection_items.c.paper_id).where(
                collection_items.c.collection_id == coll.id,
                collection_items.c.paper_id == paper_id,
            )
        ).first()
    if present is not None:
        return False
    try:
        with db.begin() as conn:
            conn.execute(
                insert(collection_items).values(
                    collection_id=coll.id, paper_id=paper_id, added_at=as_utc(now)
                )
            )
    except IntegrityError:
        return False  # added concurrently
    return True


def remove_paper(db: Database, user_id: int, slug: str, paper_id: str) -> bool:
    """Take ``paper_id`` out of the collection; False when it was not in it."""
    coll = get(db, user_id, slug)
    with db.begin() as conn:
        return (
            conn.execute(
                delete(collection_items).where(
                    collection_items.c.collection_id == coll.id,
                    collection_items.c.paper_id == paper_id,
                )
            ).rowcount
            > 0
        )


def papers_in(db: Database, user_id: int, slug: str) -> list[dict]:
    """The papers of a collection as catalog rows, most recently added first."""
    coll = get(db, user_id, slug)
    with db.connect() as conn:
        rows = conn.execute(
            select(papers, collection_items.c.added_at)
            .join(collection_items, collection_items.c.paper_id == papers.c.id)
            .where(collection_items.c.collection_id == coll.id)
            .order_by(collection_items.c.added_at.desc(), papers.c.id)
        )
        return [dict(r._mapping) for r in rows]


def slugs_containing(db: Database, user_id: int, paper_id: str) -> set[str]:
    """Slugs of the user's collections that hold ``paper_id`` (for the paper page)."""
    with db.connect() as conn:
        return set(
            conn.execute(
                select(collections.c.slug)
                .join(collection_items, collection_items.c.collection_id == collections.c.id)
                .where(collections.c.user_id == user_id, collection_items.c.paper_id == paper_id)
            ).scalars()
        )


def paper_ids_in_collections(
    db: Database, user_id: int, slugs: Iterable[str] | None = None
) -> set[str]:
    """Ids of every paper in the user's collections (or only in ``slugs``)."""
    query = (
        select(collection_items.c.paper_id)
        .join(collections, collections.c.id == collection_items.c.collection_id)
        .where(collections.c.user_id == user_id)
    )
    if slugs is not None:
        query = query.where(collections.c.slug.in_(list(slugs)))
    with db.connect() as conn:
        return set(conn.execute(query).scalars())
