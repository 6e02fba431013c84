"""RSS 2.0 and Atom 1.0 documents from a list of paper cards (public and private feeds).

Built with :mod:`xml.etree.ElementTree`, so every text is escaped by the
serializer; characters XML 1.0 forbids are dropped first.  RSS readers take an
item's ``<description>`` as HTML, so the abstract is HTML-escaped before the
serializer escapes it again.  (Atom says ``type="text"``, so its summary is
escaped once.)
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import format_datetime
from typing import Any
from xml.etree import ElementTree as ET

from .. import __version__
from ..feed import PaperCard

ATOM_NS = "http://www.w3.org/2005/Atom"
DC_NS = "http://purl.org/dc/elements/1.1/"
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
