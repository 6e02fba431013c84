"""The transactional outbox: claiming due messages and recording what happened.

Any number of senders (``digest run`` processes, the schedulers of several
``paperwire serve`` instances) may work on one outbox at once.  A sender
*claims* one message at a time, just before handing it to SMTP: a short
transaction that picks the oldest due, unclaimed message (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, so concurrent claimers never wait for or pick the
same row; under SQLite's write lock, ``BEGIN IMMEDIATE``) and stamps it with
the sender's token and a lease (``claimed_until``, measured on the database
server's clock).  Recording the outcome clears the claim.  A live sender never
outlives its lease in mid-send (``outbox_lease`` >= 10 x ``smtp_timeout``,
checked at start), so no two senders ever hold one message.

A sender that dies (``kill -9``, a lost machine) leaves its one message
claimed; when the lease expires another sender takes it over.  What that
message's fate was is unknown: most likely it died before the SMTP server
accepted it, but it may have died between the server's ``250`` and the commit
that records it.  SMTP has no way to ask, so such a message is **sent again,
under the same Message-ID** (receivers that deduplicate on it, most do, show it
once), and the row says so in ``last_error``.  That is the only way a message
can reach anyone twice: at most one message per sender that died, never one
per instance or per run.  An interrupted claim counts as an attempt, so a
message that kills its sender every time is given up after ``max_attempts``.
"""

from __future__ import annotations

import os
import secrets
import socket
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, or_, select, update

from ..db import Database
from ..db.locks import is_held, presence
from ..db.schema.inbox import outbox, outbox_messages, subscriptions
from .options import InboxOptions


def pack(message: bytes) -> bytes:
    """How a message is stored: zlib (level 1), as digests repeat a lot of markup."""
    return zlib.compress(message, 1)


def unpack(stored: bytes) -> bytes:
    return zlib.decompress(stored)


def claim_token() -> str:
    """A sender's name on its claims: host and process (for people), random (to be unique)."""
    host = socket.gethostname().split(".", 1)[0][:32]
    return f"{host}:{os.getpid()}:{secrets.token_hex(4)}"[:64]


@dataclass(frozen=True)
class Pending:
    """One message claimed for delivery, with its subscription's state."""

    id: int
    kind: str
    subscription_id: int
    recipient: str
    message: bytes
    attempts: int
    subscription_status: str
    failure_count: int
    claimed_by: str = ""
    interrupted: str | None = None  # the sender whose claim on it expired, if any

    @property
    def allowed(self) -> bool:
        """Only a confirmation may go to an unconfirmed address; nothing to a stopped one."""
        if self.kind == "confirm":
            return self.subscription_status == "pending"
        return self.subscription_status == "active"


def sender_lock(token: str) -> str:
    """The named lock a sender holds while it works: its claims are void once it is gone."""
    return f"outbox-sender:{token}"


@contextmanager
def sending(db: Database) -> Iterator[str]:
    """Be a sender for the block: yields a fresh claim token, shown alive to the others."""
    token = claim_token()
    with presence(db, sender_lock(token)):
        yield token


def claim_next(
    db: Database,
    now: datetime,
    *,
    token: str,
    lease: float,
    kinds: tuple[str, ...] | None = None,
) -> Pending | None:
    """Claim the oldest due message nobody holds, or whose holder died or outlived its lease.

    ``now`` is the run's logical time (``--at``), which decides what is due;
    the lease runs on the database server's clock, which decides who holds what.
    ``token`` must come from :func:`sending`.
    """
    item = _claim(db, now, token=token, lease=lease, kinds=kinds)
    if item is None and _void_dead_claims(db, token):
        item = _claim(db, now, token=token, lease=lease, kinds=kinds)
    return item


