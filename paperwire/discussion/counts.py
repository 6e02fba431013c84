"""How many comments each paper shows: what cards and ``numComments`` report.

Kept apart from :mod:`.comments` (and free of other domains' imports) so that
the feed can count comments for its cards without importing the accounts domain.
A comment counts while it is neither deleted nor removed and its author is not
banned (a ban hides the comments, an unban shows them again).
"""

from __future__ import annotations

from sqlalchemy import ScalarSelect, and_, func, or_, select
from sqlalchemy.sql import ColumnElement

from ..db.schema.accounts import users
from ..db.schema.community import comments


def shown() -> ColumnElement[bool]:
    """The condition of a comment that is shown (needs ``users`` outer-joined on its author)."""
    return and_(
        comments.c.deleted_at.is_(None),
        comments.c.removed_at.is_(None),
        or_(comments.c.user_id.is_(None), users.c.banned_at.is_(None)),
    )


def shown_count(paper_id: ColumnElement[str]) -> ScalarSelect[int]:
    """How many comments paper ``paper_id`` shows (a column of the outer query: correlated)."""
    return (
        select(func.count())
        .select_from(comments.outerjoin(users, users.c.id == comments.c.user_id))
        .where(comments.c.paper_id == paper_id, shown())
        .scalar_subquery()
    )
