"""Upvotes: at most one per user and paper, with ``papers.upvotes`` kept in step.

``papers.upvotes`` is ``external_upvotes`` plus the local votes of users who
are not banned (a ban keeps the votes but stops counting them; an unban
counts them again).  A vote and the
counter change happen in one transaction, and the counter moves by ``+1``/``-1``
relative to its current value (not recounted from a snapshot), which stays
right under concurrent votes on PostgreSQL as well as SQLite.
:func:`recount` repairs the counter from the votes if it ever drifted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..db import Database
from ..db.schema.accounts import upvotes, users
from ..db.schema.catalog import papers
from .clock import as_utc
from .errors import NotFound

RETRIES = 3


@dataclass(frozen=True)
class VoteState:
    """The outcome of a vote: whether the user now upvotes it, and the paper's count."""

    upvoted: bool
    upvotes: int


def _apply(conn: Connection, user_id: int, paper_id: str, want: bool | None, now: datetime):
    visible = select(papers.c.id).where(papers.c.id == paper_id, papers.c.hidden_at.is_(None))
    if conn.execute(visible).first() is None:  # a hidden paper is as good as absent
        raise NotFound("No such paper.")
    removed = False
    if want is not True:
        removed = (
            conn.execute(
                delete(upvotes).where(upvotes.c.user_id == user_id, upvotes.c.paper_id == paper_id)
            ).rowcount
            > 0
        )
        if removed:
            conn.execute(
                update(papers).where(papers.c.id == paper_id).values(upvotes=papers.c.upvotes - 1)
            )
    upvoted = False
    if want is True or (want is None and not removed):
        exists = conn.execute(
            select(upvotes.c.user_id).where(
                upvotes.c.user_id == user_id, upvotes.c.paper_id == paper_id
            )
        ).first()
        if exists is None:
            conn.execute(
                insert(upvotes).values(user_id=user_id, paper_id=paper_id, created_at=as_utc(now))
            )
            conn.execute(
                update(papers).where(papers.c.id == paper_id).values(upvotes=papers.c.upvotes + 1)
            )
        upvoted = True
    count = conn.execute(select(papers.c.upvotes).where(papers.c.id == paper_id)).scalar_one()
    return VoteState(upvoted=upvoted, upvotes=count)


def _vote(db: Database, user_id: int, paper_id: str, want: bool | None, now: datetime):
    for attempt in range(RETRIES):
        try:
            with db.begin() as conn:
                return _apply(conn, user_id, paper_id, want, now)
        except IntegrityError:
            # A concurrent request of the same user inserted the same vote first;
            # run again on top of it (a toggle then removes it, as two toggles should).
            if attempt == RETRIES - 1:
                raise
    raise AssertionError("unreachable")


def toggle(db: Database, user_id: int, paper_id: str, *, now: datetime) -> VoteState:
    """Upvote ``paper_id``, or take the upvote back if the user had given it."""
    return _vote(db, user_id, paper_id, None, now)


def set_vote(
    db: Database, user_id: int, paper_id: str, upvoted: bool, *, now: datetime
) -> VoteState:
    """Make the user's vote on ``paper_id`` be ``upvoted`` (idempotent: safe to retry)."""
    return _vote(db, user_id, paper_id, upvoted, now)


def has_upvoted(db: Database, user_id: int, paper_id: str) -> bool:
    """Whether the user upvotes the paper."""
    with db.connect() as conn:
        return (
            conn.execute(
                select(upvotes.c.user_id).where(
                    upvotes.c.user_id == user_id, upvotes.c.paper_id == paper_id
                )
            ).first()
            is not None
        )


def paper_ids_upvoted_by(
    db: Database, user_id: int, among: Iterable[str] | None = None
) -> set[str]:
    """Ids of the papers the user upvoted, optionally only those in ``among`` (a page)."""
    query = select(upvotes.c.paper_id).where(upvotes.c.user_id == user_id)
    if among is not None:
        ids = list(among)
        if not ids:
            return set()
        query = query.where(upvotes.c.paper_id.in_(ids))
    with db.connect() as conn:
        return set(conn.execute(query).scalars())


def upvoted_papers(db: Database, user_id: int, *, limit: int = 100) -> list[dict]:
    """The user's upvoted papers, most recently upvoted first."""
    with db.connect() as conn:
        rows = conn.execute(
            select(papers, upvotes.c.created_at.label("upvoted_at"))
            .join(upvotes, upvotes.c.paper_id == papers.c.id)
            .where(upvotes.c.user_id == user_id)
            .order_by(upvotes.c.created_at.desc(), papers.c.id)
            .limit(limit)
        )
        return [dict(r._mapping) for r in rows]


def _local_count():
    return (
        select(func.count())
        .select_from(upvotes.join(users, users.c.id == upvotes.c.user_id))
        .where(upvotes.c.paper_id == papers.c.id, users.c.banned_at.is_(None))
        .scalar_subquery()
    )


def recount_in(conn: Connection, paper_ids: Iterable[str] | None = None) -> int:
    """:func:`recount` inside the caller's transaction."""
    target = papers.c.external_upvotes + _local_count()
    stmt = update(papers).where(papers.c.upvotes != target)
    if paper_ids is None:
        return conn.execute(stmt.values(upvotes=target)).rowcount
    ids = list(dict.fromkeys(paper_ids))
    changed = 0
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        changed += conn.execute(stmt.where(papers.c.id.in_(chunk)).values(upvotes=target)).rowcount
    return changed


def recount(db: Database, paper_ids: Iterable[str] | None = None) -> int:
    """Set ``upvotes = external_upvotes + counted local votes``; returns rows changed."""
    with db.begin() as conn:
        return recount_in(conn, paper_ids)
