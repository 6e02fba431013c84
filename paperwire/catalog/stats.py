"""Catalog statistics for `paperwire stats`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from ..db import Database
from ..db.schema.catalog import feed_submissions, paper_categories, paper_versions, papers


def catalog_stats(db: Database) -> dict[str, Any]:
    """Counts overall, per category, per listing day, and a few health figures."""
    with db.connect() as conn:
        total = conn.execute(select(func.count()).select_from(papers)).scalar_one()
        first, last = conn.execute(
            select(func.min(papers.c.listed_on), func.max(papers.c.listed_on))
        ).one()
        per_cat = conn.execute(
            select(paper_categories.c.category, func.count())
            .group_by(paper_categories.c.category)
            .order_by(func.count().desc(), paper_categories.c.category)
        ).all()
        per_primary = conn.execute(
            select(papers.c.primary_category, func.count())
            .group_by(papers.c.primary_category)
            .order_by(func.count().desc(), papers.c.primary_category)
        ).all()
        per_day = conn.execute(
            select(papers.c.listed_on, func.count())
            .group_by(papers.c.listed_on)
            .order_by(papers.c.listed_on)
        ).all()
        versions = conn.execute(select(func.count()).select_from(paper_versions)).scalar_one()
        with_code = conn.execute(
            select(func.count())
            .select_from(papers)
            .where(func.json_array_length(papers.c.code_links) > 0)
        ).scalar_one()
        upvoted = conn.execute(
            select(func.count()).select_from(papers).where(papers.c.upvotes > 0)
        ).scalar_one()
        submissions = conn.execute(select(func.count()).select_from(feed_submissions)).scalar_one()
    return {
        "papers": total,
        "first_listed": first.isoformat() if first else None,
        "last_listed": last.isoformat() if last else None,
        "versions": versions,
        "with_code": with_code,
        "upvoted": upvoted,
        "feed_submissions": submissions,
        "categories": {c: n for c, n in per_cat},
        "primary_categories": {(c or ""): n for c, n in per_primary},
        "days": {(d.isoformat() if d else "unknown"): n for d, n in per_day},
    }
