"""What goes into a digest: sections of papers listed in the period's window.

Sections, in order (a paper appears once, in the first section that has it):

1. *Similar to your upvotes and collections* (an address that belongs to an
   account, when asked for): nearest neighbours of the account's papers.
   *From people and categories you follow* (likewise): the window's papers by
   the account's followed authors or in its followed categories, trending order.
2. One section per *topic*: the hybrid search for the topic, within the window.
3. One section per *category*.
4. *Trending*: the window's papers ranked like the site's trending feed.

A :class:`Composer` lives for one run and caches everything that does not
depend on the subscriber (the window's papers, each topic's and category's
ranking, each seed's neighbours), so 10,000 subscribers cost a few hundred
look-ups, not 10,000 searches.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import func, or_, select

from ..accounts import follows as acc_follows
from ..accounts.marks import saved_and_upvoted
from ..config import Settings
from ..db import Database
from ..db.schema.catalog import feed_submissions, papers
from ..feed.ranking import trending
from ..search.backend import get_backend
from ..search.topics import topic_matches
from .periods import Period
from .subscriptions import Preferences

log = logging.getLogger(__name__)

SECTION_LIMITS = {"similar": 5, "following": 5, "topic": 5, "category": 5, "trending": 10}
MAX_PAPERS = 30
MAX_SEEDS = 20


@dataclass(frozen=True)
class Paper:
    """The fields of a paper a digest shows."""

    id: str
    title: str
    authors: list[str]
    abstract: str
    upvotes: int
    primary_category: str | None
    categories: tuple[str, ...]
    listed_on: date | None
    arxiv_url: str
    pdf_url: str | None


@dataclass
class Section:
    key: str
    title: str
    papers: list[Paper] = field(default_factory=list)


@dataclass
class DigestContent:
    """A composed digest: its sections, in order."""

    period: Period
    sections: list[Section]

    @property
    def paper_ids(self) -> list[str]:
        return [p.id for s in self.sections for p in s.papers]

    @property
    def count(self) -> int:
        return sum(len(s.papers) for s in self.sections)

    @property
    def empty(self) -> bool:
        return self.count == 0

    @property
    def cache_key(self) -> tuple:
        return tuple((s.key, tuple(p.id for p in s.papers)) for s in self.sections)

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": self.period.key,
            "window": [self.period.start.isoformat(), self.period.end.isoformat()],
            "count": self.count,
            "sections": [
                {
                    "key": s.key,
                    "title": s.title,
                    "papers": [
                        {"id": p.id, "title": p.title, "upvotes": p.upvotes} for p in s.papers
                    ],
                }
                for s in self.sections
            ],
        }


def _trending_rank(db: Database, window: tuple[date, date], items: list[Paper]) -> list[Paper]:
    """Order like the site's trending feed (:func:`paperwire.feed.ranking.trending`).

    The feed ranks the window as seen at its last moment; papers it does not
    return (beyond its page limit) follow by upvotes, then newest.
    """
    fallback = sorted(
        items, key=lambda p: (-p.upvotes, -(p.listed_on or date.min).toordinal(), p.id)
    )
    start, end = window
    at = datetime.combine(end, time(23, 59, 59), UTC)
    try:
        page = trending(db, at, window_days=(end - start).days, limit=200)
    except Exception:  # ranking is a nicety; never lose a digest over it
        log.warning("trending ranking failed; ordering by upvotes", exc_info=True)
        return fallback
    by_id = {p.id: p for p in items}
    first = [by_id[c.id] for c in page.items if c.id in by_id]
    chosen = {p.id for p in first}
    return first + [p for p in fallback if p.id not in chosen]


def _load_search(settings: Settings) -> Any | None:
    try:
        return get_backend(settings)
    except Exception:  # an unbuilt index must not stop the digests
        log.warning("search service unavailable; topics use keyword matching", exc_info=True)
        return None


def _hit_ids(result: Any) -> list[str]:
    hits = getattr(result, "hits", result) or []
    out = []
    for hit in hits:
        pid = getattr(hit, "id", None)
        if pid is None and isinstance(hit, dict):
            pid = hit.get("id")
        if pid is None and isinstance(hit, tuple | list):
            pid = hit[0]
        if pid is not None:
            out.append(str(pid))
    return out


_WORD = re.compile(r"\w+", re.UNICODE)


def _web_url(value: object) -> str | None:
    """``value`` if it is a plain http(s) URL: catalog links never become script links."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if value.lower().startswith(("https://", "http://")) and not any(
        ch in value for ch in "\x00\r\n\t<>\"' "
    ):
        return value
    return None


