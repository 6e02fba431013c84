"""The transactional outbox: claiming due messages and recording what happened.

Any number of senders (``digest run`` processes, the schedulers of several
``paperwire serve`` instances) may work on one outbox at once:

- A sender *claims* a few due messages (``CLAIM_BATCH``) in one short
  transaction: the oldest ones that nobody holds (``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL, so concurrent claimers neither wait for nor pick the same rows;
  under SQLite's write lock, ``BEGIN IMMEDIATE``), stamped with its token and a
  lease (``claimed_until``, on the database server's clock).
- It sends them one by one.  The transaction that records a message's outcome
  (and clears its claim) also marks the next one as being sent
  (``sending_since``), after checking that it is still pending and still its
  own; so each send starts from a committed "in flight" mark.
- A sender renews its lease before it could run short (``outbox_lease`` >= 20 x
  ``smtp_timeout``, renewed once less than 10 x ``smtp_timeout`` is left), so a
  live sender never loses a claim while it sends.

A sender that dies (``kill -9``, a lost machine) leaves its claims behind.  It
held a presence lock (:func:`sending`) that vanished with it, so the next
sender voids those claims at once (a sender that hangs keeps them until its
lease ends).  Its messages without the in-flight mark were never tried and are
simply sent.  The one with the mark may have been accepted by the SMTP server
just before the sender died, between the server's ``250`` and the commit that
records it; SMTP has no way to ask, and the far likelier case (it died before
anything was accepted) looks the same, so that message is **sent again, under
the same Message-ID** (receivers that deduplicate on it, most do, show it
once), and its row says so in ``last_error``.  That is the only way a message
can reach anyone twice: at most one message per sender that died, never one
per instance or per run.  Such a takeover counts as an attempt, so a message
that kills its sender every time is given up after ``max_attempts``.
"""

from __future__ import annotations

import os
import secrets
import socket
import zlib
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, delete, insert, or_, select, update

from ..db import Database
from ..db.locks import is_held, presence
from ..db.schema.inbox import outbox, outbox_messages, subscriptions
from .options import InboxOptions

# Messages claimed per transaction: enough to make claiming cheap, few enough
# that concurrent senders share a short queue.
CLAIM_BATCH = 10
OUTCOMES = ("sent", "temporary", "permanent", "cancelled")


def pack(message: bytes) -> bytes:
    """How a message is stored: zlib (level 1), as digests repeat a lot of markup."""
    return zlib.compress(message, 1)


def unpack(stored: bytes) -> bytes:
    return zlib.decompress(stored)


def claim_token() -> str:
    """A sender's name on its claims: host and process (for people), random (to be unique)."""
    host = socket.gethostname().split(".", 1)[0][:32]
    return f"{host}:{os.getpid()}:{secrets.token_hex(4)}"[:64]


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
    """One message claimed for delivery, with its subscription's state (None: account mail)."""

    id: int
    kind: str
    subscription_id: int | None
    recipient: str
    message: bytes
    attempts: int
    subscription_status: str | None
    failure_count: int | None
    claimed_by: str = ""
    interrupted: str | None = None  # the sender that died while sending it, if any

    @property
    def allowed(self) -> bool:
        """Only a confirmation may go to an unconfirmed address; nothing to a stopped one."""
        if self.subscription_id is None:  # account mail: its sender decided already
            return True
        if self.kind == "confirm":
            return self.subscription_status == "pending"
        return self.subscription_status == "active"


@dataclass
class Recorded:
    """What recording an outcome did."""

    paused: bool = False  # the address was paused by this failure
    retried: bool = False  # a temporary failure: tried again later
    # Why the next message may not be sent (None: go ahead): "cancelled" (e.g.
    # its address was just paused) or "lost" (no longer this sender's claim).
    next_blocked: str | None = None


def sender_lock(token: str) -> str:
    """The named lock a sender holds while it works: its claims are void once it is gone."""
    return f"outbox-sender:{token}"


