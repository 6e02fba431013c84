"""Collections: named lists of papers, one slug per name and user, private or shared.

Slugs come from the name (``"Reading list"`` -> ``reading-list``); two names
that slug alike get ``-2``, ``-3``... so the slug stays unique per user, while
the same name twice (ignoring case) is refused.  Adding a paper twice is a no-op.

Sharing: each collection is ``private`` (the owner only), ``unlisted`` (anyone
with its URL) or ``public`` (also on the public listing).  The URL carries
``share_id``, random and unguessable, never the owner's id or slug, so a private
collection's existence never leaks: for anyone but the owner it is NotFound.

Order: ``collection_items.position``, ascending; a new paper goes to the *end*
(a reading list grows downwards); the owner moves papers up, down, to the top or
bottom, or sends a whole new order.  Ties (rows from before positions existed)
fall back to the order they were added in.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..db import Database
from ..db.schema.accounts import collection_items, collections
from ..db.schema.catalog import papers
from .clock import as_utc
from .errors import NotFound, ValidationError

MAX_NAME = 100
MAX_SLUG = 80
MAX_PER_USER = 200
MAX_DESCRIPTION = 2000
MAX_PAPERS = 2000  # per collection: imports and adds stop here
VISIBILITIES = ("private", "unlisted", "public")
MOVES = ("up", "down", "top", "bottom")
RESERVED_SLUGS = {"public"}  # /collections/public is the public listing


@dataclass(frozen=True)
class Collection:
    """One user's collection; ``size`` is the number of papers in it."""

    id: int
    user_id: int
    name: str
    slug: str
    created_at: datetime
    size: int = 0
    visibility: str = "private"
    description: str = ""
    share_id: str = ""
    updated_at: datetime | None = None

    @property
    def share_path(self) -> str:
        """The shareable URL path, ``/c/{share_id}/{slug}`` (the slug is decoration)."""
        return f"/c/{self.share_id}/{self.slug}"


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
        visibility=row.visibility or "private",
        description=row.description or "",
        share_id=row.share_id or "",
        updated_at=as_utc(row.updated_at) if row.updated_at else None,
    )


def create(db: Database, user_id: int, name: str, *, now: datetime) -> Collection:
    """A new collection for ``user_id``; ValidationError for a bad or repeated name."""
    name = _clean_name(name)
    base = slugify(name)
    for _attempt in range(3):
        share_id = secrets.token_urlsafe(12)
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
        taken = {r.slug for r in rows} | RESERVED_SLUGS
        slug, n = base, 1
        while slug in taken:
            n += 1
            suffix = f"-{n}"
            slug = base[: MAX_SLUG - len(suffix)] + suffix
        try:
            with db.begin() as conn:
                result = conn.execute(
                    insert(collections).values(
                        user_id=user_id,
                        name=name,
                        slug=slug,
                        created_at=as_utc(now),
                        share_id=share_id,
                        visibility="private",
                        description="",
                    )
                )
                new_id = result.inserted_primary_key[0]
        except IntegrityError:
            continue  # a concurrent create took the slug (or, never in practice, the share id)
        return Collection(new_id, user_id, name, slug, as_utc(now), share_id=share_id)
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


def _next_position(conn, collection_id: int) -> int:
    last = conn.execute(
        select(func.max(collection_items.c.position)).where(
            collection_items.c.collection_id == collection_id
        )
    ).scalar_one()
    return 0 if last is None else last + 1


def _insert_items(
    db: Database, coll: Collection, paper_ids: list[str], now: datetime
) -> tuple[list[str], list[str]]:
    """Append the visible ``paper_ids`` in order: ``(added, already there)``; unknown ones raise."""
    added: list[str] = []
    present: list[str] = []
    with db.begin() as conn:
        have = set(
            conn.execute(
                select(collection_items.c.paper_id).where(
                    collection_items.c.collection_id == coll.id
                )
            ).scalars()
        )
        position = _next_position(conn, coll.id)
        for paper_id in dict.fromkeys(paper_ids):
            if paper_id in have:
                present.append(paper_id)
                continue
            if len(have) >= MAX_PAPERS:
                raise ValidationError(f"A collection holds at most {MAX_PAPERS} papers.")
            conn.execute(
                insert(collection_items).values(
                    collection_id=coll.id,
                    paper_id=paper_id,
                    added_at=as_utc(now),
                    position=position,
                )
            )
            have.add(paper_id)
            added.append(paper_id)
            position += 1
    return added, present


