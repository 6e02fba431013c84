"""Routes: RSS 2.0 (``/rss.xml``) and Atom (``/atom.xml``) feeds.

Default: the latest day's papers, ranked.  ``?q=QUERY``: the papers relevant
to a search from the last ``QUERY_WINDOW_DAYS`` days of the catalog, newest
first (subscribe to a topic; a topic with nothing relevant gives an empty
feed).  ``?view=trending``: trending papers.
Built with :mod:`xml.etree.ElementTree`, so every text is escaped by the
serializer; characters XML 1.0 forbids are dropped first.  RSS readers take an
item's ``<description>`` as HTML, so the abstract is HTML-escaped before the
serializer escapes it again: a ``<script>`` in an abstract reaches the reader as
the text "<script>".  (Atom says ``type="text"``, so its summary is escaped once.)
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from typing import Annotated, Any
from urllib.parse import urlencode
from xml.etree import ElementTree as ET

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ... import __version__, feed
from ...feed import PaperCard
from .. import searching
from ..templating import public_base
from .common import trending_page_data

router = APIRouter(include_in_schema=False)

ATOM_NS = "http://www.w3.org/2005/Atom"
DC_NS = "http://purl.org/dc/elements/1.1/"
ITEMS = 50
QUERY_WINDOW_DAYS = 30
FEED_CACHE_CONTROL = "public, max-age=300"
_INVALID_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

ET.register_namespace("atom", ATOM_NS)
ET.register_namespace("dc", DC_NS)


def xml_text(value: Any) -> str:
    """``value`` as text that is legal in XML 1.0."""
    return _INVALID_XML.sub("", str(value or ""))


@dataclass
class FeedContent:
    """What both formats show: a title, the page it mirrors, and the papers."""

    title: str
    description: str
    page_path: str
    cards: list[PaperCard]


def _day_time(day: date | None) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) if day else datetime.now(UTC)


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


def _sub(parent: ET.Element, tag: str, text: Any = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, {k: xml_text(v) for k, v in attrs.items()})
    if text is not None:
        el.text = xml_text(text)
    return el


def _paper_url(base: str, card: PaperCard) -> str:
    return f"{base}/papers/{card.id}"


def rss(content: FeedContent, base: str, self_url: str) -> bytes:
    """An RSS 2.0 document."""
    root = ET.Element("rss", {"version": "2.0"})
    channel = _sub(root, "channel")
    _sub(channel, "title", content.title)
    _sub(channel, "link", base + content.page_path)
    _sub(channel, "description", content.description)
    _sub(channel, "language", "en")
    _sub(channel, "generator", f"Paperwire {__version__}")
    _sub(channel, "lastBuildDate", format_datetime(_latest(content.cards)))
    _sub(channel, f"{{{ATOM_NS}}}link", href=self_url, rel="self", type="application/rss+xml")
    for card in content.cards:
        item = _sub(channel, "item")
        url = _paper_url(base, card)
        _sub(item, "title", card.title)
        _sub(item, "link", url)
        _sub(item, "guid", url, isPermaLink="true")
        _sub(item, "description", html.escape(xml_text(card.abstract), quote=False))
        _sub(item, "pubDate", format_datetime(_day_time(card.day)))
        if card.authors:
            _sub(item, f"{{{DC_NS}}}creator", ", ".join(card.authors))
        for category in card.categories:
            _sub(item, "category", category)
        _sub(item, "comments", url)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _latest(cards: Iterable[PaperCard]) -> datetime:
    days = [c.day for c in cards if c.day]
    return _day_time(max(days) if days else None)


def atom(content: FeedContent, base: str, self_url: str) -> bytes:
    """An Atom 1.0 document (the default namespace is declared on the root element)."""
    root = ET.Element("feed", {"xmlns": ATOM_NS})
    _sub(root, "title", content.title)
    _sub(root, "subtitle", content.description)
    _sub(root, "id", self_url)
    _sub(root, "updated", _latest(content.cards).isoformat())
    _sub(root, "link", rel="self", type="application/atom+xml", href=self_url)
    _sub(root, "link", rel="alternate", type="text/html", href=base + content.page_path)
    _sub(root, "generator", "Paperwire", version=__version__)
    for card in content.cards:
        entry = _sub(root, "entry")
        url = _paper_url(base, card)
        _sub(entry, "title", card.title, type="text")
        _sub(entry, "id", url)
        _sub(entry, "link", rel="alternate", type="text/html", href=url)
        _sub(entry, "link", rel="related", type="application/pdf", href=card.pdf_url)
        _sub(entry, "updated", _day_time(card.day).isoformat())
        if card.submitted:
            _sub(entry, "published", _day_time(card.submitted).isoformat())
        for name in card.authors or ["Unknown"]:
            _sub(_sub(entry, "author"), "name", name)
        for category in card.categories:
            _sub(entry, "category", term=category)
        _sub(entry, "summary", card.abstract, type="text")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


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
