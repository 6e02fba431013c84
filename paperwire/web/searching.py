"""The web layer's one door to search: the search service, or a plain fallback.

:mod:`paperwire.search.service` (BM25 + vectors) is used when it is installed and
answers; if it is missing or fails, a substring search over the catalog answers
instead and the page says so.  Either way callers get cards, never raw rows, and
a query can never turn into a server error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

from ..catalog.ids import parse_arxiv_id
from ..config import Settings
from ..db import Database
from ..feed import PaperCard, cards_by_ids
from ..feed.simple_search import simple_search
from ..search.backend import SearchBackend, get_backend
from ..search.query import parse_query

log = logging.getLogger(__name__)
SORTS = ("relevance", "newest", "upvotes")
MAX_RESULTS = 1000  # the deepest result a page can show (the service's limit)
FALLBACK_NOTE = "Full-text search is not set up here yet: showing papers whose title or abstract contain every word."  # noqa: E501


@dataclass
class SearchOutcome:
    """One page of results as cards, plus what the service wants to tell the reader."""

    cards: list[PaperCard]
    total: int
    message: str | None = None
    direct: str | None = None  # an arXiv id the query named exactly
    scores: dict[str, float] = field(default_factory=dict)
    engine: str = "search"
    capped: bool = False  # more papers would match than the service ranks
    categories: dict[str, int] = field(default_factory=dict)  # among all the results


def is_empty_query(query: str) -> bool:
    """Nothing to search for: blank, or only punctuation (``((((``, ``*``)."""
    return parse_query(query).is_empty


def _service(settings: Settings) -> SearchBackend | None:
    try:
        return get_backend(settings)
    except Exception:  # an index not built yet must not take the site down
        log.exception("search service unavailable")
        return None


def search(
    settings: Settings,
    db: Database,
    query: str,
    *,
    categories: list[str] | None = None,
    since: date | None = None,
    until: date | None = None,
    min_upvotes: int | None = None,
    has_code: bool = False,
    sort: str = "relevance",
    limit: int = 20,
    offset: int = 0,
) -> SearchOutcome:
    """Search ``query`` with filters; falls back to :func:`simple_search`."""
    service = _service(settings)
    if service is not None:
        try:
            result = service.search(
                query,
                categories=categories or None,
                since=since,
                until=until,
                min_upvotes=min_upvotes,
                has_code=has_code,
                sort=sort,
                limit=limit,
                offset=offset,
            )
            ids = [h.id for h in result.hits]
            outcome = SearchOutcome(
                cards=cards_by_ids(db, ids),
                total=int(result.total),
                message=getattr(result, "message", None),
                direct=getattr(result, "direct", None),
                scores={h.id: float(h.score) for h in result.hits},
                capped=result.capped,
                categories=dict(result.categories),
            )
        except Exception:
            log.exception("search failed for %r; using the simple search", query[:200])
        else:
            if result.ready:  # else no index is built yet: the catalog's own search answers
                return outcome
    parsed = parse_arxiv_id(query)
    named = cards_by_ids(db, [parsed[0]]) if parsed is not None and offset == 0 else []
    if named:
        return SearchOutcome(cards=named, total=1, direct=named[0].id, engine="simple")
    sort = "newest" if sort == "newest" else "relevance"
    ids, total = simple_search(
        db,
        query,
        categories=categories,
        since=since,
        until=until,
        min_upvotes=min_upvotes,
        sort=sort,
        limit=limit,
        offset=offset,
    )
    return SearchOutcome(
        cards=cards_by_ids(db, ids), total=total, message=FALLBACK_NOTE, engine="simple"
    )


def similar(
    settings: Settings, db: Database, paper_id: str, limit: int = 6, sort: str = "similarity"
) -> list[PaperCard]:
    """Papers like ``paper_id`` (by similarity, newest or upvotes); empty without an index."""
    service = _service(settings)
    if service is None:
        return []
    try:
        hits = service.similar(paper_id, limit=limit, sort=sort)
    except Exception:
        log.exception("similar papers failed for %s", paper_id)
        return []
    return [c for c in cards_by_ids(db, [h.id for h in hits]) if c.id != paper_id]
