"""Inbox: subscriptions, digests, outbox (owned by the inbox work).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("user_id", sa.Integer, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("frequency", sa.String(8), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("trending", sa.Boolean, nullable=False),
        sa.Column("similar_to_upvotes", sa.Boolean, nullable=False),
        sa.Column("categories", sa.JSON, nullable=False),
        sa.Column("topics", sa.JSON, nullable=False),
        sa.Column("nonce", sa.String(32), nullable=False),
        sa.Column("failure_count", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status_reason", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_subscriptions"),
        sa.UniqueConstraint("email", name="uq_subscriptions_email"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_subscriptions_user_id_users", ondelete="SET NULL"
        ),
    )
    op.create_index("ix_subscriptions_status", "subscriptions", ["status"])
    op.create_index("ix_subscriptions_user_id", "subscriptions", ["user_id"])

    op.create_table(
        "digests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("subscription_id", sa.Integer, nullable=False),
        sa.Column("period", sa.String(32), nullable=False),
        sa.Column("window_start", sa.Date, nullable=False),
        sa.Column("window_end", sa.Date, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("paper_ids", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_digests"),
        sa.UniqueConstraint("subscription_id", "period", name="uq_digests_subscription_id_period"),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name="fk_digests_subscription_id_subscriptions",
            ondelete="CASCADE",
        ),
    )

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subscription_id", sa.Integer, nullable=False),
        sa.Column("digest_id", sa.Integer, nullable=True),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("digest_id", name="uq_outbox_digest_id"),
        sa.UniqueConstraint("message_id", name="uq_outbox_message_id"),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name="fk_outbox_subscription_id_subscriptions",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["digest_id"], ["digests.id"], name="fk_outbox_digest_id_digests", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_outbox_status_next_attempt_at", "outbox", ["status", "next_attempt_at"])
    op.create_index("ix_outbox_subscription_id_kind", "outbox", ["subscription_id", "kind"])

    op.create_table(
        "outbox_messages",
        sa.Column("outbox_id", sa.Integer, nullable=False),
        sa.Column("message", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("outbox_id", name="pk_outbox_messages"),
        sa.ForeignKeyConstraint(
            ["outbox_id"],
            ["outbox.id"],
            name="fk_outbox_messages_outbox_id_outbox",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("outbox_messages")
    op.drop_table("outbox")
    op.drop_table("digests")
    op.drop_index("ix_subscriptions_user_id", table_name="subscriptions")
    op.drop_index("ix_subscriptions_status", table_name="subscriptions")
    op.drop_table("subscriptions")
