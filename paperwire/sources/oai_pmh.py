"""Bulk harvest over OAI-PMH 2.0 (``ListRecords``) from arXiv's OAI endpoint.

Two metadata formats are understood:

- ``arXiv``: authors split into keyname / forenames / suffix, categories,
  licence, the first (``created``) and latest (``updated``) version dates, but
  no version numbers;
- ``arXivRaw``: the version history (``<version version="v2"><date>`` in RFC
  2822), so records carry the latest version number and a newer version
  replaces older metadata in the catalog.  Prefer it for keeping a copy fresh.

A harvested paper is listed on the day arXiv announced it: the header
``datestamp`` of the record's first appearance (arXiv writes a new paper's
record the night it is announced), not its submission date.  A record that is a
later version, or whose datestamp is far from its first version's date (a
metadata fix years later), is not a first appearance: it gets the first
version's date, the closest day known, and the catalog keeps whatever day it
already had (see :mod:`paperwire.catalog.store`).

The resumption token of each page is the resumable position: stored after the
page is written, a re-run continues with the next page.  arXiv's tokens expire
(daily); on ``badResumptionToken`` the harvest starts again from the window's
start, which is harmless because writes are upserts.  Deleted records are
skipped.  The HTTP side (spacing, retries, Retry-After) is
:class:`~paperwire.sources.arxiv_api.PoliteClient`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from email.utils import parsedate_to_datetime
from xml.etree.ElementTree import Element

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException
from pylatexenc.latex2text import LatexNodes2Text

from ..catalog.record import PaperRecord
from .arxiv_api import PoliteClient
from .base import (
    Problem,
    RecordError,
    SourceError,
    SourceItem,
    SyncPage,
    parse_day,
    require_id,
)

OAI = "http://www.openarchives.org/OAI/2.0/"
FORMATS = {
    "arXiv": "http://arxiv.org/OAI/arXiv/",
    "arXivRaw": "http://arxiv.org/OAI/arXivRaw/",
}
_latex = LatexNodes2Text()
# arXiv announces a paper within a few working days of its submission; a first
# version whose datestamp lies further out was touched again after that.
ANNOUNCE_WINDOW = timedelta(days=7)


class BadResumptionToken(SourceError):
    """The server no longer accepts the stored token (expired or from another server)."""


# -- parsing ---------------------------------------------------------------------------------


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def _text(parent: Element, ns: str, tag: str) -> str | None:
    node = parent.find(_q(ns, tag))
    if node is None or node.text is None:
        return None
    return " ".join(node.text.split()) if tag != "abstract" else (node.text.strip() or None)


def _tex(text: str) -> str:
    """Author names carry TeX accents (``G\\"odel``); render them as Unicode."""
    if "\\" in text or "{" in text:
        with contextlib.suppress(Exception):
            text = _latex.latex_to_text(text)
    return " ".join(text.split())


def _raw_authors(raw: str) -> list[str]:
    """``A. One (MIT), B. Two and C. Three`` -> names, affiliations dropped."""
    text = raw
    while True:  # innermost parentheses first, so nested affiliations go too
        stripped = re.sub(r"\([^()]*\)", " ", text)
        if stripped == text:
            break
        text = stripped
    parts = re.split(r",\s*(?:and\s+)?|\s+and\s+", text)
    return [name for p in parts if (name := _tex(p))]


def _version_date(raw: str | None) -> date | None:
    if not raw:
        return None
    try:
        return parsedate_to_datetime(raw).date()
    except (TypeError, ValueError):
        return parse_day(raw, "version date")


def parse_arxiv(meta: Element) -> PaperRecord:
    """An ``arXiv``-format ``<arXiv>`` element as a record."""
    ns = FORMATS["arXiv"]
    ident, version = require_id(_text(meta, ns, "id"))
    title = _text(meta, ns, "title")
    if not title:
        raise RecordError(f"{ident}: missing title")
    authors = []
    for author in meta.findall(f"{_q(ns, 'authors')}/{_q(ns, 'author')}"):
        parts = [_text(author, ns, t) for t in ("forenames", "keyname", "suffix")]
        name = _tex(" ".join(p for p in parts if p))
        if name:
            authors.append(name)
    created = parse_day(_text(meta, ns, "created"), "created")
    updated = parse_day(_text(meta, ns, "updated"), "updated")
    return PaperRecord(
        id=ident,
        version=version,
        title=title,
        abstract=_text(meta, ns, "abstract") or "",
        authors=authors,
        categories=(_text(meta, ns, "categories") or "").split(),
        submitted=created,
        updated=updated or created,
        listed_on=created,
        comment=_text(meta, ns, "comments"),
        journal_ref=_text(meta, ns, "journal-ref"),
        doi=_text(meta, ns, "doi"),
        license=_text(meta, ns, "license"),
    )


def parse_arxiv_raw(meta: Element) -> PaperRecord:
    """An ``arXivRaw``-format ``<arXivRaw>`` element as a record, with its versions."""
    ns = FORMATS["arXivRaw"]
    ident, _ = require_id(_text(meta, ns, "id"))
    title = _text(meta, ns, "title")
    if not title:
        raise RecordError(f"{ident}: missing title")
    versions: list[tuple[int, date | None]] = []
    for node in meta.findall(_q(ns, "version")):
        label = (node.get("version") or "").strip()
        if not re.fullmatch(r"v\d+", label):
            raise RecordError(f"{ident}: bad version {label!r}")
        try:
            when = _version_date(_text(node, ns, "date"))
        except RecordError as exc:
            raise RecordError(f"{ident}: {exc}") from exc
        versions.append((int(label[1:]), when))
    versions.sort()
    return PaperRecord(
        id=ident,
        version=versions[-1][0] if versions else None,
        title=title,
        abstract=_text(meta, ns, "abstract") or "",
        authors=_raw_authors(_text(meta, ns, "authors") or ""),
        categories=(_text(meta, ns, "categories") or "").split(),
        submitted=versions[0][1] if versions else None,
        updated=versions[-1][1] if versions else None,
        listed_on=versions[0][1] if versions else None,
        comment=_text(meta, ns, "comments"),
        journal_ref=_text(meta, ns, "journal-ref"),
        doi=_text(meta, ns, "doi"),
        license=_text(meta, ns, "license"),
        versions=versions,
    )


PARSERS = {"arXiv": parse_arxiv, "arXivRaw": parse_arxiv_raw}


def announcement_day(record: PaperRecord, datestamp: date | None) -> date | None:
    """The day ``record`` was announced, given its header datestamp (see the module doc)."""
    if datestamp is None:
        return record.listed_on
    if record.versions:
        first_version = len(record.versions) == 1
    else:  # the arXiv format has no version list: only v1 has no separate update date
        first_version = record.updated in (None, record.submitted)
    if not first_version:
        return record.listed_on
    first = record.submitted
    if first is None or first <= datestamp <= first + ANNOUNCE_WINDOW:
        return datestamp
    return record.listed_on


def _datestamp(header: Element | None) -> date | None:
    raw = _text(header, OAI, "datestamp") if header is not None else None
    try:
        return parse_day(raw, "datestamp")
    except RecordError:
        return None


@dataclass
class ListRecordsPage:
    """One parsed ``ListRecords`` response."""

    items: list[SourceItem]
    token: str | None  # None on the last page
    deleted: int
    complete_size: int | None
    response_date: str | None
    no_records: bool = False
    last_datestamp: date | None = None  # the latest header datestamp on the page


def parse_list_records(content: bytes, prefix: str, where: str) -> ListRecordsPage:
    """Parse a ``ListRecords`` response in ``prefix`` format.

    ``noRecordsMatch`` is an empty last page; ``badResumptionToken`` raises
    :class:`BadResumptionToken`; any other OAI error raises :class:`SourceError`.
    """
    try:
        root = ElementTree.fromstring(content)
    except (ElementTree.ParseError, DefusedXmlException) as exc:
        raise SourceError(f"{where}: the OAI-PMH server sent a response that is not XML") from exc
    if root.tag != _q(OAI, "OAI-PMH"):
        raise SourceError(f"{where}: not an OAI-PMH response (root {root.tag!r})")
    response_date = _text(root, OAI, "responseDate")
    for error in root.findall(_q(OAI, "error")):
        code = error.get("code", "")
        message = " ".join((error.text or "").split())
        if code == "noRecordsMatch":
            return ListRecordsPage([], None, 0, 0, response_date, no_records=True)
        if code == "badResumptionToken":
            raise BadResumptionToken(f"OAI-PMH: bad resumption token ({message or code})")
        raise SourceError(f"OAI-PMH error {code}: {message}".rstrip(": "))
    listing = root.find(_q(OAI, "ListRecords"))
    if listing is None:
        raise SourceError(f"{where}: OAI-PMH response has no ListRecords")
    ns = FORMATS[prefix]
    parse = PARSERS[prefix]
    items: list[SourceItem] = []
    deleted = 0
    last: date | None = None
    for index, record in enumerate(listing.findall(_q(OAI, "record"))):
        header = record.find(_q(OAI, "header"))
        identifier = (header is not None and _text(header, OAI, "identifier")) or f"#{index}"
        stamp = _datestamp(header)
        if stamp is not None and (last is None or stamp > last):
            last = stamp
        if header is not None and header.get("status") == "deleted":
            deleted += 1
            continue
        meta = record.find(f"{_q(OAI, 'metadata')}/{_q(ns, prefix)}")
        if meta is None:
            items.append(Problem(f"{where} {identifier}", f"no {prefix} metadata"))
            continue
        try:
            parsed = parse(meta).normalise()
        except RecordError as exc:
            items.append(Problem(f"{where} {identifier}", str(exc)))
            continue
        parsed.listed_on = announcement_day(parsed, stamp)
        items.append(parsed)
    token_node = listing.find(_q(OAI, "resumptionToken"))
    token = None
    size = None
    if token_node is not None:
        token = (token_node.text or "").strip() or None
        with contextlib.suppress(TypeError, ValueError):
            size = int(token_node.get("completeListSize"))  # type: ignore[arg-type]
    return ListRecordsPage(items, token, deleted, size, response_date, last_datestamp=last)


# -- harvest ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Harvest:
    """A ``ListRecords`` request: format, optional set, optional datestamp window."""

    metadata_prefix: str = "arXiv"
    set_spec: str | None = None
    from_day: date | None = None
    until: date | None = None

    def __post_init__(self) -> None:
        if self.metadata_prefix not in FORMATS:
            raise ValueError(f"metadata prefix must be one of {', '.join(FORMATS)}")
        if self.from_day and self.until and self.until < self.from_day:
            raise ValueError(f"the window ends ({self.until}) before it starts ({self.from_day})")

    @property
    def state_key(self) -> str:
        """The ``sync_state`` key: the same harvest always resumes the same position."""
        return ":".join(
            (
                "oai-pmh",
                self.metadata_prefix,
                self.set_spec or "*",
                self.from_day.isoformat() if self.from_day else "",
                self.until.isoformat() if self.until else "",
            )
        )

    def first_params(self, from_day: date | None) -> dict[str, str]:
        params = {"verb": "ListRecords", "metadataPrefix": self.metadata_prefix}
        if self.set_spec:
            params["set"] = self.set_spec
        if from_day:
            params["from"] = from_day.isoformat()
        if self.until:
            params["until"] = self.until.isoformat()
        return params


def is_finished(state: dict | None, harvest: Harvest) -> bool:
    """A completed harvest with an ``until`` has nothing new; an open-ended one does."""
    return bool(state and state.get("done")) and harvest.until is not None


def harvest_pages(
    client: PoliteClient, harvest: Harvest, state: dict | None = None
) -> Iterator[SyncPage]:
    """Pages of ``harvest``, resuming from the token in ``state``.

    A completed open-ended harvest (no ``until``) starts again from the date of
    the server's first response last time, the incremental harvest that OAI-PMH
    recommends.  Each page's ``state`` holds the token for the next one.
    """
    url = client.settings.oai_pmh_url
    state = dict(state or {})
    from_day = harvest.from_day
    if state.get("done") and state.get("next_from"):
        from_day = date.fromisoformat(state["next_from"])
        state = {}
    elif state.get("from"):
        from_day = date.fromisoformat(state["from"])
    token: str | None = state.get("token")
    started_date: str | None = state.get("started")
    restarted = False
    while True:
        params = {"verb": "ListRecords", "resumptionToken": token} if token else None
        response = client.get(url, params or harvest.first_params(from_day), what="OAI-PMH")
        try:
            page = parse_list_records(response.content, harvest.metadata_prefix, url)
        except BadResumptionToken:
            if restarted or not token:
                raise
            client.log("OAI-PMH: the stored resumption token has expired; restarting the harvest")
            restarted = True
            token = None
            continue
        if not token:
            started_date = (page.response_date or "")[:10] or None
        token = page.token
        stamps = [s for s in (state.get("last_datestamp"), page.last_datestamp) if s]
        next_state = {
            "token": token,
            "from": from_day.isoformat() if from_day else None,
            "started": started_date,
            "done": token is None,
            "deleted": int(state.get("deleted", 0)) + page.deleted,
            "last_datestamp": max(str(s) for s in stamps) if stamps else None,
        }
        state = next_state
        if token is None:
            next_state["next_from"] = started_date
        yield SyncPage(items=page.items, state=next_state, total=page.complete_size)
        if token is None:
            return


__all__ = [
    "FORMATS",
    "BadResumptionToken",
    "Harvest",
    "ListRecordsPage",
    "announcement_day",
    "harvest_pages",
    "is_finished",
    "parse_arxiv",
    "parse_arxiv_raw",
    "parse_list_records",
]
