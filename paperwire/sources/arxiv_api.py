"""The arXiv API (``export.arxiv.org/api/query``): Atom feeds of papers.

Used two ways: an incremental sync of some categories over a window of
submission days (``paperwire sync arxiv``), and :func:`fetch_paper` for one id
(the web's "submit a paper by arXiv id").

arXiv asks API clients for at most one request every three seconds and to back
off when it answers 503; :class:`PoliteClient` does both for every arXiv
service (the OAI-PMH harvester uses it too).  The API sometimes answers a page
in the middle of a result with no entries; that page is asked again.

Like every source this module yields records and never touches storage: the
pages carry the position after them, and :mod:`paperwire.catalog.sync` writes
each page and then remembers that position.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from xml.etree.ElementTree import Element

import httpx
from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from .. import __version__
from ..catalog.ids import is_arxiv_category
from ..catalog.record import PaperRecord, default_links
from ..config import Settings
from .base import (
    Problem,
    RecordError,
    SourceError,
    SourceItem,
    SourceUnavailable,
    SyncPage,
    parse_day,
    require_id,
)

NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "opensearch": "http://a9.com/-/spec/opensearch/1.1/",
    "arxiv": "http://arxiv.org/schemas/atom",
}
USER_AGENT = f"Paperwire/{__version__} (self-hosted paper discovery)"
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 600.0  # seconds; a longer Retry-After is treated as "unavailable now"
PAGE_SIZE = 100
EMPTY_PAGE_RETRIES = 3


# -- HTTP ------------------------------------------------------------------------------------


def _retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


class PoliteClient:
    """GET with arXiv's manners: requests spaced by ``settings.arxiv_delay``, retries
    with exponential backoff on 429/5xx, timeouts and connection errors, and
    Retry-After honoured.  Every attempt counts as a request for the spacing.

    Raises :class:`SourceUnavailable` when offline or when retries run out, and
    :class:`SourceError` for answers that retrying cannot fix (other 4xx).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        attempts: int = 5,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.delay = max(0.0, float(settings.arxiv_delay))
        self.attempts = max(1, attempts)
        self.sleep = sleep
        self.clock = clock
        self.log = log or (lambda msg: print(msg, file=sys.stderr))
        self.requests = 0
        self._last: float | None = None
        self._http = httpx.Client(
            timeout=timeout, headers={"User-Agent": USER_AGENT}, follow_redirects=True
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PoliteClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _wait_turn(self, at_least: float = 0.0) -> None:
        """Sleep until ``delay`` (and ``at_least``) seconds have passed since the last request."""
        if self._last is not None:
            remaining = max(self.delay, at_least) - (self.clock() - self._last)
            if remaining > 0:
                self.sleep(remaining)
        elif at_least > 0:
            self.sleep(at_least)
        self._last = self.clock()

    def get(self, url: str, params: dict[str, Any] | None = None, *, what: str) -> httpx.Response:
        """The 200 response to ``GET url?params``; ``what`` names the service in errors."""
        if self.settings.offline:
            raise SourceUnavailable(
                f"{what}: not contacted, Paperwire is offline (PAPERWIRE_OFFLINE)"
            )
        wait = 0.0
        problem = ""
        for attempt in range(1, self.attempts + 1):
            self._wait_turn(wait)
            self.requests += 1
            try:
                response = self._http.get(url, params=params)
            except httpx.TimeoutException:
                problem = "timed out"
            except httpx.TransportError as exc:
                problem = f"cannot connect ({_reason(exc)})"
            else:
                if response.status_code == 200 and not _throttled(response):
                    return response
                if (
                    response.status_code == 200
                    or response.status_code in RETRY_STATUSES
                    or (response.status_code >= 500)
                ):
                    problem = f"HTTP {response.status_code}"
                    after = _retry_after(response.headers.get("Retry-After"))
                    if after is not None and after > MAX_RETRY_AFTER:
                        raise SourceUnavailable(
                            f"{what} asks to retry after {after:.0f}s; try again later"
                        )
                    if attempt < self.attempts:
                        backoff = self.delay * 2 ** (attempt - 1)
                        wait = max(after or 0.0, backoff)
                        self.log(f"{what}: {problem}, retrying in {wait:.1f}s")
                    continue
                raise SourceError(
                    f"{what} refused the request: HTTP {response.status_code}"
                    f"{_error_detail(response)}"
                )
            if attempt < self.attempts:
                wait = self.delay * 2 ** (attempt - 1)
                self.log(f"{what}: {problem}, retrying in {wait:.1f}s")
        raise SourceUnavailable(f"{what} at {url} is unavailable ({problem}); try again later")


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if "refused" in text.lower():
        return "connection refused"
    return text.splitlines()[0][:200]


def _throttled(response: httpx.Response) -> bool:
    """arXiv signals throttling with a bare text body ``Rate exceeded.`` (not a feed)."""
    return response.content[:64].lstrip().lower().startswith(b"rate exceeded")


def _error_detail(response: httpx.Response) -> str:
    """The API's error message from an error feed, if the body is one."""
    try:
        root = ElementTree.fromstring(response.content)
    except Exception:  # any unparsable body simply has no detail
        return ""
    summary = root.find("atom:entry/atom:summary", NS)
    if summary is not None and summary.text:
        return f" ({' '.join(summary.text.split())})"
    return ""


# -- Atom parsing ----------------------------------------------------------------------------


@dataclass
class FeedPage:
    """One parsed API response."""

    items: list[SourceItem]
    total: int
    start: int
    entries: int  # entries on the page, records and problems alike


def _text(parent: Element, path: str) -> str | None:
    node = parent.find(path, NS)
    if node is None or node.text is None:
        return None
    return node.text.strip() or None


def _is_error_entry(entry: Element) -> bool:
    ident = _text(entry, "atom:id") or ""
    return "/api/errors" in ident


def parse_entry(entry: Element) -> PaperRecord:
    """One Atom ``<entry>`` as a record (RecordError when it cannot be one)."""
    ident, version = require_id(_text(entry, "atom:id"))
    title = _text(entry, "atom:title")
    if not title:
        raise RecordError(f"{ident}: missing title")
    primary = entry.find("arxiv:primary_category", NS)
    terms = [primary.get("term", "")] if primary is not None else []
    terms += [c.get("term", "") for c in entry.findall("atom:category", NS)]
    categories = [t.strip() for t in terms if is_arxiv_category(t.strip())]
    authors = [
        name
        for a in entry.findall("atom:author", NS)
        if (name := " ".join((_text(a, "atom:name") or "").split()))
    ]
    published = parse_day(_text(entry, "atom:published"), "published")
    updated = parse_day(_text(entry, "atom:updated"), "updated") or published
    doi = _text(entry, "arxiv:doi")
    links = default_links(ident)
    for link in entry.findall("atom:link", NS):
        if link.get("title") == "doi" and link.get("href"):
            links["doi"] = re.sub(
                r"^https?://(?:dx\.)?doi\.org/", "https://doi.org/", link.get("href", "")
            )
    if doi and "doi" not in links:
        links["doi"] = f"https://doi.org/{doi}"
    versions: list[tuple[int, date | None]] = []
    if version:
        versions = [(1, published)] if version > 1 else []
        versions.append((version, updated))
    return PaperRecord(
        id=ident,
        version=version,
        title=title,
        abstract=_text(entry, "atom:summary") or "",
        authors=authors,
        categories=categories,
        submitted=published,
        updated=updated,
        # The API does not say when a paper was announced; the day of v1 is the
        # closest it knows (the same choice as the Kaggle snapshot).
        listed_on=published,
        comment=_text(entry, "arxiv:comment"),
        journal_ref=_text(entry, "arxiv:journal_ref"),
        doi=doi,
        links=links,
        versions=versions,
    )


def parse_feed(content: bytes, where: str) -> FeedPage:
    """Parse one API response; SourceError for an error feed or a body that is not one."""
    try:
        root = ElementTree.fromstring(content)
    except (ElementTree.ParseError, DefusedXmlException) as exc:
        raise SourceError(
            f"{where}: the arXiv API sent a response that is not XML ({exc})"
        ) from exc
    if root.tag != f"{{{NS['atom']}}}feed":
        raise SourceError(f"{where}: the arXiv API sent {root.tag!r}, not an Atom feed")
    entries = root.findall("atom:entry", NS)
    if len(entries) == 1 and _is_error_entry(entries[0]):
        message = _text(entries[0], "atom:summary") or "unknown error"
        raise SourceError(f"arXiv API error: {' '.join(message.split())}")

    def number(path: str, default: int) -> int:
        raw = _text(root, path)
        try:
            return int(raw) if raw is not None else default
        except ValueError as exc:
            raise SourceError(f"{where}: bad {path} {raw!r}") from exc

    items: list[SourceItem] = []
    for index, entry in enumerate(entries):
        try:
            items.append(parse_entry(entry).normalise())
        except RecordError as exc:
            items.append(Problem(f"{where} entry {index}", str(exc)))
    return FeedPage(
        items=items,
        total=number("opensearch:totalResults", len(entries)),
        start=number("opensearch:startIndex", 0),
        entries=len(entries),
    )


# -- incremental sync ------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiQuery:
    """Papers in any of ``categories`` submitted between ``since`` and ``until`` (inclusive)."""

    categories: tuple[str, ...]
    since: date
    until: date

    def __post_init__(self) -> None:
        if not self.categories:
            raise ValueError("give at least one category")
        for cat in self.categories:
            if not is_arxiv_category(cat):
                raise ValueError(f"not an arXiv category: {cat!r} (e.g. cs.LG, hep-th)")
        if self.until < self.since:
            raise ValueError(f"the window ends ({self.until}) before it starts ({self.since})")

    @property
    def search_query(self) -> str:
        cats = " OR ".join(f"cat:{c}" for c in self.categories)
        window = f"submittedDate:[{self.since:%Y%m%d}0000 TO {self.until:%Y%m%d}2359]"
        return f"({cats}) AND {window}"

    @property
    def state_key(self) -> str:
        """The ``sync_state`` key: the same query always resumes the same position."""
        cats = ",".join(sorted(set(self.categories)))
        return f"arxiv-api:{cats}:{self.since.isoformat()}:{self.until.isoformat()}"


def is_finished(state: dict | None, query: ApiQuery, today: date) -> bool:
    """A window that was read to its end and lies wholly in the past has nothing new."""
    return bool(state and state.get("done")) and query.until < today


def sync_pages(
    client: PoliteClient,
    query: ApiQuery,
    state: dict | None = None,
    *,
    page_size: int = PAGE_SIZE,
    max_records: int | None = None,
) -> Iterator[SyncPage]:
    """Pages of ``query`` from the position in ``state`` (the start when None).

    Each page's ``state`` is the position after it; ``done`` is set once the
    result is read to its end.  ``max_records`` stops early (state not done).
    """
    url = client.settings.arxiv_api_url
    start = int((state or {}).get("start", 0))
    fetched = 0
    empty_tries = 0
    while max_records is None or fetched < max_records:
        size = page_size if max_records is None else min(page_size, max_records - fetched)
        params = {
            "search_query": query.search_query,
            "sortBy": "submittedDate",
            "sortOrder": "ascending",
            "start": start,
            "max_results": size,
        }
        response = client.get(url, params, what="arXiv API")
        page = parse_feed(response.content, f"{url}?start={start}")
        if page.entries == 0 and start < page.total:
            # A known API hiccup: an empty page inside the result.  Ask again.
            empty_tries += 1
            if empty_tries > EMPTY_PAGE_RETRIES:
                raise SourceError(
                    f"arXiv API returned empty pages at {start} of {page.total} results "
                    f"{empty_tries} times; run the sync again later to resume there"
                )
            client.log(f"arXiv API: empty page at {start} of {page.total}, asking again")
            continue
        empty_tries = 0
        start += page.entries
        fetched += page.entries
        done = start >= page.total
        yield SyncPage(
            items=page.items,
            state={"start": start, "total": page.total, "done": done},
            total=page.total,
        )
        if done:
            return


# -- one paper -------------------------------------------------------------------------------


def fetch_paper(settings: Settings, arxiv_id: str) -> PaperRecord | None:
    """The latest version of one paper, or None when arXiv does not know the id.

    Raises :class:`SourceUnavailable` when offline or arXiv cannot be reached
    (few retries: a person is waiting), ValueError for text that is no arXiv id.
    """
    ident, _version = require_id(arxiv_id)
    with PoliteClient(settings, attempts=2, timeout=15.0, log=lambda _msg: None) as client:
        try:
            response = client.get(
                settings.arxiv_api_url,
                {"id_list": ident, "max_results": 1},
                what="arXiv API",
            )
        except SourceError as exc:
            if "incorrect id" in str(exc) or "malformed" in str(exc):
                return None
            raise
    try:
        page = parse_feed(response.content, settings.arxiv_api_url)
    except SourceError as exc:
        if "incorrect id" in str(exc) or "malformed" in str(exc):
            return None
        raise
    records = [r for r in page.items if isinstance(r, PaperRecord) and r.id == ident]
    return records[0] if records else None


def now_day() -> date:
    """Today in UTC (arXiv's submission dates are UTC)."""
    return datetime.now(UTC).date()


__all__: Sequence[str] = (
    "ApiQuery",
    "FeedPage",
    "PoliteClient",
    "fetch_paper",
    "is_finished",
    "parse_entry",
    "parse_feed",
    "sync_pages",
)
