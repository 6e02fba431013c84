"""Hugging Face Daily Papers, live: ``GET {PAPERWIRE_HF_API_URL}/api/daily_papers?date=``.

The response is a JSON array of items in the shape :mod:`paperwire.sources.hf_daily`
reads from files (that module parses the paper itself).  Beyond the paper this
keeps what only Daily Papers knows and the catalog has no column for: the
submitter (name, full name, avatar URL), the thumbnail, the GitHub stars and
the comment count.  They become ``hf_listings`` rows (see
:func:`paperwire.catalog.store.upsert_records`).

Requests go through :class:`~paperwire.sources.arxiv_api.PoliteClient` (spacing,
retries with backoff, Retry-After), spaced by ``PAPERWIRE_HF_DELAY`` seconds.
Like every source this module never touches storage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urljoin

from ..catalog.record import FeedSubmission, PaperRecord
from ..config import Settings
from .arxiv_api import PoliteClient
from .base import Problem, RecordError, SourceError
from .hf_daily import parse_item

PAGE_LIMIT = 100  # items per request; a day rarely has more than a few dozen
MAX_PAGES = 10
WHAT = "Hugging Face"


class HfClient(PoliteClient):
    """A :class:`PoliteClient` spaced by ``settings.hf_delay`` instead of arXiv's delay."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        self.delay = max(0.0, float(settings.hf_delay))


@dataclass
class Listing:
    """One Daily Papers item: the paper and its ``hf_listings`` row."""

    record: PaperRecord
    details: dict[str, Any]


def _clip(value: Any, size: int = 255) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return " ".join(value.split())[:size]


def _url(value: Any, base: str) -> str | None:
    """An absolute http(s) URL (HF gives some avatars as ``/avatars/...``), else None."""
    if not isinstance(value, str) or not value.strip():
        return None
    url = urljoin(base.rstrip("/") + "/", value.strip())
    if not url.lower().startswith(("https://", "http://")) or len(url) > 2000:
        return None
    return url


def _count(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RecordError(f"{field} must be a non-negative integer")
    return value


def parse_listing(item: Any, day: date, base_url: str) -> Listing:
    """One response item, on the feed of ``day`` (the day asked for); RecordError if unusable."""
    if not isinstance(item, dict):
        raise RecordError("expected a JSON object")
    record = parse_item(item).normalise()
    paper = item["paper"] if isinstance(item.get("paper"), dict) else item
    user = paper.get("submittedOnDailyBy") or item.get("submittedBy")
    user = user if isinstance(user, dict) else {}
    submitter = record.feed_submission.submitter if record.feed_submission else None
    record.listed_on = day  # the first day known is kept by the catalog
    record.feed_submission = FeedSubmission(day=day, submitter=submitter, source="hf")
    repo = paper.get("githubRepo")
    details = {
        "paper_id": record.id,
        "day": day,
        "submitter_name": _clip(user.get("name") or user.get("user")),
        "submitter_fullname": _clip(user.get("fullname")),
        "submitter_avatar_url": _url(user.get("avatarUrl"), base_url),
        "thumbnail_url": _url(item.get("thumbnail"), base_url),
        "github_repo": _url(repo, base_url) if isinstance(repo, str) and repo.strip() else None,
        "github_stars": _count(paper.get("githubStars"), "githubStars"),
        "num_comments": _count(item.get("numComments"), "numComments"),
    }
    return Listing(record, details)


def daily_papers_url(settings: Settings) -> str:
    return settings.hf_api_url.rstrip("/") + "/api/daily_papers"


def fetch_day(client: PoliteClient, day: date) -> list[Listing | Problem]:
    """Every item listed on ``day``, page by page (``limit``/``p``), parsed.

    Raises :class:`~paperwire.sources.base.SourceUnavailable` when the service
    cannot be reached and :class:`SourceError` when it answers something else
    than a JSON array.
    """
    settings = client.settings
    url = daily_papers_url(settings)
    items: list[Listing | Problem] = []
    seen: set[str] = set()
    for page in range(MAX_PAGES):
        params = {"date": day.isoformat(), "limit": PAGE_LIMIT}
        if page:
            params["p"] = page
        response = client.get(url, params, what=WHAT)
        try:
            data = json.loads(response.content)
        except ValueError as exc:
            raise SourceError(f"{WHAT} sent a response that is not JSON for {day}") from exc
        if not isinstance(data, list):
            raise SourceError(f"{WHAT} sent {type(data).__name__}, not a list, for {day}")
        fresh = 0
        for index, raw in enumerate(data):
            where = f"{url}?date={day.isoformat()} item {page * PAGE_LIMIT + index}"
            try:
                listing = parse_listing(raw, day, settings.hf_api_url)
            except RecordError as exc:
                items.append(Problem(where, str(exc)))
                continue
            if listing.record.id in seen:
                continue
            seen.add(listing.record.id)
            items.append(listing)
            fresh += 1
        if len(data) < PAGE_LIMIT or not fresh:
            break
    return items


__all__ = ["HfClient", "Listing", "daily_papers_url", "fetch_day", "parse_listing"]
