"""Paperwire's own JSON-lines exchange format (that of the shared arXiv corpus).

One object per line.  Required: ``id`` (arXiv id, version optional), ``title``.
Usual: ``announced`` (YYYY-MM-DD listing day), ``authors`` (list), ``categories``
(list, primary first), ``comment``, ``abstract``.  Optional extensions:
``version``, ``submitted``, ``updated``, ``journal_ref``, ``doi``, ``license``,
``code_links`` (list), ``project_page``, ``upvotes``.  See docs/formats.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from ..catalog.record import PaperRecord
from .base import RecordError, SourceStream, parse_day, require_id, require_text, string_list
from .files import iter_json_lines

FORMAT = "paperwire-jsonl"


def parse_object(obj: dict) -> PaperRecord:
    ident, version = require_id(obj.get("id"))
    if obj.get("version") is not None:
        try:
            version = int(str(obj["version"]).lstrip("v"))
        except ValueError as exc:
            raise RecordError(f"bad version {obj['version']!r}") from exc
    upvotes = obj.get("upvotes")
    if upvotes is not None and (not isinstance(upvotes, int) or upvotes < 0):
        raise RecordError("upvotes must be a non-negative integer")
    abstract = obj.get("abstract") or ""
    if not isinstance(abstract, str):
        raise RecordError("abstract must be a string")
    return PaperRecord(
        id=ident,
        version=version,
        title=require_text(obj, "title"),
        abstract=abstract,
        authors=string_list(obj, "authors"),
        categories=string_list(obj, "categories"),
        listed_on=parse_day(obj.get("announced"), "announced"),
        submitted=parse_day(obj.get("submitted"), "submitted"),
        updated=parse_day(obj.get("updated"), "updated"),
        comment=obj.get("comment"),
        journal_ref=obj.get("journal_ref"),
        doi=obj.get("doi"),
        license=obj.get("license"),
        code_links=string_list(obj, "code_links"),
        project_page=obj.get("project_page"),
        external_upvotes=upvotes,
    )


def read(path: Path, stream: BinaryIO | None = None) -> SourceStream:
    return iter_json_lines(path, parse_object, stream)
