"""Personal views: the Following feed, "For you", and a period narrowed to "my topics".

**Following** lists the papers on the feed in the last ``FOLLOW_WINDOW_DAYS``
(up to the catalog's latest day) by a followed author (folded names, see
:mod:`paperwire.accounts.follows`) or in a followed category, newest first.
The whole matching set is computed and then paged, so the total is exact.

**For you** ranks papers by closeness in meaning to what the user told us,
through the :class:`~paperwire.search.backend.SearchBackend` interface only
(so it is the same in the embedded and the PostgreSQL deployment):

- each of the ``MAX_SEEDS`` most recent upvoted or saved papers brings its
  ``NEIGHBOURS`` nearest papers (``similar``, kept ``NEIGHBOUR_SECONDS`` per
  process), with their cosine as closeness;
- each topic brings its matches (:func:`paperwire.search.topics.topic_matches`:
  search's calibrated floor), with their fused score as closeness;
- followed authors and categories bring their recent papers with a fixed
  closeness (``AUTHOR_CLOSENESS``, ``CATEGORY_CLOSENESS``): a followed name is a
  strong signal, a whole category a weaker one.

A paper's closeness is its best piece of evidence, which is also the reason
shown ("because you saved …").  It is blended with community votes like the
feeds rank them, on a fixed scale so a page never depends on the others::

    score = (1 - VOTE_WEIGHT) * closeness + VOTE_WEIGHT * min(1, log1p(upvotes) / log1p(100))

Papers the user already upvoted or saved are left out.  With no votes, saves,
follows or topics the result says ``empty`` and the page asks for some.

**My topics** narrows a day, week, month or trending list to the papers in a
followed category or matching one of the user's topics (the same topic search
as digests), keeping the list's own order.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from ..accounts import follows as follow_store
from ..accounts import topics as topic_store
from ..accounts.marks import saved_and_upvoted
from ..db import Database
from ..db.schema.catalog import feed_submissions, papers
from ..search.topics import topic_matches
from .models import FeedPage, PaperCard
from .ranking import (
    TRENDING_GRAVITY,
    TRENDING_WINDOW_DAYS,
    _ids_between,
    cards_by_ids,
    trending_score,
)
from .ranking import latest_day as catalog_latest_day

if TYPE_CHECKING:
    from ..search.backend import SearchBackend

FOLLOW_WINDOW_DAYS = 90
MAX_SEEDS = 20
NEIGHBOURS = 30
TOPIC_DEPTH = 50  # matches per topic ("For you")
PERIOD_TOPIC_DEPTH = 200  # matches per topic within a period ("my topics")
FOLLOW_DEPTH = 200  # newest papers by follows that "For you" considers
AUTHOR_CLOSENESS = 0.6
CATEGORY_CLOSENESS = 0.45
VOTE_WEIGHT = 0.2
VOTE_SCALE = 100
MAX_ITEMS = 500

_fs = feed_submissions
_FEED_DAY = func.coalesce(_fs.c.day, papers.c.listed_on)


@dataclass(frozen=True)
class Reason:
    """Why a paper is on my "For you" list."""

    kind: str  # saved | upvoted | author | category | topic
    label: str  # the seed paper's title, the author, the category or the topic
    paper_id: str | None = None  # the seed paper

    @property
    def text(self) -> str:
        if self.kind in ("saved", "upvoted"):
            return f"because you {self.kind} “{self.label}”"
        if self.kind in ("author", "category"):
            return f"because you follow {self.label}"
        return f"matches your topic “{self.label}”"


@dataclass(frozen=True)
class Pick:
    card: PaperCard
    score: float
    reason: Reason


@dataclass(frozen=True)
class ForYouPage:
    """One page of "For you"; ``empty``: nothing to go on yet (ask for topics)."""

    items: list[Pick]
    total: int
    offset: int
    limit: int
    empty: bool

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.items) < self.total


# -- Following ----------------------------------------------------------------------------


def _window_rows(db: Database, start: date, end: date) -> list[Any]:
    query = (
        select(papers.c.id, papers.c.authors, papers.c.categories, _FEED_DAY.label("day"))
        .select_from(papers.outerjoin(_fs, _fs.c.paper_id == papers.c.id))
        .where(papers.c.id.in_(_ids_between(start, end)))
    )
    with db.connect() as conn:
        return conn.execute(query).all()


def _why_followed(row: Any, followed: follow_store.Followed) -> Reason | None:
    """The first follow that ``row`` matches (an author before a category)."""
    if followed.authors:
        for name in row.authors or ():
            if follow_store.fold(name) in followed.authors:
                return Reason("author", name)
    if followed.categories:
        for cat in row.categories or ():
            if cat.lower() in followed.categories:
                return Reason("category", cat)
    return None


def _followed_matches(
    db: Database, followed: follow_store.Followed, start: date, end: date
) -> list[tuple[str, date, Reason]]:
    """(id, day, reason) of papers in ``[start, end]`` that match a follow, newest first."""
    if not followed:
        return []
    found = []
    for row in _window_rows(db, start, end):
        reason = _why_followed(row, followed)
        if reason is not None and row.day is not None:
            found.append((row.id, row.day, reason))
    found.sort(key=lambda t: (t[1], t[0]), reverse=True)
    return found


def _follow_window(db: Database, latest: date | None) -> tuple[date, date] | None:
    latest = latest or catalog_latest_day(db)
    if latest is None:
        return None
    return latest - timedelta(days=FOLLOW_WINDOW_DAYS), latest


def following_feed(
    db: Database, user_id: int, *, limit: int = 30, offset: int = 0, latest: date | None = None
) -> FeedPage:
    """Recent papers by followed authors or in followed categories, newest first."""
    window = _follow_window(db, latest)
    followed = follow_store.followed(db, user_id)
    matches = _followed_matches(db, followed, *window) if window else []
    page = [pid for pid, _, _ in matches[offset : offset + limit]]
    return FeedPage(items=cards_by_ids(db, page), total=len(matches), offset=offset, limit=limit)


# -- For you ------------------------------------------------------------------------------


def seeds(db: Database, user_id: int, limit: int = MAX_SEEDS) -> list[tuple[str, str]]:
    """(paper id, "saved"|"upvoted") of the user's most recent saves and upvotes."""
    latest: dict[str, tuple[datetime, str]] = {}
    for pid, when, kind in saved_and_upvoted(db, user_id):
        at = when.replace(tzinfo=None) if when is not None else datetime.min
        if pid not in latest or (at, kind) > latest[pid]:
            latest[pid] = (at, kind)
    ordered = sorted(latest.items(), key=lambda kv: (kv[1][0], kv[0]), reverse=True)
    return [(pid, kind) for pid, (_, kind) in ordered[:limit]]


