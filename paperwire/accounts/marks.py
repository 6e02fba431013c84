"""What a page marks for one viewer: which of its papers they upvoted or saved.

Pages are shared between viewers (``paperwire.web.slots``); only these marks
and the papers' live counts differ per viewer, so they come from one query
over the page's paper ids, answered from primary keys: ``papers.id``,
``upvotes (user_id, paper_id)`` and ``collection_items (collection_id,
paper_id)``.  Every logged-in page view runs it, so it goes through
:class:`~paperwire.db.prepared.PreparedRead` (compiled once, run on a bare
DBAPI cursor): through a SQLAlchemy connection it cost three times as much.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, bindparam, exists, select

from ..db import Database
from ..db.prepared import PreparedRead
from ..db.schema.accounts import collection_items, collections, upvotes
from ..db.schema.catalog import papers

MAX_IDS = 500  # a page shows a few dozen papers


@dataclass(frozen=True, slots=True)
class PaperMarks:
    """The viewer's votes and saves among some papers, and those papers' current upvotes."""

    voted: frozenset[str]
    saved: frozenset[str]
    upvotes: dict[str, int]


def _marks_query() -> Select:
    user = bindparam("user_id")
    voted = exists().where(upvotes.c.user_id == user, upvotes.c.paper_id == papers.c.id)
    mine = select(collections.c.id).where(collections.c.user_id == user)
    saved = exists().where(
        collection_items.c.collection_id.in_(mine),
        collection_items.c.paper_id == papers.c.id,
    )
    return select(papers.c.id, papers.c.upvotes, voted.label("voted"), saved.label("saved")).where(
        papers.c.id.in_(bindparam("ids", expanding=True))
    )


# Built and compiled once: a page view runs it, and building a statement costs more
# than running it.
_MARKS = PreparedRead(_marks_query(), expanding="ids")


def marks_for(
    db: Database, user_id: int, paper_ids: Sequence[str], *, own_connection: bool = False
) -> PaperMarks:
    """Which of ``paper_ids`` the user upvoted and saved (in any collection), in one query.

    ``own_connection``: read on this thread's own connection (a local SQLite file
    only; see :meth:`paperwire.db.database.Database.own_connection`).
    """
    ids = list(dict.fromkeys(paper_ids))[:MAX_IDS]
    if not ids:
        return PaperMarks(frozenset(), frozenset(), {})
    voted: list[str] = []
    saved: list[str] = []
    counts: dict[str, int] = {}
    for paper_id, count, is_voted, is_saved in _MARKS.rows(
        db, {"user_id": user_id}, ids, own_connection=own_connection
    ):
        counts[paper_id] = count or 0
        if is_voted:
            voted.append(paper_id)
        if is_saved:
            saved.append(paper_id)
    return PaperMarks(frozenset(voted), frozenset(saved), counts)


def saved_and_upvoted(db: Database, user_id: int) -> list[tuple[str, datetime | None, str]]:
    """``(paper id, when, "upvoted" | "saved")`` for every upvote and collection entry.

    What "For you" and the digests start from; a paper in several collections
    (or upvoted and saved) appears once per entry.
    """
    with db.connect() as conn:
        voted = conn.execute(
            select(upvotes.c.paper_id, upvotes.c.created_at).where(upvotes.c.user_id == user_id)
        ).all()
        saved = conn.execute(
            select(collection_items.c.paper_id, collection_items.c.added_at)
            .join(collections, collections.c.id == collection_items.c.collection_id)
            .where(collections.c.user_id == user_id)
        ).all()
    return [(pid, at, "upvoted") for pid, at in voted] + [(pid, at, "saved") for pid, at in saved]