class Sender:
    """One sender's session with the outbox: its token, its presence lock, one connection.

    ``with Sender(db) as sender:`` claims, records and renews through one
    connection kept for the whole run (one short transaction per message, plus
    one claim per ``CLAIM_BATCH``).
    The presence lock tells other senders it is alive; when it dies, they void
    its claims at once.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.token = claim_token()
        self._stack = ExitStack()
        self._conn: Connection | None = None

    def __enter__(self) -> Sender:
        self._stack.enter_context(presence(self.db, sender_lock(self.token)))
        self._conn = self._stack.enter_context(self.db.engine.connect())
        return self

    def __exit__(self, *exc: object) -> None:
        self._conn = None
        self._stack.close()

    def _tx(self, *, immediate: bool = False) -> AbstractContextManager[Connection]:
        if self._conn is None:
            raise RuntimeError("use Sender as a context manager")
        return self.db.transaction(self._conn, immediate=immediate)

    def claim(
        self,
        now: datetime,
        *,
        lease: float,
        kinds: tuple[str, ...] | None = None,
        limit: int = CLAIM_BATCH,
    ) -> list[Pending]:
        """Claim the oldest due messages nobody holds (or whose sender died or outlived its lease).

        ``now`` is the run's logical time (``--at``), which decides what is
        due; the lease runs on the database server's clock, which decides who
        holds what.  The first message comes back marked as being sent; send
        them in the order given.
        """
        items = self._claim(now, lease=lease, kinds=kinds, limit=limit)
        if not items and _void_dead_claims(self.db, self.token):
            items = self._claim(now, lease=lease, kinds=kinds, limit=limit)
        return items

    def _claim(
        self, now: datetime, *, lease: float, kinds: tuple[str, ...] | None, limit: int
    ) -> list[Pending]:
        with self._tx(immediate=True) as conn:
            clock = self.db.server_time(conn)
            query = (
                select(outbox.c.id, outbox.c.claimed_by, outbox.c.sending_since)
                .where(
                    outbox.c.status == "pending",
                    # A message never tried is due at once, even when --at lies in the
                    # past (a back-fill); a retry waits for its next_attempt_at.
                    or_(outbox.c.attempts == 0, outbox.c.next_attempt_at <= now),
                    or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < clock),
                )
                .order_by(outbox.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            if kinds:
                query = query.where(outbox.c.kind.in_(kinds))
            found = conn.execute(query).all()
            if not found:
                return []
            ids = [r.id for r in found]
            interrupted = {r.id: r.claimed_by for r in found if r.claimed_by and r.sending_since}
            conn.execute(
                update(outbox)
                .where(outbox.c.id.in_(ids))
                .values(
                    claimed_by=self.token,
                    claimed_until=clock + timedelta(seconds=lease),
                    sending_since=None,
                )
            )
            if interrupted:
                conn.execute(
                    update(outbox)
                    .where(outbox.c.id.in_(list(interrupted)))
                    .values(
                        attempts=outbox.c.attempts + 1,
                        last_error="its sender stopped while sending it; sending it again",
                    )
                )
            _start(conn, ids[0], self.token)
            rows = conn.execute(
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
                .where(outbox.c.id.in_(ids))
                .order_by(outbox.c.id)
            ).all()
        return [
            Pending(
                r.id,
                r.kind,
                r.subscription_id,
                r.recipient,
                unpack(r.message),
                r.attempts,
                r.status,
                r.failure_count,
                claimed_by=self.token,
                interrupted=interrupted.get(r.id),
            )
            for r in rows
        ]

    def start(self, item: Pending) -> str | None:
        """Mark ``item`` as being sent (when no outcome did): None if it may be, else why not."""
        with self._tx() as conn:
            return _start(conn, item.id, self.token)

    def renew(self, lease: float) -> set[int]:
        """Extend this sender's claims by ``lease`` seconds; the ids it still holds."""
        with self._tx() as conn:
            clock = self.db.server_time(conn)
            mine = (outbox.c.claimed_by == self.token, outbox.c.status == "pending")
            conn.execute(
                update(outbox).where(*mine).values(claimed_until=clock + timedelta(seconds=lease))
            )
            return set(conn.execute(select(outbox.c.id).where(*mine)).scalars())

    def release(self) -> None:
        """Give the remaining claims back untried (the SMTP server could not be used)."""
        with self._tx() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.claimed_by == self.token, outbox.c.status == "pending")
                .values(**_UNCLAIMED)
            )

    def record(
        self,
        item: Pending,
        outcome: str,
        now: datetime,
        opts: InboxOptions,
        *,
        error: str = "",
        then: Pending | None = None,
        address_at_fault: bool = True,
    ) -> Recorded:
        """Record ``item``'s outcome and, in the same transaction, mark ``then`` as being sent.

        ``outcome``: ``sent``, ``temporary`` (retried with backoff; a failure
        after ``max_attempts``), ``permanent`` (counts against the address
        unless ``address_at_fault`` is False; repeated failures pause it) or
        ``cancelled``.
        """
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        with self._tx() as conn:
            done = _record(conn, item, outcome, now, opts, error, address_at_fault)
            if then is not None:
                done.next_blocked = _start(conn, then.id, self.token)
        return done