def _vote_share(upvotes_: int) -> float:
    return min(1.0, math.log1p(max(0, upvotes_)) / math.log1p(VOTE_SCALE))


def _seen_ids(db: Database, user_id: int) -> set[str]:
    """Every paper the user upvoted or saved (never suggested back)."""
    return {pid for pid, _, _ in saved_and_upvoted(db, user_id)}


def for_you(
    db: Database,
    backend: SearchBackend | None,
    user_id: int,
    *,
    limit: int = 30,
    offset: int = 0,
    latest: date | None = None,
) -> ForYouPage:
    """One page of the user's "For you" list (see the module docstring for the ranking)."""
    seed_list = seeds(db, user_id)
    topics = topic_store.list_topics(db, user_id)
    followed = follow_store.followed(db, user_id)
    if not (seed_list or topics or followed):
        return ForYouPage([], 0, offset, limit, empty=True)
    evidence: dict[str, tuple[float, Reason]] = {}

    def offer(pid: str, closeness: float, reason: Reason) -> None:
        known = evidence.get(pid)
        if known is None or closeness > known[0]:
            evidence[pid] = (closeness, reason)

    if backend is not None and seed_list:
        titles = {c.id: c.title for c in cards_by_ids(db, [pid for pid, _ in seed_list])}
        for pid, kind in seed_list:
            if pid not in titles:
                continue  # hidden or gone
            for other, closeness in _neighbours(backend, pid):
                offer(other, closeness, Reason(kind, titles[pid], pid))
    if backend is not None:
        for topic in topics:
            result = _safe(lambda t=topic: topic_matches(backend, t.topic, limit=TOPIC_DEPTH))
            for hit in getattr(result, "hits", None) or []:
                offer(hit.id, float(hit.score), Reason("topic", topic.topic))
    window = _follow_window(db, latest) if followed else None
    if window:
        for pid, _, reason in _followed_matches(db, followed, *window)[:FOLLOW_DEPTH]:
            closeness = AUTHOR_CLOSENESS if reason.kind == "author" else CATEGORY_CLOSENESS
            offer(pid, closeness, reason)

    for pid in _seen_ids(db, user_id):
        evidence.pop(pid, None)
    # Rank on the narrow (id, upvotes) rows, then fetch whole cards for the page only.
    counts = _visible_upvotes(db, list(evidence))  # hidden papers drop out here
    ranked = sorted(
        (
            ((1 - VOTE_WEIGHT) * evidence[pid][0] + VOTE_WEIGHT * _vote_share(votes), pid)
            for pid, votes in counts.items()
        ),
        key=lambda t: (-t[0], t[1]),
    )[:MAX_ITEMS]
    page = ranked[offset : offset + limit]
    cards = {c.id: c for c in cards_by_ids(db, [pid for _, pid in page])}
    items = [Pick(cards[pid], score, evidence[pid][1]) for score, pid in page if pid in cards]
    return ForYouPage(items, len(ranked), offset, limit, empty=False)


