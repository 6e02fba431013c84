"""How many comments each paper shows: what cards and ``numComments`` report.

Kept apart from :mod:`.comments` (and free of other domains' imports) so that
the feed can count comments for its cards without importing the accounts domain.
A comment counts while it is neither deleted nor removed and its author is not
banned (a ban hides the comments, an unban shows them again).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select
from sqlalchemy.sql import ColumnElement

from ..db import Database
from ..db.prepared import PreparedRead
from ..db.schema.accounts import users
from ..db.schema.community import comments


def shown() -> ColumnElement[bool]:
    """The condition of a comment that is shown (needs ``users`` outer-joined on its author)."""
    return and_(
        comments.c.deleted_at.is_(None),
        comments.c.removed_at.is_(None),
        or_(comments.c.user_id.is_(None), users.c.banned_at.is_(None)),
    )


# Every card list runs it (built and compiled once, on a bare DBAPI cursor).
_COUNTS = PreparedRead(
    select(comments.c.paper_id, func.count())
    .select_from(comments.outerjoin(users, users.c.id == comments.c.user_id))
    .where(comments.c.paper_id.in_(bindparam("ids", expanding=True)), shown())
    .group_by(comments.c.paper_id),
    "ids",
)


def visible_counts(db: Database, conn: Any, paper_ids: Iterable[str]) -> dict[str, int]:
    """``{paper_id: shown comments}`` for the papers that have any.

    ``conn`` is a DBAPI connection (:func:`paperwire.db.prepared.raw_connection`).
    """
    ids = list(dict.fromkeys(paper_ids))
    out: dict[str, int] = {}
    for i in range(0, len(ids), 500):
        out.update(dict(_COUNTS.rows_on(db, conn, values=ids[i : i + 500])))
    return out
