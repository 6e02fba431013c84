"""Routes: RSS 2.0 (``/rss.xml``) and Atom (``/atom.xml``) feeds.

Default: the latest day's papers, ranked.  ``?q=QUERY``: the papers relevant
to a search from the last ``QUERY_WINDOW_DAYS`` days of the catalog, newest
first (subscribe to a topic; a topic with nothing relevant gives an empty
feed).  ``?view=trending``: trending papers.
Rendered by :mod:`paperwire.web.syndication` (shared with the private feeds), built with
:mod:`xml.etree.ElementTree`, so every text is escaped by the
serializer; characters XML 1.0 forbids are dropped first.  RSS readers take an
item's ``<description>`` as HTML, so the abstract is HTML-escaped before the
serializer escapes it again: a ``<script>`` in an abstract reaches the reader as
the text "<script>".  (Atom says ``type="text"``, so its summary is escaped once.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ... import feed
from .. import searching
from ..syndication import FeedContent, atom, rss, xml_text
from ..templating import public_base
from .common import trending_page_data

__all__ = ["FeedContent", "atom", "router", "rss", "xml_text"]

router = APIRouter(include_in_schema=False)

ITEMS = 50
QUERY_WINDOW_DAYS = 30
FEED_CACHE_CONTROL = "public, max-age=300"


def _content(request: Request, q: str, view: str | None) -> FeedContent:
    db = request.app.state.db
    if q:
        # The relevant papers of a recent window, newest first: a feed of
        # everything that ever matched would repeat old papers forever.
        latest = feed.latest_day(db)
        since = latest - timedelta(days=QUERY_WINDOW_DAYS) if latest else None
        outcome = searching.search(
            request.app.state.settings, db, q, since=since, sort="newest", limit=ITEMS, offset=0
        )
        return FeedContent(
            title=f"Paperwire: “{q}”",
            description=(
                f"Papers relevant to “{q}” from the {QUERY_WINDOW_DAYS} days up to the "
                "catalog's latest day, newest first."
            ),
            page_path="/search?"
            + urlencode({"q": q, "sort": "newest", "since": since.isoformat() if since else ""}),
            cards=outcome.cards,
        )
    if view == "trending":
        result, _ = trending_page_data(db, datetime.now(UTC), ITEMS, 0)
        return FeedContent(
            title="Paperwire: trending papers",
            description="Papers of the last week, ranked by time-decayed upvotes.",
            page_path="/trending",
            cards=result.items,
        )
    latest = feed.latest_day(db)
    cards = feed.day_feed(db, latest, limit=ITEMS).items if latest else []
    when = f", {latest:%-d %B %Y}" if latest else ""
    return FeedContent(
        title=f"Paperwire: daily papers{when}",
        description="The latest day's papers, ranked by upvotes.",
        page_path=f"/day/{latest}" if latest else "/",
        cards=cards,
    )


async def _serve(request: Request, kind: str, q: str, view: str | None) -> Response:
    body = await request.app.state.page_cache.shared(
        ("feed", str(request.url)), lambda: run_in_threadpool(_build, request, kind, q, view)
    )
    media = "application/rss+xml" if kind == "rss" else "application/atom+xml"
    return Response(
        body,
        media_type=f"{media}; charset=utf-8",
        headers={"Cache-Control": FEED_CACHE_CONTROL},
    )


def _build(request: Request, kind: str, q: str, view: str | None) -> bytes:
    query = " ".join(q.split())[:500]
    base = public_base(request)
    params = {k: v for k, v in (("q", query), ("view", view)) if v}
    self_url = f"{base}/{kind}.xml" + (f"?{urlencode(params)}" if params else "")
    content = _content(request, query, view)
    return rss(content, base, self_url) if kind == "rss" else atom(content, base, self_url)


QueryParam = Annotated[str, Query(max_length=2000, description="a search query")]
ViewParam = Annotated[str | None, Query(pattern="^(trending|daily)$")]


@router.get("/rss.xml")
async def rss_feed(request: Request, q: QueryParam = "", view: ViewParam = None) -> Response:
    """RSS 2.0: the latest day, a search (``q``) or trending (``view=trending``)."""
    return await _serve(request, "rss", q, view)


@router.get("/atom.xml")
async def atom_feed(request: Request, q: QueryParam = "", view: ViewParam = None) -> Response:
    """Atom 1.0: the latest day, a search (``q``) or trending (``view=trending``)."""
    return await _serve(request, "atom", q, view)
