"""The inbox's share of "export my data" and "delete my account" (see accounts.privacy).

A person's digest subscription is the one linked to their account or sent to
their address; deleting it also deletes its digests and queued mail (foreign
keys cascade).  Account mail (confirmations, resets) is the outbox rows that
name the account.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, or_, select

from ..accounts.privacy import Contributor, Erasure, iso, register
from ..accounts.users import User
from ..db.schema.inbox import digests, outbox, subscriptions


def _theirs(user: User):
    return or_(subscriptions.c.user_id == user.id, subscriptions.c.email == user.email)


def _subscriptions(conn: Connection, user: User) -> list[dict[str, Any]]:
    out = []
    for row in conn.execute(
        select(subscriptions).where(_theirs(user)).order_by(subscriptions.c.id)
    ):
        sent = conn.execute(
            select(digests.c.period, digests.c.status, digests.c.paper_ids)
            .where(digests.c.subscription_id == row.id)
            .order_by(digests.c.id)
        )
        out.append(
            {
                "email": row.email,
                "status": row.status,
                "frequency": row.frequency,
                "timezone": row.timezone,
                "trending": bool(row.trending),
                "categories": list(row.categories or []),
                "topics": list(row.topics or []),
                "similar_to_upvotes": bool(row.similar_to_upvotes),
                "following": bool(row.following),
                "created_at": iso(row.created_at),
                "confirmed_at": iso(row.confirmed_at),
                "digests": [
                    {"period": d.period, "status": d.status, "paper_ids": list(d.paper_ids or [])}
                    for d in sent
                ],
            }
        )
    return out


def _erase_subscriptions(conn: Connection, user: User, erasure: Erasure) -> None:
    ids = select(subscriptions.c.id).where(_theirs(user))
    conn.execute(delete(outbox).where(outbox.c.subscription_id.in_(ids)))
    conn.execute(delete(digests).where(digests.c.subscription_id.in_(ids)))
    conn.execute(delete(subscriptions).where(_theirs(user)))


register(Contributor("subscriptions", _subscriptions, _erase_subscriptions, order=40))


def _account_mail(conn: Connection, user: User) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(outbox.c.recipient, outbox.c.status, outbox.c.created_at, outbox.c.sent_at)
        .where(outbox.c.user_id == user.id)
        .order_by(outbox.c.id)
    )
    return [
        {
            "to": r.recipient,
            "status": r.status,
            "queued_at": iso(r.created_at),
            "sent_at": iso(r.sent_at),
        }
        for r in rows
    ]


def _erase_account_mail(conn: Connection, user: User, erasure: Erasure) -> None:
    conn.execute(delete(outbox).where(outbox.c.user_id == user.id))


register(Contributor("account_mail", _account_mail, _erase_account_mail, order=50))
