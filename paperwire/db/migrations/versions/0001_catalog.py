"""Catalog and accounts: papers, categories, versions, feed submissions, users.

Revision ID: 0001
Revises:
"""

from alembic import op

from paperwire.db.schema import accounts, catalog

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TABLES = [
    accounts.users,
    catalog.papers,
    catalog.paper_categories,
    catalog.paper_versions,
    catalog.feed_submissions,
    catalog.sync_state,
    accounts.sessions,
    accounts.upvotes,
    accounts.collections,
    accounts.collection_items,
]


def upgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        table.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(TABLES):
        table.drop(bind)
