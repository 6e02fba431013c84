"""People: email verification, roles and bans, session details, API tokens,
the moderation log, hidden papers, and account mail in the outbox.

- ``users``: ``email_verified_at``, ``role`` (user|moderator|admin), ``banned_at``;
- ``sessions``: ``last_seen_at``, ``user_agent`` (for "my sessions");
- ``api_tokens``: personal access tokens (sha256 only);
- ``moderation_log``: every moderator action;
- ``papers.hidden_at``: a paper a moderator hid from every feed;
- ``outbox``: ``subscription_id`` may be NULL for account mail, which names its
  ``user_id`` instead (deleted with the account).

Only columns are added to ``users`` and ``papers`` (SQLite's ALTER TABLE ADD
COLUMN): recreating those tables would cascade-delete their children.  The
outbox must be recreated on SQLite to relax a NOT NULL; dropping the old table
would cascade-delete the stored message bodies, so they are kept aside in a
temporary table and put back.

Revision ID: 0006
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# SQLite only: the message bodies, kept aside while the outbox is recreated.
SAVE_MESSAGES = (
    "CREATE TEMP TABLE _pw_outbox_messages AS SELECT outbox_id, message FROM outbox_messages"
)
RESTORE_MESSAGES = (
    "INSERT INTO outbox_messages (outbox_id, message) "
    "SELECT outbox_id, message FROM _pw_outbox_messages "
    "WHERE outbox_id IN (SELECT id FROM outbox) "
    "AND outbox_id NOT IN (SELECT outbox_id FROM outbox_messages)"
)


def upgrade() -> None:
    op.add_column("users", sa.Column("email_verified_at", sa.DateTime(timezone=True)))
    op.add_column("users", sa.Column("role", sa.String(16), nullable=False, server_default="user"))
    op.add_column("users", sa.Column("banned_at", sa.DateTime(timezone=True)))
    op.add_column("sessions", sa.Column("last_seen_at", sa.DateTime(timezone=True)))
    op.add_column("sessions", sa.Column("user_agent", sa.String(200)))
    op.add_column("papers", sa.Column("hidden_at", sa.DateTime(timezone=True)))

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_api_tokens_user_id_users", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])

    op.create_table(
        "moderation_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer, nullable=True),
        sa.Column("via", sa.String(8), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target_kind", sa.String(16), nullable=False),
        sa.Column("target_id", sa.String(64), nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_moderation_log"),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name="fk_moderation_log_actor_id_users", ondelete="SET NULL"
        ),
    )
    op.create_index("ix_moderation_log_at", "moderation_log", ["at"])

    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute(SAVE_MESSAGES)
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("subscription_id", existing_type=sa.Integer, nullable=True)
        batch.add_column(sa.Column("user_id", sa.Integer, nullable=True))
        batch.create_foreign_key(
            "fk_outbox_user_id_users", "users", ["user_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_index("ix_outbox_user_id", ["user_id"])
    if sqlite:
        op.execute(RESTORE_MESSAGES)
        op.execute("DROP TABLE _pw_outbox_messages")


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.execute("DELETE FROM outbox WHERE subscription_id IS NULL")
    if sqlite:
        op.execute(SAVE_MESSAGES)
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_user_id")
        batch.drop_constraint("fk_outbox_user_id_users", type_="foreignkey")
        batch.drop_column("user_id")
        batch.alter_column("subscription_id", existing_type=sa.Integer, nullable=False)
    if sqlite:
        op.execute(RESTORE_MESSAGES)
        op.execute("DROP TABLE _pw_outbox_messages")
    op.drop_index("ix_moderation_log_at", table_name="moderation_log")
    op.drop_table("moderation_log")
    op.drop_index("ix_api_tokens_user_id", table_name="api_tokens")
    op.drop_table("api_tokens")
    with op.batch_alter_table("papers", recreate="never") as batch:
        batch.drop_column("hidden_at")
    with op.batch_alter_table("sessions", recreate="never") as batch:
        batch.drop_column("user_agent")
        batch.drop_column("last_seen_at")
    with op.batch_alter_table("users", recreate="never") as batch:
        batch.drop_column("banned_at")
        batch.drop_column("role")
        batch.drop_column("email_verified_at")
