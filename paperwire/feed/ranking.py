"""Ranked lists of papers: a day, a week, a month, trending; paper lookup by id.

A paper is *on* a day's feed when it was listed that day (``papers.listed_on``)
or put on that day's feed (``feed_submissions.day``: a Daily Papers import or a
user's submission).  Lists are ranked by upvotes, then recency (feed day, then
arXiv id, which grows with submission time), so the order is total and stable.
A paper a moderator hid (``papers.hidden_at``) is on no feed and has no card;
only :func:`get_paper` with ``include_hidden`` finds it.

Trending ranks the papers of a recent window with a gravity formula in the
spirit of Hacker News::

    score = upvotes / (age_hours + 2) ** gravity      (gravity = 1.8)

where ``age_hours`` is the time from the start (00:00 UTC) of the paper's feed
day to ``now``.  A fresh paper with a few votes beats an older one with a few
more; the ``+ 2`` keeps the first hours from dividing by (almost) zero.  ``now``
is always a parameter: nothing here reads the clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, func, or_, select, union, union_all
from sqlalchemy.sql import ColumnElement

from ..db import Database
from ..db.prepared import PreparedRead, raw_connection
from ..db.schema.catalog import (
    feed_submissions,
    paper_categories,
    paper_versions,
    papers,
)
from .cards import CARD_COLUMNS, CARD_FROM, VISIBLE, card_from_row, cards_by_ids, cards_on
from .models import FeedPage, Neighbours, PaperDetail

SORTS = ("rank", "newest")
TRENDING_WINDOW_DAYS = 7
TRENDING_GRAVITY = 1.8
MAX_LIMIT = 200

_fs = feed_submissions
_FEED_DAY = func.coalesce(_fs.c.day, papers.c.listed_on)
_VISIBLE = VISIBLE
_START, _END = (
    bindparam("start", type_=papers.c.listed_on.type),
    bindparam("end", type_=papers.c.listed_on.type),
)


def _ids_between(start: date, end: date):
    """Ids of papers on the feed of any day in ``[start, end]`` (uses both day indexes)."""
    return union(
        select(papers.c.id.label("id")).where(papers.c.listed_on.between(start, end), _VISIBLE),
        select(_fs.c.paper_id.label("id"))
        .join(papers, papers.c.id == _fs.c.paper_id)
        .where(_fs.c.day.between(start, end), _VISIBLE),
    )


def _order(sort: str) -> tuple[ColumnElement, ...]:
    if sort == "newest":
        return (_FEED_DAY.desc(), papers.c.id.desc())
    return (papers.c.upvotes.desc(), _FEED_DAY.desc(), papers.c.id.desc())


def _clamp(limit: int, offset: int) -> tuple[int, int]:
    return max(1, min(limit, MAX_LIMIT)), max(0, offset)


def ranked(
    db: Database,
    start: date | None = None,
    end: date | None = None,
    *,
    submitter: str | None = None,
    sort: str = "rank",
    limit: int = 50,
    offset: int = 0,
) -> FeedPage:
    """Papers on the feed between ``start`` and ``end`` (inclusive), ranked.

    ``sort`` is ``rank`` (upvotes, then recency) or ``newest``.  ``submitter``
    keeps only papers put on the feed by that name.  Without a period the whole
    catalog is ranked (only sensible together with ``submitter``).
    """
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}")
    limit, offset = _clamp(limit, offset)
    if submitter is None and start is not None and end is not None:
        params = {"start": start, "end": end, "limit": limit, "offset": offset}
        with raw_connection(db) as conn:
            ids = [row[0] for row in _PERIOD_PAGE[sort].rows_on(db, conn, params)]
            items = cards_on(db, conn, ids)
            total = _PERIOD_COUNT.rows_on(db, conn, params)[0][0] if items or offset else 0
        return FeedPage(items=items, total=total, offset=offset, limit=limit)
    conds: list[ColumnElement] = [_VISIBLE]
    joined = papers.outerjoin(_fs, _fs.c.paper_id == papers.c.id)
    if start is not None and end is not None:
        in_period = _ids_between(start, end)
        conds.append(papers.c.id.in_(in_period))
    if submitter is not None:
        conds.append(_fs.c.submitter == submitter)
    # Sort narrow rows first, then fetch the page's cards: sorting whole rows
    # (abstracts, author lists) of a month is several times slower.
    page_ids = (
        select(papers.c.id)
        .select_from(joined)
        .where(*conds)
        .order_by(*_order(sort))
        .limit(limit)
        .offset(offset)
    )
    if submitter is None and start is not None and end is not None:
        count = select(func.count()).select_from(in_period.subquery())
    else:
        count = select(func.count()).select_from(joined).where(*conds)
    with db.connect() as conn:
        ids = list(conn.execute(page_ids).scalars())
        items = cards_on(db, conn.connection, ids)
        total = conn.execute(count).scalar_one() if items or offset else 0
    return FeedPage(items=items, total=total, offset=offset, limit=limit)


def _period_rows(start: Any, end: Any) -> Any:
    """Each paper on the feed of a day in ``[start, end]`` once, with what ranks it.

    Two disjoint halves, so no duplicates to remove: the papers listed in the
    period (their feed day is a submission's, if any, else the listing day),
    and the papers put on the feed of a day in it but listed outside it.
    """
    listed = (
        select(papers.c.id.label("id"), papers.c.upvotes.label("upvotes"), _FEED_DAY.label("day"))
        .select_from(papers.outerjoin(_fs, _fs.c.paper_id == papers.c.id))
        .where(papers.c.listed_on.between(start, end), _VISIBLE)
    )
    fed = (
        select(papers.c.id, papers.c.upvotes, _fs.c.day)
        .select_from(_fs.join(papers, papers.c.id == _fs.c.paper_id))
        .where(_fs.c.day.between(start, end), _VISIBLE, _listed_outside(start, end))
    )
    return union_all(listed, fed).subquery("on_feed")


def _listed_outside(start: Any, end: Any) -> ColumnElement[bool]:
    return or_(papers.c.listed_on.is_(None), ~papers.c.listed_on.between(start, end))


def _period_page(sort: str) -> PreparedRead:
    """A period's page of ids, ranked; ``start, end, limit, offset`` bound."""
    rows = _period_rows(_START, _END)
    if sort == "newest":
        order = (rows.c.day.desc(), rows.c.id.desc())
    else:
        order = (rows.c.upvotes.desc(), rows.c.day.desc(), rows.c.id.desc())
    stmt = select(rows.c.id).order_by(*order).limit(bindparam("limit")).offset(bindparam("offset"))
    return PreparedRead(stmt)


_PERIOD_PAGE = {sort: _period_page(sort) for sort in SORTS}
# How many papers a period has: the two halves of _period_rows counted apart
# (neither needs the other table joined, and the listed half is index-only).
_LISTED_COUNT = select(func.count()).where(papers.c.listed_on.between(_START, _END), _VISIBLE)
_FED_COUNT = (
    select(func.count())
    .select_from(_fs.join(papers, papers.c.id == _fs.c.paper_id))
    .where(_fs.c.day.between(_START, _END), _VISIBLE, _listed_outside(_START, _END))
)
_PERIOD_COUNT = PreparedRead(select(_LISTED_COUNT.scalar_subquery() + _FED_COUNT.scalar_subquery()))


def day_feed(db: Database, day: date, *, limit: int = 50, offset: int = 0) -> FeedPage:
    """One day's feed, ranked by upvotes then recency."""
    return ranked(db, day, day, limit=limit, offset=offset)


def _days(*scalars: Any) -> Select:
    """One statement for several one-value queries (one round trip instead of several)."""
    return select(*(q.scalar_subquery() for q in scalars))


_DAY = bindparam("day", type_=papers.c.listed_on.type)
_SHOWN = _fs.join(papers, papers.c.id == _fs.c.paper_id)  # feed days of visible papers
_LATEST = PreparedRead(
    _days(
        select(func.max(papers.c.listed_on)).where(_VISIBLE),
        select(func.max(_fs.c.day)).select_from(_SHOWN).where(_VISIBLE),
    )
)
_LATEST_UNTIL = PreparedRead(
    _days(
        select(func.max(papers.c.listed_on)).where(papers.c.listed_on <= _DAY, _VISIBLE),
        select(func.max(_fs.c.day)).select_from(_SHOWN).where(_fs.c.day <= _DAY, _VISIBLE),
    )
)
_NEIGHBOURS = PreparedRead(
    _days(
        select(func.max(papers.c.listed_on)).where(papers.c.listed_on < _DAY, _VISIBLE),
        select(func.max(_fs.c.day)).select_from(_SHOWN).where(_fs.c.day < _DAY, _VISIBLE),
        select(func.min(papers.c.listed_on)).where(papers.c.listed_on > _DAY, _VISIBLE),
        select(func.min(_fs.c.day)).select_from(_SHOWN).where(_fs.c.day > _DAY, _VISIBLE),
    )
)


def _as_day(value: Any) -> date | None:
    """A day from a scalar subquery (SQLite hands those back as ISO text)."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def latest_day(db: Database, *, until: date | None = None) -> date | None:
    """The latest day (on or before ``until``, if given) that has papers on its feed."""
    if until is None:
        (row,) = _LATEST.rows(db)
    else:
        (row,) = _LATEST_UNTIL.rows(db, {"day": until})
    days = [d for d in map(_as_day, row) if d]
    return max(days) if days else None


def neighbours(db: Database, day: date) -> Neighbours:
    """The nearest days before and after ``day`` that have papers (skipping empty days)."""
    (row,) = _NEIGHBOURS.rows(db, {"day": day})
    before_listed, before_fed, after_listed, after_fed = map(_as_day, row)
    prev = [d for d in (before_listed, before_fed) if d]
    nxt = [d for d in (after_listed, after_fed) if d]
    return Neighbours(previous=max(prev) if prev else None, next=min(nxt) if nxt else None)


def trending_score(upvotes: int, day: date, now: datetime, gravity: float) -> float:
    """``upvotes / (age_hours + 2) ** gravity``; see the module docstring."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    age_hours = max(0.0, (now - start).total_seconds() / 3600)
    return upvotes / (age_hours + 2) ** gravity


def trending(
    db: Database,
    now: datetime,
    *,
    window_days: int = TRENDING_WINDOW_DAYS,
    gravity: float = TRENDING_GRAVITY,
    limit: int = 50,
    offset: int = 0,
) -> FeedPage:
    """Papers of the ``window_days`` up to ``now``, ranked by decayed upvotes."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    limit, offset = _clamp(limit, offset)
    end = now.astimezone(UTC).date()
    start = end - timedelta(days=window_days)
    query = (
        select(papers.c.id, papers.c.upvotes, _FEED_DAY.label("day"))
        .select_from(papers.outerjoin(_fs, _fs.c.paper_id == papers.c.id))
        .where(papers.c.id.in_(_ids_between(start, end)))
    )
    with db.connect() as conn:
        rows = conn.execute(query).all()
    scored = sorted(
        (
            (trending_score(r.upvotes or 0, r.day, now, gravity), r.day, r.id)
            for r in rows
            if r.day is not None and r.day <= end
        ),
        reverse=True,
    )
    page_ids = [pid for _, _, pid in scored[offset : offset + limit]]
    return FeedPage(items=cards_by_ids(db, page_ids), total=len(scored), offset=offset, limit=limit)


_DETAIL_COLUMNS = (
    papers.c.hidden_at,
    papers.c.comment,
    papers.c.journal_ref,
    papers.c.doi,
    papers.c.license,
    papers.c.updated,
    papers.c.external_upvotes,
)
_ONE_PAPER = (
    select(*CARD_COLUMNS, *_DETAIL_COLUMNS)
    .select_from(CARD_FROM)
    .where(papers.c.id == bindparam("paper_id", type_=papers.c.id.type))
)
_PAPER = {False: PreparedRead(_ONE_PAPER.where(_VISIBLE)), True: PreparedRead(_ONE_PAPER)}
_VERSIONS = PreparedRead(
    select(paper_versions.c.version, paper_versions.c.submitted)
    .where(paper_versions.c.paper_id == bindparam("paper_id", type_=papers.c.id.type))
    .order_by(paper_versions.c.version)
)


def get_paper(db: Database, paper_id: str, *, include_hidden: bool = False) -> PaperDetail | None:
    """The paper page's data (card, versions, bibliographic fields), or None.

    A hidden paper is None unless ``include_hidden`` (for moderators).
    """
    params = {"paper_id": paper_id}
    with raw_connection(db) as conn:
        found = _PAPER[include_hidden].rows_on(db, conn, params)
        if not found:
            return None
        row = found[0]
        versions = _VERSIONS.rows_on(db, conn, params)
    hidden_at, comment, journal_ref, doi, license_, updated, external = row[len(CARD_COLUMNS) :]
    return PaperDetail(
        card=card_from_row(row),
        comment=comment,
        journal_ref=journal_ref,
        doi=doi,
        license=license_,
        updated=updated,
        external_upvotes=external or 0,
        versions=tuple((v, d) for v, d in versions),
        hidden=hidden_at is not None,
    )


def known_categories(db: Database, limit: int = 200) -> list[tuple[str, int]]:
    """Categories with their paper counts, most common first (for search filters)."""
    query = (
        select(paper_categories.c.category, func.count())
        .group_by(paper_categories.c.category)
        .order_by(func.count().desc(), paper_categories.c.category)
        .limit(limit)
    )
    with db.connect() as conn:
        return [(c, n) for c, n in conn.execute(query)]
