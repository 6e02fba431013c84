"""Search tables: cached embeddings, so an unchanged paper is never re-embedded."""

from .base import metadata  # noqa: F401  (tables are added by the search work)
