"""What every source yields: normalised records, or problems naming where they are."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

from ..catalog.ids import parse_arxiv_id
from ..catalog.record import PaperRecord


@dataclass(frozen=True)
class Problem:
    """A record that could not be used; ``where`` is ``file:line`` or a URL."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


SourceItem = PaperRecord | Problem
SourceStream = Iterator[SourceItem]


class RecordError(ValueError):
    """Raised by a parser for one bad record; the caller turns it into a Problem."""


def require_id(raw: object) -> tuple[str, int | None]:
    """The (id, version) of an arXiv id field, or RecordError."""
    if not isinstance(raw, str) or not raw.strip():
        raise RecordError("missing arXiv id")
    parsed = parse_arxiv_id(raw)
    if parsed is None:
        raise RecordError(f"not an arXiv id: {raw!r}")
    return parsed


def parse_day(raw: object, field: str) -> date | None:
    """A ``YYYY-MM-DD`` or ISO-8601 timestamp as a date; None stays None."""
    if raw in (None, ""):
        return None
    if not isinstance(raw, str):
        raise RecordError(f"{field}: expected a date string, got {type(raw).__name__}")
    text = raw.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError as exc:
        raise RecordError(f"{field}: bad date {raw!r}") from exc


def require_text(obj: dict, key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RecordError(f"missing or empty {key!r}")
    return value


def string_list(obj: dict, key: str) -> list[str]:
    value = obj.get(key) or []
    if isinstance(value, str):
        return value.split()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RecordError(f"{key!r} must be a list of strings")
    return value


class SourceUnavailable(RuntimeError):
    """A live source cannot be reached: offline mode, network down, or it kept failing.

    Callers (the web's "submit by arXiv id", ``paperwire sync``) show the message
    as is and suggest trying later; nothing was half-written.
    """


class SourceError(RuntimeError):
    """A live source answered, but with an error or a response we cannot use."""


@dataclass
class SyncPage:
    """One page of a live source: its items and the resumable position *after* it.

    ``state`` is JSON-serialisable; storing it once the page is written lets a
    re-run continue with the next page.  ``total`` is the size of the whole
    result when the source says so.
    """

    items: list[SourceItem]
    state: dict
    total: int | None = None
