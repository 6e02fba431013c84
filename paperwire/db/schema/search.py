"""Search tables: cached embeddings, so an unchanged paper is never re-embedded."""

from sqlalchemy import Column, DateTime, ForeignKey, LargeBinary, String, Table

from .base import metadata

# One vector per paper.  A row is current when its model_id is the encoder's and
# its content_hash equals the paper's (papers.content_hash); otherwise
# `paperwire embed` recomputes it.  Vectors are little-endian float16: half the
# size of float32 (768 bytes for 384 dimensions, ~0.8 GB per million papers)
# and a cosine error around 1e-4, far below the encoder's own int8 error.
paper_embeddings = Table(
    "paper_embeddings",
    metadata,
    Column("paper_id", ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    Column("model_id", String(128), nullable=False),
    Column("content_hash", String(32), nullable=False, doc="papers.content_hash embedded"),
    Column("vector", LargeBinary, nullable=False, doc="float16 little-endian, L2-normalised"),
    Column("embedded_at", DateTime(timezone=True), nullable=False),
)

# Server mode (PostgreSQL) keeps the search index itself in the database:
# migration 0008 creates these tables there, with pgvector and tsvector columns,
# their indexes and the triggers that maintain them (docs/search.md, "Server
# mode").  They are not declared on the shared metadata because SQLite has no
# such types and no such tables: on SQLite the index lives in files.
SERVER_ONLY_TABLES = frozenset(
    {
        "search_docs",  # one row per searchable paper: filters, tsvectors, BM25 impacts
        "search_vectors",  # current halfvec(384) embeddings, with copies of the filters
        "search_terms",  # document frequency per lexeme and field, category counts
        "search_champions",  # per common term, the papers where it weighs most
        "search_stats",  # document count and total lengths (BM25's averages)
        "search_version",  # change counter that readers key their caches by
        "search_queue",  # papers changed by a transaction, indexed when it commits
        "search_flushes",  # one row per such transaction (fires the deferred trigger)
    }
)