def _visible_upvotes(db: Database, ids: list[str]) -> dict[str, int]:
    """Upvotes of those of ``ids`` that are visible (not hidden by a moderator)."""
    found: dict[str, int] = {}
    with db.connect() as conn:
        for start in range(0, len(ids), 500):
            rows = conn.execute(
                select(papers.c.id, papers.c.upvotes).where(
                    papers.c.id.in_(ids[start : start + 500]), papers.c.hidden_at.is_(None)
                )
            )
            found.update((pid, votes or 0) for pid, votes in rows)
    return found


# A paper's nearest neighbours change only when papers are embedded, and the
# look-up is most of a "For you" page's cost (an HNSW search per seed): they are
# kept a few minutes per process, so paging and reloading cost a fraction.
NEIGHBOUR_SECONDS = 300.0
_NEIGHBOUR_CACHE_SIZE = 20_000
_neighbour_cache: OrderedDict[tuple[int, str], tuple[float, list[tuple[str, float]]]] = (
    OrderedDict()
)
_neighbour_lock = threading.Lock()


def _neighbours(backend: SearchBackend, paper_id: str) -> list[tuple[str, float]]:
    """(id, cosine) of the ``NEIGHBOURS`` papers nearest ``paper_id`` (cached briefly)."""
    key, now = (id(backend), paper_id), time.monotonic()
    with _neighbour_lock:
        found = _neighbour_cache.get(key)
        if found is not None and found[0] > now:
            _neighbour_cache.move_to_end(key)
            return found[1]
    hits = _safe(lambda: backend.similar(paper_id, limit=NEIGHBOURS))
    near = [(h.id, float(h.similarity if h.similarity is not None else h.score)) for h in hits]
    with _neighbour_lock:
        _neighbour_cache[key] = (now + NEIGHBOUR_SECONDS, near)
        while len(_neighbour_cache) > _NEIGHBOUR_CACHE_SIZE:
            _neighbour_cache.popitem(last=False)
    return near


def _safe(call: Any) -> Any:
    """A search call's answer, or nothing: a failing index must not take the page down."""
    try:
        return call() or []
    except Exception:
        import logging

        logging.getLogger(__name__).exception("search failed while building For you")
        return []


def has_signals(db: Database, user_id: int) -> bool:
    return bool(
        seeds(db, user_id, 1)
        or topic_store.list_topics(db, user_id)
        or follow_store.followed(db, user_id)
    )


# -- My topics ----------------------------------------------------------------------------


def _mine_ids(
    db: Database, backend: SearchBackend | None, user_id: int, start: date, end: date
) -> set[str]:
    """Papers of ``[start, end]`` in a followed category or matching one of my topics."""
    followed = follow_store.followed(db, user_id)
    chosen: set[str] = set()
    if followed.categories:
        only_categories = follow_store.Followed(categories=followed.categories)
        chosen.update(pid for pid, _, _ in _followed_matches(db, only_categories, start, end))
    if backend is not None:
        for topic in topic_store.list_topics(db, user_id):
            result = _safe(
                lambda t=topic: topic_matches(
                    backend, t.topic, since=start, until=end, limit=PERIOD_TOPIC_DEPTH
                )
            )
            chosen.update(h.id for h in getattr(result, "hits", None) or [])
    return chosen


def _page(cards: Iterable[PaperCard], limit: int, offset: int) -> FeedPage:
    cards = list(cards)
    return FeedPage(cards[offset : offset + limit], len(cards), offset, limit)


def my_period(
    db: Database,
    backend: SearchBackend | None,
    user_id: int,
    start: date,
    end: date,
    *,
    limit: int = 30,
    offset: int = 0,
) -> FeedPage:
    """A period's feed narrowed to my categories and topics, ranked as the feed ranks it."""
    ids = _mine_ids(db, backend, user_id, start, end)
    cards = [c for c in cards_by_ids(db, list(ids)) if c.day and start <= c.day <= end]
    cards.sort(key=lambda c: (c.upvotes, c.day, c.id), reverse=True)
    return _page(cards, limit, offset)


def my_trending(
    db: Database,
    backend: SearchBackend | None,
    user_id: int,
    now: datetime,
    *,
    limit: int = 30,
    offset: int = 0,
) -> FeedPage:
    """Trending at ``now`` narrowed to my categories and topics (trending's own order)."""
    end = now.date()
    start = end - timedelta(days=TRENDING_WINDOW_DAYS)
    ids = _mine_ids(db, backend, user_id, start, end)
    cards = [c for c in cards_by_ids(db, list(ids)) if c.day and start <= c.day <= end]
    cards.sort(
        key=lambda c: (trending_score(c.upvotes, c.day, now, TRENDING_GRAVITY), c.day, c.id),
        reverse=True,
    )
    return _page(cards, limit, offset)
