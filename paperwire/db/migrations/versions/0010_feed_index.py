"""The day feed's index also holds what the feed reads of a paper: id and hidden_at.

``ix_papers_listed_on_upvotes (listed_on, upvotes)`` becomes ``ix_papers_feed
(listed_on, upvotes, id, hidden_at)``: the ranked ids and the count of a day,
week or month are then read from the index alone, without visiting each
paper's row (wide: abstract, authors).  Same leading columns, so nothing that
used the old index loses.

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_papers_feed", "papers", ["listed_on", "upvotes", "id", "hidden_at"])
    op.drop_index("ix_papers_listed_on_upvotes", table_name="papers")


def downgrade() -> None:
    op.create_index("ix_papers_listed_on_upvotes", "papers", ["listed_on", "upvotes"])
    op.drop_index("ix_papers_feed", table_name="papers")
