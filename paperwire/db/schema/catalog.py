"""Catalog tables: papers are the source of truth for everything else."""

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Sequence,
    String,
    Table,
    Text,
)

from .base import metadata

papers = Table(
    "papers",
    metadata,
    Column("id", String(64), primary_key=True, doc="arXiv id without version"),
    Column("version", Integer, nullable=True, doc="latest known version number"),
    Column("title", Text, nullable=False),
    Column("abstract", Text, nullable=False, default=""),
    Column("authors", JSON, nullable=False, default=list, doc="names, in order"),
    Column("author_count", Integer, nullable=False, default=0),
    Column("primary_category", String(32), nullable=True),
    Column("categories", JSON, nullable=False, default=list, doc="primary first"),
    Column("submitted", Date, nullable=True, doc="v1 submission date"),
    Column("updated", Date, nullable=True, doc="latest version date"),
    Column("listed_on", Date, nullable=True, doc="day first listed (arXiv or Daily Papers)"),
    Column("comment", Text, nullable=True),
    Column("journal_ref", Text, nullable=True),
    Column("doi", String(255), nullable=True),
    Column("license", String(255), nullable=True),
    Column("links", JSON, nullable=False, default=dict, doc="abs, pdf, ... URLs"),
    Column("code_links", JSON, nullable=False, default=list, doc="normalised repo URLs"),
    Column("project_page", Text, nullable=True),
    Column("external_upvotes", Integer, nullable=False, default=0, doc="e.g. Hugging Face"),
    Column("upvotes", Integer, nullable=False, default=0, doc="external + local votes"),
    Column("content_hash", String(32), nullable=False, doc="hash of the searchable text"),
    Column("seq", Integer, nullable=False, default=0, doc="catalog change counter"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("modified_at", DateTime(timezone=True), nullable=False),
    Column("hidden_at", DateTime(timezone=True), nullable=True, doc="hidden by a moderator"),
)
# ``papers.seq`` orders catalog changes (search catches up from the last seq it
# saw).  On PostgreSQL it comes from this sequence, handed out under a lock so
# that values commit in order (see Database.next_seq); SQLite has no sequences
# and uses max+1 under its single-writer lock.  Cards are memoised by (id, seq,
# content_hash, modified_at) (paperwire.feed.cards): whatever changes a paper's
# catalog fields sets all three, as catalog.store.upsert_records does.
papers_seq = Sequence("papers_seq_seq", metadata=metadata)
# A period's ranked ids and its count come from this index alone (migration 0010).
Index("ix_papers_feed", papers.c.listed_on, papers.c.upvotes, papers.c.id, papers.c.hidden_at)
Index("ix_papers_seq", papers.c.seq)
Index("ix_papers_submitted", papers.c.submitted)

paper_categories = Table(
    "paper_categories",
    metadata,
    Column("paper_id", ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    Column("category", String(32), primary_key=True),
    Column("is_primary", Boolean, nullable=False, default=False),
)
Index("ix_paper_categories_category", paper_categories.c.category, paper_categories.c.paper_id)

paper_versions = Table(
    "paper_versions",
    metadata,
    Column("paper_id", ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("submitted", Date, nullable=True),
)

# A paper put on a day's feed: by a Daily Papers import or by a user.
feed_submissions = Table(
    "feed_submissions",
    metadata,
    Column("paper_id", ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    Column("day", Date, nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("submitter", String(255), nullable=True, doc="display name (e.g. HF user)"),
    Column("source", String(32), nullable=False, doc="'hf' or 'local'"),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
Index("ix_feed_submissions_day", feed_submissions.c.day)

# What Hugging Face Daily Papers says about a paper beyond the catalog's fields
# (its upvotes are ``papers.external_upvotes``, its repository is in
# ``papers.code_links`` and its day is the ``feed_submissions`` row).
hf_listings = Table(
    "hf_listings",
    metadata,
    Column("paper_id", ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    Column("day", Date, nullable=False, doc="the day it was on Daily Papers"),
    Column("submitter_name", String(255), nullable=True, doc="HF user name"),
    Column("submitter_fullname", String(255), nullable=True),
    Column("submitter_avatar_url", Text, nullable=True),
    Column("thumbnail_url", Text, nullable=True),
    Column("github_repo", Text, nullable=True),
    Column("github_stars", Integer, nullable=True),
    Column("num_comments", Integer, nullable=True),
    Column("fetched_at", DateTime(timezone=True), nullable=False),
)
Index("ix_hf_listings_day", hf_listings.c.day)

# Resumable position of each incremental sync (arXiv API query, OAI-PMH harvest).
sync_state = Table(
    "sync_state",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("state", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