def visible_papers(db: Database, paper_ids: Iterable[str]) -> set[str]:
    """Those of ``paper_ids`` in the catalog and not hidden (what a collection may hold)."""
    ids = list(dict.fromkeys(paper_ids))
    found: set[str] = set()
    with db.connect() as conn:
        for i in range(0, len(ids), 500):
            found.update(
                conn.execute(
                    select(papers.c.id).where(
                        papers.c.id.in_(ids[i : i + 500]), papers.c.hidden_at.is_(None)
                    )
                ).scalars()
            )
    return found


def add_paper(db: Database, user_id: int, slug: str, paper_id: str, *, now: datetime) -> bool:
    """Put ``paper_id`` at the end of the collection; False when it was there already."""
    coll = get(db, user_id, slug)
    if paper_id not in visible_papers(db, [paper_id]):
        raise NotFound("No such paper.")
    try:
        added, _present = _insert_items(db, coll, [paper_id], now)
    except IntegrityError:
        return False  # added concurrently
    return bool(added)


def add_papers(
    db: Database, user_id: int, slug: str, paper_ids: list[str], *, now: datetime
) -> tuple[list[str], list[str], list[str]]:
    """Append many papers (an import): ``(added, already there, not in the catalog)``."""
    coll = get(db, user_id, slug)
    wanted = list(dict.fromkeys(paper_ids))
    known = visible_papers(db, wanted)
    missing = [p for p in wanted if p not in known]
    try:
        added, present = _insert_items(db, coll, [p for p in wanted if p in known], now)
    except IntegrityError:  # a concurrent add: the second try sees it as present
        added, present = _insert_items(db, coll, [p for p in wanted if p in known], now)
    return added, present, missing


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


_ORDER = (collection_items.c.position, collection_items.c.added_at, collection_items.c.paper_id)


def _ordered_ids(conn, collection_id: int) -> list[str]:
    return list(
        conn.execute(
            select(collection_items.c.paper_id)
            .where(collection_items.c.collection_id == collection_id)
            .order_by(*_ORDER)
            .with_for_update()
        ).scalars()
    )


def _renumber(conn, collection_id: int, order: list[str]) -> None:
    for position, paper_id in enumerate(order):
        conn.execute(
            update(collection_items)
            .where(
                collection_items.c.collection_id == collection_id,
                collection_items.c.paper_id == paper_id,
            )
            .values(position=position)
        )


def move_paper(
    db: Database, user_id: int, slug: str, paper_id: str, where: str, *, now: datetime
) -> bool:
    """Move one paper ``up``, ``down``, to the ``top`` or ``bottom``; False if it did not move."""
    if where not in MOVES:
        raise ValidationError("Move a paper up, down, to the top or to the bottom.")
    coll = get(db, user_id, slug)
    with db.begin(immediate=True) as conn:
        order = _ordered_ids(conn, coll.id)
        if paper_id not in order:
            raise NotFound("That paper is not in this collection.")
        i = order.index(paper_id)
        j = {"up": i - 1, "down": i + 1, "top": 0, "bottom": len(order) - 1}[where]
        j = max(0, min(j, len(order) - 1))
        if i == j:
            return False
        order.pop(i)
        order.insert(j, paper_id)
        _renumber(conn, coll.id, order)
        _touch(conn, coll.id, now)
    return True


