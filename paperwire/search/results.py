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
    """One page of a query's result set.

        The set is defined by the query and filters alone, so ``total`` and the
        order are the same on every page.  ``capped`` says the set was cut at the
        deepest result the service ranks (more papers would match); ``categories``
        counts the categories among the whole set.  ``ready`` is False when there
    was no index to search at all, which is not the same as "nothing matched".
    """

    hits: list[Hit] = field(default_factory=list)
    total: int = 0
    message: str | None = None
    direct: str | None = None
    capped: bool = False
    categories: dict[str, int] = field(default_factory=dict)
    ready: bool = True  # False: no index to search yet (callers may fall back)
