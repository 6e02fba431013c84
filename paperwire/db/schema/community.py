"""Community tables: discussion, following, personal topics and private feeds.

- ``comments``: threaded discussion on a paper (``parent_id`` is the comment
  replied to).  ``body`` is the author's Markdown source; it is rendered and
  sanitised on display, never stored as HTML.  A comment deleted by its author
  (``deleted_at``) or removed by a moderator (``removed_at``) stays as a
  tombstone while it has replies, so a thread keeps its shape.  ``user_id``
  becomes NULL when the author deletes their account.
- ``follows``: an author (by the name as written, matched on ``value_key``,
  its case- and accent-folded form) or a category that a user follows.
- ``user_topics``: the free-text topics a user cares about ("For you", the
  "my topics" switch), matched by meaning with search's calibrated floor.
- ``feed_tokens``: the secret in the URL of a user's private Atom feed
  (sha256 only; revoking deletes the row).

Collections gain ``visibility`` (private|unlisted|public), a ``description``,
an unguessable ``share_id`` for their URL and an ``updated_at``; their items a
``position`` (the owner's order).  Users gain ``notify_replies`` (opt-in email
when someone replies); subscriptions ``following`` (a digest section).
"""

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from .base import metadata

comments = Table(
    "comments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("paper_id", ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("parent_id", ForeignKey("comments.id", ondelete="CASCADE"), nullable=True),
    Column("body", Text, nullable=False, doc="Markdown source"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("edited_at", DateTime(timezone=True), nullable=True),
    Column("deleted_at", DateTime(timezone=True), nullable=True, doc="by its author"),
    Column("removed_at", DateTime(timezone=True), nullable=True, doc="by a moderator"),
    Column("removed_by", ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
)
Index("ix_comments_paper_id_created_at", comments.c.paper_id, comments.c.created_at)
Index("ix_comments_parent_id", comments.c.parent_id)
Index("ix_comments_user_id", comments.c.user_id)

follows = Table(
    "follows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False, doc="author|category"),
    Column("value", String(255), nullable=False, doc="as the user chose it"),
    Column("value_key", String(255), nullable=False, doc="case- and accent-folded"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("user_id", "kind", "value_key"),
)
Index("ix_follows_kind_value_key", follows.c.kind, follows.c.value_key)

user_topics = Table(
    "user_topics",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("topic", String(200), nullable=False),
    Column("topic_key", String(200), nullable=False, doc="case-folded, spaces collapsed"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("user_id", "topic_key"),
)

feed_tokens = Table(
    "feed_tokens",
    metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True, doc="sha256 of the secret"),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
