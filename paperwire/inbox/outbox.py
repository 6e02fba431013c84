"""The transactional outbox: claiming due messages and recording what happened.

Every state change is its own short transaction, committed right after the SMTP
server answered, so the window in which a message can be accepted by the
server but not yet recorded as sent is one local commit.  A crash in that
window means the message is sent again on the next run (at-least-once); its
Message-ID is the same both times, so receivers that deduplicate on it (most
do) show it once.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, insert, or_, select, update

from ..db import Database
from ..db.schema.inbox import outbox, outbox_messages, subscriptions
from .options import InboxOptions


def pack(message: bytes) -> bytes:
    """How a message is stored: zlib (level 1), as digests repeat a lot of markup."""
    return zlib.compress(message, 1)


def unpack(stored: bytes) -> bytes:
    return zlib.decompress(stored)


def enqueue(
    conn: Connection,
    *,
    kind: str,
    recipient: str,
    message_id: str,
    message: bytes,
    now: datetime,
    subscription_id: int | None = None,
    user_id: int | None = None,
) -> int:
    """Queue one message in the caller's transaction; returns its outbox id.

    Mail about a subscription names ``subscription_id``; account mail
    (confirmations, password resets) names the ``user_id`` instead.
    """
    outbox_id = conn.execute(
        insert(outbox).values(
            kind=kind,
            subscription_id=subscription_id,
            user_id=user_id,
            recipient=recipient,
            message_id=message_id,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    ).inserted_primary_key[0]
    conn.execute(insert(outbox_messages).values(outbox_id=outbox_id, message=pack(message)))
    return outbox_id


@dataclass(frozen=True)
class Pending:
    """One message due for delivery, with its subscription's state (None: account mail)."""

    id: int
    kind: str
    subscription_id: int | None
    recipient: str
    message: bytes
    attempts: int
    subscription_status: str | None
    failure_count: int | None

    @property
    def allowed(self) -> bool:
        """Only a confirmation may go to an unconfirmed address; nothing to a stopped one."""
        if self.subscription_id is None:  # account mail: its sender decided already
            return True
        if self.kind == "confirm":
            return self.subscription_status == "pending"
        return self.subscription_status == "active"


def due(
    db: Database,
    now: datetime,
    *,
    after_id: int = 0,
    limit: int = 200,
    kinds: tuple[str, ...] | None = None,
) -> list[Pending]:
    """Pending messages whose time has come, in id order, after ``after_id``."""
    query = (
        select(
            outbox.c.id,
            outbox.c.kind,
            outbox.c.subscription_id,
            outbox.c.recipient,
            outbox_messages.c.message,
            outbox.c.attempts,
            subscriptions.c.status,
            subscriptions.c.failure_count,
        )
        .outerjoin(subscriptions, subscriptions.c.id == outbox.c.subscription_id)
        .join(outbox_messages, outbox_messages.c.outbox_id == outbox.c.id)
        .where(
            outbox.c.status == "pending",
            # A message never tried is due at once, even when --at lies in the past
            # (a back-fill); a retry waits for its next_attempt_at.
            or_(outbox.c.attempts == 0, outbox.c.next_attempt_at <= now),
            outbox.c.id > after_id,
        )
        .order_by(outbox.c.id)
        .limit(limit)
    )
    if kinds:
        query = query.where(outbox.c.kind.in_(kinds))
    with db.connect() as conn:
        return [
            Pending(row[0], row[1], row[2], row[3], unpack(row[4]), *row[5:])
            for row in conn.execute(query)
        ]


def mark_sent(db: Database, item: Pending, now: datetime) -> None:
    with db.begin() as conn:
        conn.execute(
            update(outbox)
            .where(outbox.c.id == item.id)
            .values(status="sent", sent_at=now, attempts=item.attempts + 1, last_error=None)
        )
        if item.failure_count:
            conn.execute(
                update(subscriptions)
                .where(subscriptions.c.id == item.subscription_id)
                .values(failure_count=0)
            )


def purge(db: Database, before: datetime) -> int:
    """Drop the bodies of messages settled before ``before`` (their state rows stay)."""
    settled = select(outbox.c.id).where(outbox.c.status != "pending", outbox.c.created_at < before)
    with db.begin() as conn:
        return conn.execute(
            delete(outbox_messages).where(outbox_messages.c.outbox_id.in_(settled))
        ).rowcount


def cancel(db: Database, item: Pending, reason: str) -> None:
    with db.begin() as conn:
        conn.execute(
            update(outbox)
            .where(outbox.c.id == item.id, outbox.c.status == "pending")
            .values(status="cancelled", last_error=reason)
        )


def backoff(attempts: int, opts: InboxOptions) -> timedelta:
    """Delay before attempt ``attempts + 1``: base, 2x base, 4x base, ... capped."""
    return timedelta(seconds=min(opts.retry_base * 2 ** max(attempts - 1, 0), opts.retry_max_delay))


def mark_temporary(
    db: Database, item: Pending, now: datetime, error: str, opts: InboxOptions
) -> bool:
    """Schedule a retry; after ``max_attempts`` give up (a failure). True if retried."""
    attempts = item.attempts + 1
    if attempts >= opts.max_attempts:
        mark_permanent(db, item, now, f"gave up after {attempts} attempts: {error}", opts)
        return False
    with db.begin() as conn:
        conn.execute(
            update(outbox)
            .where(outbox.c.id == item.id)
            .values(
                attempts=attempts,
                next_attempt_at=now + backoff(attempts, opts),
                last_error=error[:1000],
            )
        )
    return True


def mark_permanent(
    db: Database, item: Pending, now: datetime, error: str, opts: InboxOptions
) -> bool:
    """Record a failed message; pause the address after repeated failures. True if paused."""
    with db.begin() as conn:
        conn.execute(
            update(outbox)
            .where(outbox.c.id == item.id)
            .values(status="failed", attempts=item.attempts + 1, last_error=error[:1000])
        )
        return _count_failure(conn, item.subscription_id, now, error, opts)


def record_bounce(
    db: Database, subscription_id: int, now: datetime, error: str, opts: InboxOptions
) -> bool:
    """An asynchronous bounce (DSN) for the address counts like a permanent failure."""
    with db.begin() as conn:
        return _count_failure(conn, subscription_id, now, error, opts)


def _count_failure(
    conn: Connection, subscription_id: int, now: datetime, error: str, opts: InboxOptions
) -> bool:
    row = conn.execute(
        select(subscriptions.c.failure_count, subscriptions.c.status).where(
            subscriptions.c.id == subscription_id
        )
    ).first()
    if row is None:
        return False
    failures = row.failure_count + 1
    values: dict = {"failure_count": failures}
    paused = failures >= opts.max_failures and row.status in ("active", "pending")
    if paused:
        values.update(
            status="paused",
            status_changed_at=now,
            status_reason=f"paused after {failures} failed deliveries: {error}"[:1000],
        )
    conn.execute(
        update(subscriptions).where(subscriptions.c.id == subscription_id).values(**values)
    )
    if paused:
        conn.execute(
            update(outbox)
            .where(outbox.c.subscription_id == subscription_id, outbox.c.status == "pending")
            .values(status="cancelled", last_error="address paused")
        )
    return paused