def _void_dead_claims(db: Database, token: str) -> bool:
    """Expire the claims of senders that are no longer alive (``kill -9``); True if any."""
    with db.connect() as conn:
        holders = list(
            conn.execute(
                select(outbox.c.claimed_by)
                .where(
                    outbox.c.status == "pending",
                    outbox.c.claimed_until.is_not(None),
                    outbox.c.claimed_by != token,
                )
                .distinct()
            ).scalars()
        )
    dead = [h for h in holders if not is_held(db, sender_lock(h), tidy=True)]
    if not dead:
        return False
    with db.begin() as conn:
        conn.execute(
            update(outbox)
            .where(outbox.c.status == "pending", outbox.c.claimed_by.in_(dead))
            # claimed_by and sending_since stay: the next claim sees what was in flight.
            .values(claimed_until=None)
        )
    return True


def _start(conn: Connection, outbox_id: int, token: str) -> str | None:
    """Mark a claimed message as being sent; None if it may be, else why not."""
    marked = conn.execute(
        update(outbox)
        .where(
            outbox.c.id == outbox_id,
            outbox.c.status == "pending",
            outbox.c.claimed_by == token,
        )
        .values(sending_since=datetime.now(UTC))
    ).rowcount
    if marked:
        return None
    status = conn.execute(select(outbox.c.status).where(outbox.c.id == outbox_id)).scalar()
    return "cancelled" if status == "cancelled" else "lost"


_UNCLAIMED = {"claimed_by": None, "claimed_until": None, "sending_since": None}


def _record(
    conn: Connection,
    item: Pending,
    outcome: str,
    now: datetime,
    opts: InboxOptions,
    error: str,
    address_at_fault: bool,
) -> Recorded:
    done = Recorded()
    if outcome == "sent":
        _sent(conn, item, now)
        return done
    if outcome == "cancelled":
        conn.execute(
            update(outbox)
            .where(outbox.c.id == item.id, outbox.c.status == "pending")
            .values(status="cancelled", last_error=error[:1000], **_UNCLAIMED)
        )
        return done
    attempts = item.attempts + 1
    if outcome == "temporary" and attempts < opts.max_attempts:
        done.retried = True
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
        return done
    if outcome == "temporary":
        error = f"gave up after {attempts} attempts: {error}"
    conn.execute(
        update(outbox)
        .where(outbox.c.id == item.id)
        .values(status="failed", attempts=attempts, last_error=error[:1000], **_UNCLAIMED)
    )
    if address_at_fault and item.subscription_id is not None:
        done.paused = _count_failure(conn, item.subscription_id, now, error, opts)
    return done


def _sent(conn: Connection, item: Pending, now: datetime) -> None:
    note = None
    if item.interrupted:
        note = (
            f"sent again after sender {item.interrupted} stopped mid-send "
            "(a receiver may have it twice, under one Message-ID)"
        )
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
    if item.failure_count and item.subscription_id is not None:
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


def backoff(attempts: int, opts: InboxOptions) -> timedelta:
    """Delay before attempt ``attempts + 1``: base, 2x base, 4x base, ... capped."""
    return timedelta(seconds=min(opts.retry_base * 2 ** max(attempts - 1, 0), opts.retry_max_delay))


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
