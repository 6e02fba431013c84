"""What a search answers, the same whichever backend produced it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Hit:
    """One result: the web layer fetches the paper row by ``id``."""

    id: str
    score: float
    keyword_rank: int | None = None
    vector_rank: int | None = None
    similarity: float | None = None


@dataclass
class SearchResult:
    hits: list[Hit] = field(default_factory=list)
    total: int = 0
    message: str | None = None
    direct: str | None = None
