"""Submitting a paper to today's feed by arXiv id or URL.

A paper already in the catalog gets a ``feed_submissions`` row (source
``'local'``) for ``today``.  An unknown paper is first fetched from the arXiv
API and upserted; when Paperwire is offline or arXiv cannot be reached the
submission is refused with a message saying so, and nothing is written.  A
paper can be on the feed of one day only (``feed_submissions`` is keyed by
paper), so a second submission is answered with where it already is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from ..catalog.ids import parse_arxiv_id
from ..catalog.record import PaperRecord
from ..catalog.store import upsert_records
from ..config import Settings
from ..db import Database
from ..db.schema.catalog import feed_submissions, papers
from .clock import as_utc
from .users import User

Fetcher = Callable[[Settings, str], PaperRecord | None]

ADDED = "added"
DUPLICATE = "duplicate"
INVALID = "invalid"
NOT_FOUND = "not_found"
UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class SubmissionResult:
    """What happened to a submission; ``message`` is meant for the submitter.

    ``fetched`` is true when the paper was new to the catalog (so derived data,
    e.g. search indexes, should be refreshed for ``paper_id``).
    """

    status: str
    message: str
    paper_id: str | None = None
    day: date | None = None
    fetched: bool = False

    @property
    def ok(self) -> bool:
        return self.status == ADDED


def _default_fetch(settings: Settings, arxiv_id: str) -> PaperRecord | None:
    from ..sources.arxiv_api import fetch_paper

    return fetch_paper(settings, arxiv_id)


def _existing_day(db: Database, paper_id: str) -> date | None:
    with db.connect() as conn:
        return conn.execute(
            select(feed_submissions.c.day).where(feed_submissions.c.paper_id == paper_id)
        ).scalar_one_or_none()


def _in_catalog(db: Database, paper_id: str) -> bool:
    with db.connect() as conn:
        return conn.execute(select(papers.c.id).where(papers.c.id == paper_id)).first() is not None


def _duplicate(paper_id: str, day: date, today: date) -> SubmissionResult:
    when = "today's feed" if day == today else f"the feed of {day.isoformat()}"
    return SubmissionResult(
        DUPLICATE, f"arXiv:{paper_id} is already on {when}.", paper_id=paper_id, day=day
    )


def submit(
    db: Database,
    settings: Settings,
    user: User,
    text: str,
    *,
    today: date,
    now: datetime,
    fetch: Fetcher | None = None,
) -> SubmissionResult:
    """Put the paper named by ``text`` (an arXiv id or URL) on the feed of ``today``.

    ``fetch`` (default: the arXiv API's ``fetch_paper``) is called only for
    papers the catalog does not have; it blocks, so call this off the event loop.
    """
    parsed = parse_arxiv_id(text or "")
    if parsed is None:
        return SubmissionResult(
            INVALID,
            "That is not an arXiv id or URL. Enter e.g. 2401.12345 or "
            "https://arxiv.org/abs/2401.12345.",
        )
    paper_id = parsed[0]
    day = _existing_day(db, paper_id)
    if day is not None:
        return _duplicate(paper_id, day, today)
    fetched = False
    if not _in_catalog(db, paper_id):
        from ..sources.base import SourceError, SourceUnavailable

        if settings.offline:
            return SubmissionResult(
                UNAVAILABLE,
                f"arXiv:{paper_id} is not in this catalog yet, and this Paperwire is offline, "
                "so it cannot be fetched from arXiv. Try again when it is online.",
                paper_id=paper_id,
            )
        try:
            record = (fetch or _default_fetch)(settings, paper_id)
        except SourceUnavailable:
            return SubmissionResult(
                UNAVAILABLE,
                f"arXiv:{paper_id} is not in this catalog yet, and arXiv cannot be reached "
                "right now, so it cannot be fetched. Try again later.",
                paper_id=paper_id,
            )
        except SourceError:
            return SubmissionResult(
                UNAVAILABLE,
                f"arXiv answered with an error for arXiv:{paper_id}. Try again later.",
                paper_id=paper_id,
            )
        if record is None or record.id != paper_id:
            return SubmissionResult(
                NOT_FOUND, f"arXiv has no paper with the id {paper_id}.", paper_id=paper_id
            )
        upsert_records(db, [record])
        fetched = True
    try:
        with db.begin() as conn:
            conn.execute(
                insert(feed_submissions).values(
                    paper_id=paper_id,
                    day=today,
                    user_id=user.id,
                    submitter=user.display_name or None,
                    source="local",
                    created_at=as_utc(now),
                )
            )
    except IntegrityError:
        day = _existing_day(db, paper_id)
        if day is None:  # the paper vanished meanwhile; should not happen
            raise
        return _duplicate(paper_id, day, today)
    return SubmissionResult(
        ADDED,
        f"arXiv:{paper_id} is on the feed of {today.isoformat()}.",
        paper_id=paper_id,
        day=today,
        fetched=fetched,
    )
