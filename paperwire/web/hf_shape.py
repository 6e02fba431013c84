"""Papers in the Hugging Face ``/api/daily_papers`` shape, so existing clients work as is.

The models here document the shape in OpenAPI; responses are built as plain
dicts by :func:`daily_item` / :func:`hf_paper` (fast, and exactly these keys).
Paperwire keeps no thumbnails or AI summaries: those fields are empty or left
out, as Hugging Face leaves out its optional ones.  ``numComments`` counts this
site's own discussion (not Hugging Face's, whose comments are not shown here).
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..catalog.codelinks import http_url, http_urls
from ..feed import PaperCard


class HFAuthor(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    id: str = Field(alias="_id", description="stable id of this author entry")
    name: str
    hidden: bool = False


class HFUser(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    id: str = Field(alias="_id")
    name: str = Field(description="user name ('' when not known)")
    fullname: str
    avatarUrl: str
    type: str = "user"


class HFPaper(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    id: str = Field(description="arXiv id without version", examples=["2401.10241"])
    authors: list[HFAuthor]
    publishedAt: str = Field(description="v1 submission time, ISO 8601 (UTC)")
    title: str
    summary: str
    upvotes: int
    discussionId: str
    githubRepo: str | None = None
    projectPage: str | None = None
    submittedOnDailyAt: str | None = None
    submittedOnDailyBy: HFUser | None = None


class HFDailyItem(BaseModel):
    paper: HFPaper
    publishedAt: str = Field(description="when the paper was put on the feed, ISO 8601 (UTC)")
    title: str
    summary: str
    thumbnail: str
    numComments: int
    submittedBy: HFUser
    isAuthorParticipating: bool


def timestamp(day: date | None) -> str | None:
    """``2024-04-05T00:00:00.000Z`` (the precision Hugging Face uses)."""
    return f"{day.isoformat()}T00:00:00.000Z" if day else None


def _oid(*parts: str) -> str:
    """A stable 24-hex id, shaped like the MongoDB ObjectIds clients expect."""
    return hashlib.blake2b(":".join(parts).encode(), digest_size=12).hexdigest()


def _user(name: str | None) -> dict[str, Any]:
    name = name or ""
    return {
        "_id": _oid("user", name) if name else "",
        "name": name,
        "fullname": name,
        "avatarUrl": "",
        "type": "user",
    }


def web_links(links: Any) -> list[str]:
    """The ``http(s)`` URLs among ``links``: nothing else (``javascript:``…) leaves the API."""
    return http_urls(links or ())


def hf_paper(card: PaperCard) -> dict[str, Any]:
    """The ``paper`` object of a daily_papers item."""
    paper: dict[str, Any] = {
        "id": card.id,
        "authors": [
            {"_id": _oid(card.id, str(i)), "name": name, "hidden": False}
            for i, name in enumerate(card.authors)
        ],
        "publishedAt": timestamp(card.submitted or card.listed_on or card.day) or "",
        "title": card.title,
        "summary": card.abstract,
        "upvotes": card.upvotes,
        "discussionId": card.id,
    }
    # Only web links leave the API, whatever the catalog holds (older imports).
    repo = next(iter(web_links(card.code_links)), None)
    if repo:
        paper["githubRepo"] = repo
    page = http_url(card.project_page)
    if page:
        paper["projectPage"] = page
    if card.feed_day:
        paper["submittedOnDailyAt"] = timestamp(card.feed_day)
        if card.submitter:
            paper["submittedOnDailyBy"] = _user(card.submitter)
    return paper


def daily_item(card: PaperCard) -> dict[str, Any]:
    """One item of ``GET /api/daily_papers``."""
    return {
        "paper": hf_paper(card),
        "publishedAt": timestamp(card.day) or "",
        "title": card.title,
        "summary": card.abstract,
        "thumbnail": "",
        "numComments": card.comments,  # this site's discussion (see docs/web.md)
        "submittedBy": _user(card.submitter),
        "isAuthorParticipating": False,
    }
