"""The discussion's share of "export my data" and "delete my account".

Export: every comment the user wrote, with its Markdown source (also the
removed ones: they are still the user's words).  Deletion: a comment with no
replies is deleted outright; one with replies becomes a tombstone ("[deleted]")
with its body cleared and no author, so other people's replies keep their place.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, select, update

from ..accounts.clock import utcnow
from ..accounts.privacy import Contributor, Erasure, iso, register
from ..accounts.users import User
from ..db.schema.community import comments

_replied = select(comments.c.parent_id).where(comments.c.parent_id.is_not(None))


def _export(conn: Connection, user: User) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(comments).where(comments.c.user_id == user.id).order_by(comments.c.id)
    )
    return [
        {
            "id": r.id,
            "paper_id": r.paper_id,
            "parent_id": r.parent_id,
            "body": r.body,
            "created_at": iso(r.created_at),
            "edited_at": iso(r.edited_at),
            "deleted_at": iso(r.deleted_at),
            "removed_at": iso(r.removed_at),
        }
        for r in rows
    ]


def _erase(conn: Connection, user: User, erasure: Erasure) -> None:
    mine = comments.c.user_id == user.id
    conn.execute(delete(comments).where(mine, comments.c.id.not_in(_replied)))
    # Erasure is not given a time: when the account went is not kept anywhere else.
    now = utcnow()
    conn.execute(
        update(comments).where(mine, comments.c.deleted_at.is_(None)).values(deleted_at=now)
    )
    conn.execute(update(comments).where(mine).values(body="", user_id=None))
    conn.execute(update(comments).where(comments.c.removed_by == user.id).values(removed_by=None))


register(Contributor("comments", _export, _erase, order=40))
