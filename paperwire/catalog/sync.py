"""Resumable syncs from live sources: write each page, then remember the position.

A live source (:mod:`paperwire.sources.arxiv_api`, :mod:`paperwire.sources.oai_pmh`)
yields :class:`~paperwire.sources.base.SyncPage` s.  Each page is upserted in its
own transaction and only then is its position stored in ``sync_state``, so a
crash or ``kill`` loses at most the page in flight, and a re-run continues with
the next page (re-writing a page is harmless: upserts are idempotent).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select

from ..db import Database
from ..db.schema.catalog import sync_state
from ..sources.base import Problem, SyncPage
from .record import PaperRecord
from .store import UpsertStats, upsert_records


def load_state(db: Database, key: str) -> dict[str, Any] | None:
    """The stored position of the sync named ``key``, or None if it never ran."""
    with db.connect() as conn:
        row = conn.execute(select(sync_state.c.state).where(sync_state.c.key == key)).first()
    return dict(row[0]) if row else None


def save_state(db: Database, key: str, state: dict[str, Any]) -> None:
    with db.begin() as conn:
        db.upsert(
            conn,
            sync_state,
            [{"key": key, "state": state, "updated_at": datetime.now(UTC)}],
            key=["key"],
            update=["state", "updated_at"],
        )


def clear_state(db: Database, key: str) -> None:
    with db.begin() as conn:
        conn.execute(delete(sync_state).where(sync_state.c.key == key))


@dataclass
class SyncReport:
    """Totals of one sync run."""

    key: str
    records: int = 0
    pages: int = 0
    stats: UpsertStats = field(default_factory=UpsertStats)
    problems: list[Problem] = field(default_factory=list)
    changed_ids: list[str] = field(default_factory=list)
    total: int | None = None
    complete: bool = False
    seconds: float = 0.0

    @property
    def skipped(self) -> int:
        return len(self.problems)

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "records": self.records,
            "inserted": self.stats.inserted,
            "updated": self.stats.updated,
            "unchanged": self.stats.unchanged,
            "skipped": self.skipped,
            "pages": self.pages,
            "total": self.total,
            "complete": self.complete,
            "seconds": round(self.seconds, 3),
        }


def _print_problem(problem: Problem) -> None:
    print(f"skipped {problem}", file=sys.stderr)


def run_sync(
    db: Database,
    key: str,
    pages: Iterable[SyncPage],
    report: SyncReport,
    *,
    on_page: Callable[[SyncPage, SyncReport], None] | None = None,
    on_problem: Callable[[Problem], None] = _print_problem,
) -> None:
    """Write every page into ``db`` and store its position under ``key``.

    Exceptions from the source propagate after the pages before it are saved;
    ``report`` then tells what was written.
    """
    started = time.perf_counter()
    try:
        for page in pages:
            records: list[PaperRecord] = []
            for item in page.items:
                if isinstance(item, Problem):
                    report.problems.append(item)
                    on_problem(item)
                else:
                    records.append(item)
            stats = upsert_records(db, records)
            report.stats.add(stats)
            report.changed_ids.extend(stats.changed_ids or [])
            save_state(db, key, page.state)
            report.records += len(records)
            report.pages += 1
            report.total = page.total if page.total is not None else report.total
            report.complete = bool(page.state.get("done"))
            if on_page:
                on_page(page, report)
    finally:
        report.seconds += time.perf_counter() - started
