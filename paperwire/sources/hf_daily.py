"""Hugging Face ``GET /api/daily_papers`` responses (a JSON array of items).

Keeps what only Daily Papers knows: upvotes, the submitter, the GitHub repo,
the project page and the day the paper was on the feed.  Items may also come
one per line (JSON-lines), as an archive of many responses would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, BinaryIO

from ..catalog.record import FeedSubmission, PaperRecord
from .base import Problem, RecordError, SourceStream, parse_day, require_id
from .files import iter_json_lines, open_binary

FORMAT = "hf-daily"


def _user_name(user: Any) -> str | None:
    if isinstance(user, dict):
        return user.get("name") or user.get("fullname") or user.get("user")
    return user if isinstance(user, str) else None


def parse_item(item: dict) -> PaperRecord:
    paper = item.get("paper") if isinstance(item.get("paper"), dict) else item
    ident, version = require_id(paper.get("id"))
    title = paper.get("title") or item.get("title")
    if not isinstance(title, str) or not title.strip():
        raise RecordError("missing title")
    authors = []
    for a in paper.get("authors") or []:
        name = a.get("name") if isinstance(a, dict) else a
        if isinstance(name, str) and name.strip():
            authors.append(name)
    day = parse_day(paper.get("submittedOnDailyAt") or item.get("publishedAt"), "publishedAt")
    upvotes = paper.get("upvotes")
    if upvotes is not None and (not isinstance(upvotes, int) or upvotes < 0):
        raise RecordError("upvotes must be a non-negative integer")
    repo = paper.get("githubRepo")
    submitter = _user_name(paper.get("submittedOnDailyBy")) or _user_name(item.get("submittedBy"))
    return PaperRecord(
        id=ident,
        version=version,
        title=title,
        abstract=paper.get("summary") or item.get("summary") or "",
        authors=authors,
        submitted=parse_day(paper.get("publishedAt"), "paper.publishedAt"),
        listed_on=day,
        code_links=[repo] if isinstance(repo, str) and repo.startswith("http") else [],
        project_page=paper.get("projectPage") or None,
        external_upvotes=upvotes,
        feed_submission=FeedSubmission(day=day, submitter=submitter, source="hf") if day else None,
    )


def read(path: Path, stream: BinaryIO | None = None) -> SourceStream:
    if stream is None:
        stream, _ = open_binary(path)
    first = stream.peek(64)[:64].lstrip() if hasattr(stream, "peek") else b""
    if first.startswith(b"{"):
        yield from iter_json_lines(path, parse_item, stream)
        return
    with stream:
        try:
            items = json.load(stream)
        except ValueError as exc:
            line = getattr(exc, "lineno", None)
            yield Problem(f"{path}:{line or 1}", f"invalid JSON ({exc})")
            return
    if not isinstance(items, list):
        yield Problem(f"{path}:1", "expected a JSON array of daily_papers items")
        return
    for index, item in enumerate(items):
        where = f"{path}: item {index}"
        if not isinstance(item, dict):
            yield Problem(where, "expected a JSON object")
            continue
        try:
            yield parse_item(item).normalise()
        except RecordError as exc:
            yield Problem(where, str(exc))
