"""One digest run: compose every due digest, then deliver the outbox.

``paperwire digest run`` (cron) and the scheduler of every ``paperwire serve``
instance call :func:`run`; any number of them may run at once, on one machine
or many sharing one database:

- composing runs under the named lock ``inbox:compose`` (a PostgreSQL advisory
  lock; a file lock beside a SQLite file), released when its holder dies, so
  the work is done once.  It is idempotent anyway: each (subscription, period)
  gets one ``digests`` row, unique, written in the same transaction as its
  outbox message, so even two composers would queue one digest each;
- delivery needs no lock: each sender claims a few outbox messages at a time
  with a lease (:mod:`.outbox`), so senders share the queue; a dead sender's
  claims are taken over at once, a hung one's when its lease ends.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from ..config import Settings
from ..db import Database
from ..db.locks import named_lock
from ..db.schema.accounts import users
from ..db.schema.inbox import digests, outbox, outbox_messages, subscriptions
from . import outbox as box
from .compose import Composer, DigestContent
from .options import RENEW_PER_TIMEOUT, InboxOptions
from .periods import Period, due_period, next_period
from .render import Identity, Renderer
from .smtp import PermanentFailure, ServerUnavailable, SmtpSender, TemporaryFailure
from .subscriptions import Preferences, Subscription, find_by_email, utcnow

log = logging.getLogger(__name__)

COMPOSE_BATCH = 500


@dataclass
class RunReport:
    """What a run did (printed by the CLI, returned to the scheduler)."""

    due: int = 0  # active subscriptions with a period not composed yet
    composed: int = 0  # digests queued
    empty: int = 0  # periods with nothing new (recorded, nothing sent)
    sent: int = 0
    deferred: int = 0  # temporary failures, retried later
    failed: int = 0  # permanent failures (or retries exhausted)
    paused: int = 0  # addresses paused by this run
    cancelled: int = 0  # queued mail no longer allowed (unsubscribed, paused)
    resent: int = 0  # of sent: taken over from a sender that stopped mid-send
    unreachable: str | None = None  # the SMTP server could not be used
    locked: bool = False  # another run was composing (and kept doing so for --wait)
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


COMPOSE_LOCK = "inbox:compose"


def _prefs(row: Any) -> Preferences:
    return Preferences(
        frequency=row.frequency,
        timezone=row.timezone,
        trending=bool(row.trending),
        categories=tuple(row.categories or ()),
        topics=tuple(row.topics or ()),
        similar_to_upvotes=bool(row.similar_to_upvotes),
        following=bool(row.following),
    )


def compose_due(
    db: Database,
    settings: Settings,
    now: datetime,
    *,
    report: RunReport,
    options: InboxOptions | None = None,
    composer: Composer | None = None,
) -> None:
    """Compose and enqueue the due digest of every active subscription (idempotent)."""
    opts = options or InboxOptions.from_settings(settings)
    composer = composer or Composer(db, settings)
    renderer = Renderer(settings)
    with db.connect() as conn:
        rows = conn.execute(
            select(
                subscriptions.c.id,
                subscriptions.c.email,
                subscriptions.c.user_id,
                subscriptions.c.frequency,
                subscriptions.c.timezone,
                subscriptions.c.trending,
                subscriptions.c.categories,
                subscriptions.c.topics,
                subscriptions.c.similar_to_upvotes,
                subscriptions.c.following,
                users.c.id.label("account_id"),
            )
            .outerjoin(users, users.c.email == subscriptions.c.email)
            .where(subscriptions.c.status == "active")
            .order_by(subscriptions.c.id)
        ).all()
    periods: dict[tuple[str, str], Period] = {}
    todo: list[tuple[Any, Period]] = []
    for row in rows:
        key = (row.frequency, row.timezone)
        period = periods.get(key)
        if period is None:
            period = periods[key] = due_period(
                row.frequency, row.timezone, now, hour=opts.digest_hour, weekday=opts.digest_weekday
            )
        todo.append((row, period))
    keys = sorted({p.key for p in periods.values()})
    done: set[tuple[int, str]] = set()
    with db.connect() as conn:
        for i in range(0, len(keys), 500):
            done.update(
                (sid, key)
                for sid, key in conn.execute(
                    select(digests.c.subscription_id, digests.c.period).where(
                        digests.c.period.in_(keys[i : i + 500])
                    )
                )
            )
    todo = [(row, p) for row, p in todo if (row.id, p.key) not in done]
    report.due += len(todo)
    for i in range(0, len(todo), COMPOSE_BATCH):
        prepared = []
        for row, period in todo[i : i + COMPOSE_BATCH]:
            content = composer.compose(_prefs(row), period, row.user_id or row.account_id)
            message = None
            if not content.empty:
                message = renderer.digest(
                    subscription_id=row.id, email=row.email, period=period, content=content, now=now
                )
            prepared.append((row, period, content, message))
        try:
            with db.begin() as conn:
                _write(conn, prepared, now)
        except IntegrityError:  # another process composed some of these meanwhile
            prepared = [p for p in prepared if _write_one(db, p, now)]
        for _row, _period, content, _message in prepared:
            if content.empty:
                report.empty += 1
            else:
                report.composed += 1


def _write(conn: Connection, prepared: list, now: datetime) -> None:
    """Insert the digests rows and their outbox messages (one transaction)."""
    if not prepared:
        return
    ids = (
        conn.execute(
            insert(digests).returning(digests.c.id, sort_by_parameter_order=True),
            [
                {
                    "subscription_id": row.id,
                    "period": period.key,
                    "window_start": period.start,
                    "window_end": period.end,
                    "status": "empty" if content.empty else "queued",
                    "paper_ids": content.paper_ids,
                    "created_at": now,
                }
                for row, period, content, _m in prepared
            ],
        )
        .scalars()
        .all()
    )
    queued = [
        (row, message, digest_id)
        for (row, _p, _c, message), digest_id in zip(prepared, ids, strict=True)
        if message is not None
    ]
    if not queued:
        return
    outbox_ids = (
        conn.execute(
            insert(outbox).returning(outbox.c.id, sort_by_parameter_order=True),
            [
                {
                    "kind": "digest",
                    "subscription_id": row.id,
                    "digest_id": digest_id,
                    "recipient": row.email,
                    "message_id": message[0],
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for row, message, digest_id in queued
            ],
        )
        .scalars()
        .all()
    )
    conn.execute(
        insert(outbox_messages),
        [
            {"outbox_id": oid, "message": box.pack(message[1])}
            for (_row, message, _d), oid in zip(queued, outbox_ids, strict=True)
        ],
    )


def _write_one(db: Database, item: tuple, now: datetime) -> bool:
    try:
        with db.begin() as conn:
            _write(conn, [item], now)
        return True
    except IntegrityError:
        return False


def deliver(
    db: Database,
    settings: Settings,
    now: datetime,
    *,
    report: RunReport,
    options: InboxOptions | None = None,
    kinds: tuple[str, ...] | None = None,
    sender: SmtpSender | None = None,
) -> None:
    """Send every due outbox message: claim, send, record each outcome as soon as it is known."""
    opts = options or InboxOptions.from_settings(settings)
    envelope_from = Identity(settings).envelope_from
    own = sender is None
    sender = sender or SmtpSender(settings, opts.smtp_timeout)
    try:
        with box.Sender(db) as box_sender:
            _deliver_claimed(box_sender, now, report, opts, envelope_from, sender, kinds)
    finally:
        if own:
            sender.close()


def _deliver_claimed(
    box_sender: box.Sender,
    now: datetime,
    report: RunReport,
    opts: InboxOptions,
    envelope_from: str,
    sender: SmtpSender,
    kinds: tuple[str, ...] | None,
) -> None:
    """Claim a few messages, send and record them in order; again until none is left."""
    margin = RENEW_PER_TIMEOUT * opts.smtp_timeout
    while True:
        claimed_at = time.monotonic()
        batch = box_sender.claim(now, lease=opts.outbox_lease, kinds=kinds)
        if not batch:
            return
        held_until = claimed_at + opts.outbox_lease
        blocked: str | None = None  # the first one is marked in flight by the claim
        for i, item in enumerate(batch):
            then = batch[i + 1] if i + 1 < len(batch) else None
            if blocked is not None:
                blocked = box_sender.start(item)
            if blocked is None and time.monotonic() > held_until - margin:
                claimed_at = time.monotonic()
                held = box_sender.renew(opts.outbox_lease)
                held_until = claimed_at + opts.outbox_lease
                blocked = None if item.id in held else "lost"
            if blocked is not None:
                report.cancelled += blocked == "cancelled"
                continue
            result = _send_one(box_sender, now, item, then, report, opts, envelope_from, sender)
            if result is None:  # the SMTP server cannot be used: stop
                box_sender.release()
                return
            blocked = result.next_blocked


def _send_one(
    box_sender: box.Sender,
    now: datetime,
    item: box.Pending,
    then: box.Pending | None,
    report: RunReport,
    opts: InboxOptions,
    envelope_from: str,
    sender: SmtpSender,
) -> box.Recorded | None:
    """Send one claimed message and record what happened (None: the server is unusable)."""
    if not item.allowed:
        report.cancelled += 1
        reason = f"subscription {item.subscription_status}"
        return box_sender.record(item, "cancelled", now, opts, error=reason, then=then)
    if item.interrupted and item.attempts >= opts.max_attempts:
        # Its senders keep dying on it: stop before it takes down another.
        report.failed += 1
        error = f"gave up: {item.attempts} attempts were cut off by their sender stopping"
        return box_sender.record(
            item, "permanent", now, opts, error=error, then=then, address_at_fault=False
        )
    try:
        sender.send(envelope_from, item.recipient, item.message)
    except ServerUnavailable as exc:
        report.unreachable = str(exc)
        return None
    except (TemporaryFailure, PermanentFailure) as exc:
        outcome, error = (
            "permanent" if isinstance(exc, PermanentFailure) else "temporary",
            str(exc),
        )
    except Exception as exc:  # a bug or an odd message: retry later, keep going
        log.exception("sending outbox message %s failed", item.id)
        outcome, error = "temporary", f"{type(exc).__name__}: {exc}"
    else:
        report.sent += 1
        report.resent += item.interrupted is not None
        return box_sender.record(item, "sent", now, opts, then=then)
    done = box_sender.record(item, outcome, now, opts, error=error, then=then)
    if done.retried:
        report.deferred += 1
    else:
        report.failed += 1
    report.paused += done.paused
    return done


def run(
    db: Database,
    settings: Settings,
    now: datetime | None = None,
    *,
    compose: bool = True,
    send: bool = True,
    kinds: tuple[str, ...] | None = None,
    wait: float | None = 600,
    sender: SmtpSender | None = None,
    composer: Composer | None = None,
) -> RunReport:
    """Compose what is due at ``now`` (once, across runs), then deliver (alongside any others).

    ``wait``: seconds to wait while another run composes; if it is still
    composing after that, this run does nothing (``report.locked``), since
    that run delivers what it composes.
    """
    now = now or utcnow()
    opts = InboxOptions.from_settings(settings)
    report = RunReport()
    t0 = time.perf_counter()
    if compose:
        with named_lock(db, COMPOSE_LOCK, wait=bool(wait), timeout=wait) as acquired:
            if not acquired:
                report.locked = True
                return report
            compose_due(db, settings, now, report=report, options=opts, composer=composer)
    t1 = time.perf_counter()
    if send:
        deliver(db, settings, now, report=report, options=opts, kinds=kinds, sender=sender)
        if kinds is None:
            box.purge(db, now - timedelta(days=opts.keep_days))
    t2 = time.perf_counter()
    report.seconds = {"compose": round(t1 - t0, 3), "deliver": round(t2 - t1, 3)}
    return report


@dataclass
class Preview:
    """What a subscriber's next digest would contain (nothing is written)."""

    subscription: Subscription | None
    period: Period
    content: DigestContent
    subject: str
    text: str
    html: str


