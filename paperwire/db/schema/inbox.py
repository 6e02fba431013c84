"""Inbox tables: subscriptions, digests and the transactional outbox.

- ``subscriptions``: one row per address (lower-cased), with its preferences and
  its double-opt-in state (pending -> active; paused after repeated failures;
  unsubscribed).
- ``digests``: one row per subscription and period, *unique*, written in the
  same transaction as the outbox row that carries it (or with status ``empty``
  when there was nothing new), so a re-run never composes a period twice.
- ``outbox``: every message to send (confirmations, notices, digests) with its
  delivery state, attempts and next retry time; ``outbox_messages`` holds the
  fully rendered message (kept for ``keep_days`` after delivery).  A sender
  claims a few messages at a time (``claimed_by``, ``claimed_until``: a lease
  on the database server's clock), marks each one in flight
  (``sending_since``) before handing it to SMTP, and clears all three when it
  records the outcome; a claim left behind with the in-flight mark means its
  sender died mid-send (see ``paperwire/inbox/outbox.py``).
"""

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from .base import metadata

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, unique=True, doc="normalised, lower-cased"),
    Column("user_id", ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("status", String(16), nullable=False, doc="pending|active|paused|unsubscribed"),
    Column("frequency", String(8), nullable=False, doc="daily|weekly"),
    Column("timezone", String(64), nullable=False, default="UTC"),
    Column("trending", Boolean, nullable=False, default=True),
    Column("similar_to_upvotes", Boolean, nullable=False, default=False),
    Column("following", Boolean, nullable=False, server_default=false(), doc="digest section"),
    Column("categories", JSON, nullable=False, default=list),
    Column("topics", JSON, nullable=False, default=list),
    Column("nonce", String(32), nullable=False, doc="changes on every subscribe request"),
    Column("failure_count", Integer, nullable=False, default=0, doc="consecutive failures"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("confirmed_at", DateTime(timezone=True), nullable=True),
    Column("status_changed_at", DateTime(timezone=True), nullable=True),
    Column("status_reason", Text, nullable=True),
)
Index("ix_subscriptions_status", subscriptions.c.status)
Index("ix_subscriptions_user_id", subscriptions.c.user_id)

digests = Table(
    "digests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "subscription_id",
        ForeignKey("subscriptions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("period", String(32), nullable=False, doc="'daily:YYYY-MM-DD' / 'weekly:YYYY-MM-DD'"),
    Column("window_start", Date, nullable=False, doc="first listing day covered"),
    Column("window_end", Date, nullable=False, doc="last listing day covered"),
    Column("status", String(16), nullable=False, doc="queued|empty"),
    Column("paper_ids", JSON, nullable=False, default=list),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("subscription_id", "period"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False, doc="confirm|notice|digest|account"),
    Column(
        "subscription_id",
        ForeignKey("subscriptions.id", ondelete="CASCADE"),
        nullable=True,
        doc="None for account mail (verification, reset), which has ``user_id``",
    ),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    Column(
        "digest_id",
        ForeignKey("digests.id", ondelete="CASCADE"),
        nullable=True,
        unique=True,
    ),
    Column("recipient", String(320), nullable=False),
    Column("message_id", String(255), nullable=False, unique=True),
    Column("status", String(16), nullable=False, doc="pending|sent|failed|cancelled"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Column("claimed_by", String(64), nullable=True, doc="the sender sending it now"),
    Column("claimed_until", DateTime(timezone=True), nullable=True, doc="its lease"),
    Column(
        "sending_since",
        DateTime(timezone=True),
        nullable=True,
        doc="its sender began sending it (in flight; cleared with the outcome)",
    ),
)
Index("ix_outbox_status_next_attempt_at", outbox.c.status, outbox.c.next_attempt_at)
Index("ix_outbox_status_id", outbox.c.status, outbox.c.id)  # claims: oldest pending first
Index("ix_outbox_subscription_id_kind", outbox.c.subscription_id, outbox.c.kind)
Index("ix_outbox_user_id", outbox.c.user_id)

# The rendered messages, apart from their small, often-updated delivery state
# (SQLite rewrites a whole row, blob included, on every update).
outbox_messages = Table(
    "outbox_messages",
    metadata,
    Column("outbox_id", ForeignKey("outbox.id", ondelete="CASCADE"), primary_key=True),
    Column("message", LargeBinary, nullable=False, doc="RFC 5322 bytes (CRLF), zlib-compressed"),
)
