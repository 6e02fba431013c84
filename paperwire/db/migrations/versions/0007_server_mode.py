"""Server mode: outbox claims (lease, in-flight mark); papers.seq from a PostgreSQL sequence.

Revision ID: 0007
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("sending_since", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_outbox_status_id", "outbox", ["status", "id"])
    if op.get_bind().dialect.name == "postgresql":
        # Continues where max+1 left off; papers.seq stays the column it was.
        op.execute("CREATE SEQUENCE papers_seq_seq AS integer OWNED BY papers.seq")
        op.execute(
            "SELECT setval('papers_seq_seq', COALESCE((SELECT max(seq) FROM papers), 0) + 1, false)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE IF EXISTS papers_seq_seq")
    op.drop_index("ix_outbox_status_id", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("sending_since")
        batch.drop_column("claimed_until")
        batch.drop_column("claimed_by")
