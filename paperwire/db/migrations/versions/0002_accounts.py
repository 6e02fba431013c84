"""Accounts: additions beyond the tables created in 0001 (owned by the accounts work).

Adds ``auth_attempts``, the sliding-window log behind the login and sign-up
rate limits.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(32), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_auth_attempts_scope_key_at", "auth_attempts", ["scope", "key", "at"])


def downgrade() -> None:
    op.drop_index("ix_auth_attempts_scope_key_at", table_name="auth_attempts")
    op.drop_table("auth_attempts")
