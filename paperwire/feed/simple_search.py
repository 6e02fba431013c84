"""A plain substring search over titles and abstracts.

The fallback behind the search page and API while (or where) the real search
service (BM25 + vectors in :mod:`paperwire.search`) is not installed or has no
index yet.  Every word must occur in the title or the abstract; filters and
sorts match the search service's, so the web layer treats both alike.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

from sqlalchemy import and_, exists, func, or_, select

from ..db import Database
from ..db.schema.catalog import paper_categories, papers

MAX_WORDS = 8


def _like_escape(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def simple_search(
    db: Database,
    query: str,
    *,
    categories: Sequence[str] | None = None,
    since: date | None = None,
    until: date | None = None,
    min_upvotes: int | None = None,
    sort: str = "relevance",
    limit: int = 20,
    offset: int = 0,
) -> tuple[list[str], int]:
    """Ids of matching papers (one page) and the total number of matches."""
    words = [w for w in re.split(r"\s+", query.strip()) if w][:MAX_WORDS]
    conds = [papers.c.hidden_at.is_(None)]
    for word in words:
        pattern = f"%{_like_escape(word.lower())}%"
        conds.append(
            or_(
                func.lower(papers.c.title).like(pattern, escape="\\"),
                func.lower(papers.c.abstract).like(pattern, escape="\\"),
            )
        )
    if categories:
        conds.append(
            exists().where(
                and_(
                    paper_categories.c.paper_id == papers.c.id,
                    paper_categories.c.category.in_(list(categories)),
                )
            )
        )
    if since is not None:
        conds.append(papers.c.listed_on >= since)
    if until is not None:
        conds.append(papers.c.listed_on <= until)
    if min_upvotes is not None:
        conds.append(papers.c.upvotes >= min_upvotes)
    if sort == "newest":
        order = (papers.c.listed_on.desc(), papers.c.id.desc())
    else:  # no relevance score here: upvotes, then recency
        order = (papers.c.upvotes.desc(), papers.c.listed_on.desc(), papers.c.id.desc())
    with db.connect() as conn:
        ids = list(
            conn.execute(
                select(papers.c.id).where(*conds).order_by(*order).limit(limit).offset(offset)
            ).scalars()
        )
        total = conn.execute(select(func.count()).select_from(papers).where(*conds)).scalar_one()
    return ids, total