def reorder(
    db: Database, user_id: int, slug: str, paper_ids: list[str], *, now: datetime
) -> list[str]:
    """Put the papers in the order of ``paper_ids``; papers it leaves out keep their
    relative order after them (so a stale client never loses papers); unknown ids are
    ignored.  Returns the new order."""
    coll = get(db, user_id, slug)
    with db.begin(immediate=True) as conn:
        current = _ordered_ids(conn, coll.id)
        held = set(current)
        first = [p for p in dict.fromkeys(paper_ids) if p in held]
        order = first + [p for p in current if p not in set(first)]
        if order != current:
            _renumber(conn, coll.id, order)
            _touch(conn, coll.id, now)
    return order


def _touch(conn, collection_id: int, now: datetime) -> None:
    conn.execute(
        update(collections).where(collections.c.id == collection_id).values(updated_at=as_utc(now))
    )


def edit(
    db: Database,
    user_id: int,
    slug: str,
    *,
    visibility: str | None = None,
    description: str | None = None,
    now: datetime,
) -> Collection:
    """Change the visibility and/or description of the user's collection."""
    coll = get(db, user_id, slug)
    values: dict = {}
    if visibility is not None:
        if visibility not in VISIBILITIES:
            raise ValidationError("Visibility is one of private, unlisted or public.")
        values["visibility"] = visibility
    if description is not None:
        text = description.replace("\r\n", "\n").strip()
        if len(text) > MAX_DESCRIPTION:
            raise ValidationError(f"Keep the description under {MAX_DESCRIPTION} characters.")
        values["description"] = text
    if values:
        with db.begin() as conn:
            conn.execute(
                update(collections)
                .where(collections.c.id == coll.id)
                .values(**values, updated_at=as_utc(now))
            )
    return get(db, user_id, slug)


def _papers_of(db: Database, collection_id: int) -> list[dict]:
    with db.connect() as conn:
        rows = conn.execute(
            select(papers, collection_items.c.added_at, collection_items.c.position)
            .join(collection_items, collection_items.c.paper_id == papers.c.id)
            .where(collection_items.c.collection_id == collection_id, papers.c.hidden_at.is_(None))
            .order_by(*_ORDER)
        )
        return [dict(r._mapping) for r in rows]


def papers_in(db: Database, user_id: int, slug: str) -> list[dict]:
    """The papers of the user's collection as catalog rows, in the owner's order."""
    return _papers_of(db, get(db, user_id, slug).id)


def shared(db: Database, share_id: str, viewer_id: int | None) -> Collection:
    """The collection behind a share URL, if ``viewer_id`` may read it.

    Public and unlisted ones are readable by anyone; a private one only by its
    owner: for everyone else it is NotFound, exactly like an unknown id.
    """
    if not share_id or len(share_id) > 64:
        raise NotFound("No such collection.")
    size = func.count(collection_items.c.paper_id)
    with db.connect() as conn:
        row = conn.execute(
            select(collections, size.label("size"))
            .outerjoin(collection_items, collection_items.c.collection_id == collections.c.id)
            .where(collections.c.share_id == share_id)
            .group_by(collections.c.id)
        ).first()
    if row is None or (row.visibility not in ("public", "unlisted") and row.user_id != viewer_id):
        raise NotFound("No such collection.")
    return _from_row(row, row.size)


def shared_papers(db: Database, coll: Collection) -> list[dict]:
    """The papers of a collection already checked by :func:`shared`, in order."""
    return _papers_of(db, coll.id)


def list_public(db: Database, *, limit: int = 50, offset: int = 0) -> list[Collection]:
    """Public collections (never unlisted ones), most recently changed first."""
    size = func.count(collection_items.c.paper_id)
    changed = func.coalesce(collections.c.updated_at, collections.c.created_at)
    with db.connect() as conn:
        rows = conn.execute(
            select(collections, size.label("size"))
            .outerjoin(collection_items, collection_items.c.collection_id == collections.c.id)
            .where(collections.c.visibility == "public")
            .group_by(collections.c.id)
            .order_by(changed.desc(), collections.c.id.desc())
            .limit(max(1, min(limit, 200)))
            .offset(max(0, offset))
        ).all()
    return [_from_row(r, r.size) for r in rows]


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
