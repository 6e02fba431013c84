"""The Kaggle ``arxiv-metadata-oai-snapshot`` JSON-lines format (about 2.7M papers).

Each line has ``id``, ``authors`` (one string), ``authors_parsed`` (``[last,
first, suffix]`` triples), ``title``, ``comments``, ``journal-ref``, ``doi``,
``categories`` (space separated, primary first), ``license``, ``abstract``,
``versions`` (``[{"version": "v1", "created": RFC 2822 date}]``) and ``update_date``.
"""

from __future__ import annotations

import contextlib
import re
from datetime import date
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import BinaryIO

from pylatexenc.latex2text import LatexNodes2Text

from ..catalog.record import PaperRecord
from .base import RecordError, SourceStream, parse_day, require_id, require_text
from .files import iter_json_lines

FORMAT = "kaggle"
_latex = LatexNodes2Text()


def _name(text: str) -> str:
    """Author names carry TeX accents (``Bal\\'azs``); render them as Unicode."""
    if "\\" in text or "{" in text:
        with contextlib.suppress(Exception):
            text = _latex.latex_to_text(text)
    return " ".join(text.split())


def _authors(obj: dict) -> list[str]:
    parsed = obj.get("authors_parsed")
    if isinstance(parsed, list) and parsed:
        names = []
        for parts in parsed:
            if not isinstance(parts, list):
                raise RecordError("authors_parsed must hold lists")
            last, first, suffix = ([*list(parts), "", "", ""])[:3]
            names.append(_name(" ".join(p for p in (first, last, suffix) if p)))
        return [n for n in names if n]
    raw = obj.get("authors") or ""
    if not isinstance(raw, str):
        raise RecordError("authors must be a string")
    return [_name(a) for a in re.split(r",\s*|\s+and\s+", raw) if a.strip()]


def _versions(obj: dict) -> list[tuple[int, date | None]]:
    out = []
    for v in obj.get("versions") or []:
        if not isinstance(v, dict):
            raise RecordError("versions must hold objects")
        try:
            number = int(str(v.get("version", "")).lstrip("v"))
        except ValueError as exc:
            raise RecordError(f"bad version {v.get('version')!r}") from exc
        created = v.get("created")
        try:
            when = parsedate_to_datetime(created).date() if created else None
        except (TypeError, ValueError) as exc:
            raise RecordError(f"bad version date {created!r}") from exc
        out.append((number, when))
    return sorted(out)


def parse_object(obj: dict) -> PaperRecord:
    ident, version = require_id(obj.get("id"))
    versions = _versions(obj)
    categories = obj.get("categories") or ""
    if not isinstance(categories, str):
        raise RecordError("categories must be a space-separated string")
    submitted = versions[0][1] if versions else None
    return PaperRecord(
        id=ident,
        version=versions[-1][0] if versions else version,
        title=require_text(obj, "title"),
        abstract=obj.get("abstract") or "",
        authors=_authors(obj),
        categories=categories.split(),
        submitted=submitted,
        updated=(versions[-1][1] if versions else None)
        or parse_day(obj.get("update_date"), "update_date"),
        listed_on=submitted,
        comment=obj.get("comments"),
        journal_ref=obj.get("journal-ref"),
        doi=obj.get("doi"),
        license=obj.get("license"),
        versions=versions,
    )


def read(path: Path, stream: BinaryIO | None = None) -> SourceStream:
    return iter_json_lines(path, parse_object, stream)
