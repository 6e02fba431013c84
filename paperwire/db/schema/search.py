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
