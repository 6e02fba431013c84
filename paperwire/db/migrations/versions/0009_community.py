"""Community: discussion, following, personal topics, private feeds, shareable collections.

- ``comments``, ``follows``, ``user_topics``, ``feed_tokens`` (see
  ``paperwire/db/schema/community.py``);
- ``collections``: ``visibility`` (private|unlisted|public), ``description``,
  ``share_id`` (random, unique; filled in here for existing collections),
  ``updated_at``; ``collection_items.position``;
- ``users.notify_replies`` and ``subscriptions.following`` (both off).

Only columns are added to existing tables (SQLite's ALTER TABLE ADD COLUMN),
because recreating a parent table would cascade-delete its children.

Revision ID: 0009
Revises: 0008
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_FALSE = sa.false()


def _fill_share_ids() -> None:
    """Give every existing collection an unguessable share id."""
    bind = op.get_bind()
    ids = [row[0] for row in bind.execute(sa.text("SELECT id FROM collections"))]
    for collection_id in ids:
        bind.execute(
            sa.text("UPDATE collections SET share_id = :s WHERE id = :i"),
            {"s": secrets.token_urlsafe(12), "i": collection_id},
        )


def upgrade() -> None:
    op.create_table(
        "comments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("paper_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer, nullable=True),
        sa.Column("parent_id", sa.Integer, nullable=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_by", sa.Integer, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_comments"),
        sa.ForeignKeyConstraint(
            ["paper_id"], ["papers.id"], name="fk_comments_paper_id_papers", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_comments_user_id_users", ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["comments.id"],
            name="fk_comments_parent_id_comments",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["removed_by"], ["users.id"], name="fk_comments_removed_by_users", ondelete="SET NULL"
        ),
    )
    op.create_index("ix_comments_paper_id_created_at", "comments", ["paper_id", "created_at"])
    op.create_index("ix_comments_parent_id", "comments", ["parent_id"])
    op.create_index("ix_comments_user_id", "comments", ["user_id"])

    op.create_table(
        "follows",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.Column("value_key", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_follows"),
        sa.UniqueConstraint(
            "user_id", "kind", "value_key", name="uq_follows_user_id_kind_value_key"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_follows_user_id_users", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_follows_kind_value_key", "follows", ["kind", "value_key"])

    op.create_table(
        "user_topics",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("topic_key", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_user_topics"),
        sa.UniqueConstraint("user_id", "topic_key", name="uq_user_topics_user_id_topic_key"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_user_topics_user_id_users", ondelete="CASCADE"
        ),
    )

    op.create_table(
        "feed_tokens",
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_feed_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_feed_tokens_token_hash"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_feed_tokens_user_id_users", ondelete="CASCADE"
        ),
    )

    op.add_column(
        "users", sa.Column("notify_replies", sa.Boolean, nullable=False, server_default=_FALSE)
    )
    op.add_column(
        "subscriptions", sa.Column("following", sa.Boolean, nullable=False, server_default=_FALSE)
    )
    op.add_column(
        "collections",
        sa.Column("visibility", sa.String(8), nullable=False, server_default="private"),
    )
    op.add_column(
        "collections", sa.Column("description", sa.Text, nullable=False, server_default="")
    )
    op.add_column("collections", sa.Column("share_id", sa.String(32), nullable=True))
    op.add_column("collections", sa.Column("updated_at", sa.DateTime(timezone=True)))
    op.add_column(
        "collection_items",
        sa.Column("position", sa.Integer, nullable=False, server_default="0"),
    )
    _fill_share_ids()
    op.create_index("uq_collections_share_id", "collections", ["share_id"], unique=True)
    op.create_index("ix_collections_visibility", "collections", ["visibility"])


def downgrade() -> None:
    op.drop_index("ix_collections_visibility", table_name="collections")
    op.drop_index("uq_collections_share_id", table_name="collections")
    with op.batch_alter_table("collection_items", recreate="never") as batch:
        batch.drop_column("position")
    with op.batch_alter_table("collections", recreate="never") as batch:
        batch.drop_column("updated_at")
        batch.drop_column("share_id")
        batch.drop_column("description")
        batch.drop_column("visibility")
    with op.batch_alter_table("subscriptions", recreate="never") as batch:
        batch.drop_column("following")
    with op.batch_alter_table("users", recreate="never") as batch:
        batch.drop_column("notify_replies")
    op.drop_table("feed_tokens")
    op.drop_table("user_topics")
    op.drop_index("ix_follows_kind_value_key", table_name="follows")
    op.drop_table("follows")
    op.drop_index("ix_comments_user_id", table_name="comments")
    op.drop_index("ix_comments_parent_id", table_name="comments")
    op.drop_index("ix_comments_paper_id_created_at", table_name="comments")
    op.drop_table("comments")