def preview(
    db: Database,
    settings: Settings,
    *,
    now: datetime | None = None,
    email: str | None = None,
    subscription: Subscription | None = None,
    prefs: Preferences | None = None,
    user_id: int | None = None,
) -> Preview:
    """The next digest of ``subscription`` (or of ``email``, or of bare ``prefs``)."""
    now = now or utcnow()
    opts = InboxOptions.from_settings(settings)
    if subscription is None and email:
        subscription = find_by_email(db, email)
    if subscription is not None:
        prefs = subscription.prefs
        user_id = subscription.user_id or user_id or _account_id(db, subscription.email)
    prefs = prefs or Preferences(similar_to_upvotes=user_id is not None)
    period = due_period(
        prefs.frequency, prefs.timezone, now, hour=opts.digest_hour, weekday=opts.digest_weekday
    )
    if subscription is not None:
        with db.connect() as conn:
            sent = conn.execute(
                select(digests.c.id).where(
                    digests.c.subscription_id == subscription.id, digests.c.period == period.key
                )
            ).first()
        if sent is not None:
            period = next_period(period, weekday=opts.digest_weekday)
    content = Composer(db, settings).compose(prefs, period, user_id)
    subject, text, html = Renderer(settings).digest_parts(
        subscription_id=subscription.id if subscription else 0, period=period, content=content
    )
    return Preview(subscription, period, content, subject, text, html)


def _account_id(db: Database, email: str) -> int | None:
    with db.connect() as conn:
        return conn.execute(select(users.c.id).where(users.c.email == email)).scalar()