def _void_dead_claims(db: Database, token: str) -> bool:
    """Expire the claims of senders that are no longer alive (``kill -9``); True if any."""
    with db.connect() as conn:
        holders = conn.execute(
            select(outbox.c.claimed_by)
            .where(
                outbox.c.status == "pending",
                outbox.c.claimed_until.is_not(None),
                outbox.c.claimed_by != token,
            )
            .distinct()
        ).scalars()
        holders = list(holders)
    dead = [h for h in holders if not is_held(db, sender_lock(h), tidy=True)]
    if not dead:
        return False
    with db.begin() as conn:
        conn.execute(
            update(outbox)
            .where(outbox.c.status == "pending", outbox.c.claimed_by.in_(dead))
            .values(claimed_until=None)  # claimed_by stays: the next claim sees the interruption
        )
    return True


def _claim(
    db: Database, now: datetime, *, token: str, lease: float, kinds: tuple[str, ...] | None
) -> Pending | None:
    with db.begin(immediate=True) as conn:
        clock = db.server_time(conn)
        query = (
            select(outbox.c.id, outbox.c.claimed_by)
            .where(
                outbox.c.status == "pending",
                # A message never tried is due at once, even when --at lies in the past
                # (a back-fill); a retry waits for its next_attempt_at.
                or_(outbox.c.attempts == 0, outbox.c.next_attempt_at <= now),
                or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < clock),
            )
            .order_by(outbox.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if kinds:
            query = query.where(outbox.c.kind.in_(kinds))
        found = conn.execute(query).first()
        if found is None:
            return None
        values: dict = {"claimed_by": token, "claimed_until": clock + timedelta(seconds=lease)}
        if found.claimed_by:
            values["attempts"] = outbox.c.attempts + 1
            values["last_error"] = (
                f"sender {found.claimed_by} stopped while sending this message; it may have "
                "been delivered once already and is sent again with the same Message-ID"
            )
        conn.execute(update(outbox).where(outbox.c.id == found.id).values(**values))
        row = conn.execute(
            select(
                outbox.c.kind,
                outbox.c.subscription_id,
                outbox.c.recipient,
                outbox_messages.c.message,
                outbox.c.attempts,
                subscriptions.c.status,
                subscriptions.c.failure_count,
            )
            .join(subscriptions, subscriptions.c.id == outbox.c.subscription_id)
            .join(outbox_messages, outbox_messages.c.outbox_id == outbox.c.id)
            .where(outbox.c.id == found.id)
        ).one()
    return Pending(
        found.id,
        row.kind,
        row.subscription_id,
        row.recipient,
        unpack(row.message),
        row.attempts,
        row.status,
        row.failure_count,
        claimed_by=token,
        interrupted=found.claimed_by or None,
    )


def release(db: Database, item: Pending) -> None:
    """Give a claimed message back untried (the SMTP server could not be used)."""
    with db.begin() as conn:
        conn.execute(
            update(outbox)
            .where(outbox.c.id == item.id, outbox.c.claimed_by == item.claimed_by)
            .values(claimed_by=None, claimed_until=None)
        )


_UNCLAIMED = {"claimed_by": None, "claimed_until": None}


def mark_sent(db: Database, item: Pending, now: datetime) -> None:
    note = None
    if item.interrupted:
        note = (
            f"sent again after sender {item.interrupted} stopped mid-send "
            "(a receiver may have it twice, under one Message-ID)"
        )
    with db.begin() as conn:
        conn.execute(
            update(outbox)
            .where(outbox.c.id == item.id)
            .values(
                status="sent",
                sent_at=now,
                attempts=item.attempts + 1,
                last_error=note,
                **_UNCLAIMED,
            )
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
            .values(status="cancelled", last_error=reason, **_UNCLAIMED)
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
                **_UNCLAIMED,
            )
        )
    return True


def mark_permanent(
    db: Database,
    item: Pending,
    now: datetime,
    error: str,
    opts: InboxOptions,
    *,
    address_at_fault: bool = True,
) -> bool:
    """Record a failed message; pause the address after repeated failures. True if paused."""
    with db.begin() as conn:
        conn.execute(
            update(outbox)
            .where(outbox.c.id == item.id)
            .values(
                status="failed", attempts=item.attempts + 1, last_error=error[:1000], **_UNCLAIMED
            )
        )
        if not address_at_fault:
            return False
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
            .values(status="cancelled", last_error="address paused", **_UNCLAIMED)
        )
    return paused