class Composer:
    """Composes digests for one run (or one preview), with per-run caches."""

    def __init__(
        self, db: Database, settings: Settings, *, search: Any | bool | None = True
    ) -> None:
        self.db = db
        self.settings = settings
        # Loaded on first use: a run whose subscribers want only trending and
        # categories never pays for the search service (and its model).
        self._search_loaded = search is not True
        self._search_obj: Any | None = None if search is True else (search or None)
        self._pools: dict[tuple[date, date], dict[str, Paper]] = {}
        self._ranked: dict[tuple, list[Paper]] = {}
        self._seeds: dict[int, list[str]] = {}
        self._neighbours: dict[str, list[str]] = {}
        self._texts: dict[str, str] = {}

    @property
    def _search(self) -> Any | None:
        if not self._search_loaded:
            self._search_loaded = True
            self._search_obj = _load_search(self.settings)
        return self._search_obj

    # -- shared, cached look-ups -------------------------------------------
    def pool(self, window: tuple[date, date]) -> dict[str, Paper]:
        """Papers listed in ``window``, trending order."""
        found = self._pools.get(window)
        if found is None:
            start, end = window
            fs = feed_submissions
            in_window = or_(papers.c.listed_on.between(start, end), fs.c.day.between(start, end))
            with self.db.connect() as conn:
                rows = conn.execute(
                    select(
                        papers.c.id,
                        papers.c.title,
                        papers.c.authors,
                        papers.c.abstract,
                        papers.c.upvotes,
                        papers.c.primary_category,
                        papers.c.categories,
                        func.coalesce(fs.c.day, papers.c.listed_on).label("listed_on"),
                        papers.c.links,
                    )
                    .select_from(papers.outerjoin(fs, fs.c.paper_id == papers.c.id))
                    .where(in_window)
                ).all()
            items = [
                Paper(
                    id=r.id,
                    title=r.title,
                    authors=list(r.authors or []),
                    abstract=r.abstract or "",
                    upvotes=r.upvotes or 0,
                    primary_category=r.primary_category,
                    categories=tuple(r.categories or ()),
                    listed_on=r.listed_on,
                    arxiv_url=_web_url((r.links or {}).get("abs"))
                    or f"https://arxiv.org/abs/{r.id}",
                    pdf_url=_web_url((r.links or {}).get("pdf")),
                )
                for r in rows
            ]
            found = {p.id: p for p in _trending_rank(self.db, window, items)}
            self._pools[window] = found
        return found

    def _cached(self, key: tuple, make: Callable[[], list[Paper]]) -> list[Paper]:
        found = self._ranked.get(key)
        if found is None:
            found = make()
            self._ranked[key] = found
        return found

    def trending(self, window: tuple[date, date]) -> list[Paper]:
        return list(self.pool(window).values())

    def category(self, window: tuple[date, date], category: str) -> list[Paper]:
        def make() -> list[Paper]:
            return [p for p in self.pool(window).values() if category in p.categories]

        return self._cached(("cat", window, category), make)

    def topic(self, window: tuple[date, date], topic: str) -> list[Paper]:
        def make() -> list[Paper]:
            pool = self.pool(window)
            if self._search is not None:
                try:
                    result = topic_matches(self._search, topic, since=window[0], until=window[1])
                    if result is not None:  # the site's relevance floor: maybe none
                        return [pool[i] for i in _hit_ids(result) if i in pool]
                    # An index that is not built yet answers nothing: match words instead.
                except Exception:
                    log.warning("search failed for a topic; using keyword matching", exc_info=True)
            words = [w.lower() for w in _WORD.findall(topic)]
            if not words:
                return []
            found = []
            for p in pool.values():
                text = self._texts.get(p.id)
                if text is None:
                    text = self._texts[p.id] = f"{p.title} {p.abstract}".lower()
                if all(w in text for w in words):
                    found.append(p)
            return found

        return self._cached(("topic", window, topic.lower()), make)

    def seeds(self, user_id: int) -> list[str]:
        """The account's upvoted and collected papers, newest first."""
        found = self._seeds.get(user_id)
        if found is None:
            found = _account_papers(self.db, user_id)[:MAX_SEEDS]
            self._seeds[user_id] = found
        return found

    def similar(self, window: tuple[date, date], user_id: int) -> list[Paper]:
        if self._search is None or not hasattr(self._search, "similar"):
            return []
        pool = self.pool(window)
        seeds = self.seeds(user_id)
        seen = set(seeds)
        scores: dict[str, int] = {}
        for seed in seeds:
            near = self._neighbours.get(seed)
            if near is None:
                try:
                    near = _hit_ids(self._search.similar(seed, limit=500))
                except Exception:
                    log.warning("similar-papers look-up failed", exc_info=True)
                    near = []
                self._neighbours[seed] = near
            for rank, pid in enumerate(near):
                if pid in pool and pid not in seen:
                    scores[pid] = min(scores.get(pid, rank), rank)
        return [pool[i] for i in sorted(scores, key=lambda i: (scores[i], i))]

    def following(self, window: tuple[date, date], user_id: int) -> list[Paper]:
        """The window's papers by the account's followed authors or in its categories."""
        followed = acc_follows.followed(self.db, user_id)
        if not followed:
            return []
        return [
            p
            for p in self.pool(window).values()
            if any(acc_follows.fold(a) in followed.authors for a in p.authors)
            or any(c.lower() in followed.categories for c in p.categories)
        ]

    # -- composing -----------------------------------------------------------
    def compose(self, prefs: Preferences, period: Period, user_id: int | None) -> DigestContent:
        """The digest ``prefs`` get for ``period`` (possibly empty)."""
        window = period.window
        if not self.pool(window):
            return DigestContent(period, [])
        candidates: list[tuple[str, str, str, list[Paper]]] = []
        if prefs.similar_to_upvotes and user_id is not None:
            candidates.append(
                (
                    "similar",
                    "similar",
                    "Similar to papers you upvoted or saved",
                    self.similar(window, user_id),
                )
            )
        if prefs.following and user_id is not None:
            candidates.append(
                (
                    "following",
                    "following",
                    "From people and categories you follow",
                    self.following(window, user_id),
                )
            )
        for topic in prefs.topics:
            candidates.append(
                (f"topic:{topic}", "topic", f"Matching “{topic}”", self.topic(window, topic))
            )
        for cat in prefs.categories:
            candidates.append(
                (f"category:{cat}", "category", f"New in {cat}", self.category(window, cat))
            )
        if prefs.trending:
            candidates.append(("trending", "trending", "Trending", self.trending(window)))
        used: set[str] = set()
        sections: list[Section] = []
        budget = MAX_PAPERS
        for key, kind, title, ranked in candidates:
            limit = min(SECTION_LIMITS[kind], budget)
            chosen: list[Paper] = []
            for paper in ranked:
                if len(chosen) >= limit:
                    break
                if paper.id not in used:
                    chosen.append(paper)
                    used.add(paper.id)
            if chosen:
                sections.append(Section(key, title, chosen))
                budget -= len(chosen)
            if budget <= 0:
                break
        return DigestContent(period, sections)


def _account_papers(db: Database, user_id: int) -> list[str]:
    """Upvoted and collected paper ids, newest first (arXiv ids grow with time)."""
    return sorted({pid for pid, _, _ in saved_and_upvoted(db, user_id)}, reverse=True)
