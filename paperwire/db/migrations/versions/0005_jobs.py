"""Jobs: a row per background job run (job_runs); Hugging Face listing details (hf_listings).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("job", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("counts", sa.JSON, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("runner", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_job_runs"),
    )
    op.create_index("ix_job_runs_job_id", "job_runs", ["job", "id"])
    op.create_table(
        "hf_listings",
        sa.Column("paper_id", sa.String(64), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("submitter_name", sa.String(255), nullable=True),
        sa.Column("submitter_fullname", sa.String(255), nullable=True),
        sa.Column("submitter_avatar_url", sa.Text, nullable=True),
        sa.Column("thumbnail_url", sa.Text, nullable=True),
        sa.Column("github_repo", sa.Text, nullable=True),
        sa.Column("github_stars", sa.Integer, nullable=True),
        sa.Column("num_comments", sa.Integer, nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("paper_id", name="pk_hf_listings"),
        sa.ForeignKeyConstraint(
            ["paper_id"], ["papers.id"], name="fk_hf_listings_paper_id_papers", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_hf_listings_day", "hf_listings", ["day"])


def downgrade() -> None:
    op.drop_index("ix_hf_listings_day", table_name="hf_listings")
    op.drop_table("hf_listings")
    op.drop_index("ix_job_runs_job_id", table_name="job_runs")
    op.drop_table("job_runs")
