"""How fresh the catalog is: per-job status, the /healthz report, the footer's date.

Everything here reads the recorded runs (:mod:`paperwire.jobs.runs`); nothing
is kept in memory between calls except :class:`Freshness`'s short cache, which
keeps the footer to one small query a minute per process.
"""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import datetime
from typing import Any

from sqlalchemy import select, text

from .. import pipeline
from ..config import Settings
from ..db import Database
from ..db.schema.catalog import papers
from . import runs
from .scheduler import JOBS, next_due

INGESTION = ("arxiv", "hf")
PENDING_TTL = 15.0  # seconds a pending-embeddings count is reused (a scan of the catalog)
_pending: dict[str, tuple[float, int]] = {}
_pending_lock = threading.Lock()


def _pending_embeddings(settings: Settings, db: Database) -> int:
    """The pending count, shared for a few seconds: monitors may ask /healthz often."""
    with _pending_lock:
        cached = _pending.get(db.url)
        if cached is not None and time.monotonic() - cached[0] < PENDING_TTL:
            return cached[1]
    count = pipeline.pending_embeddings(settings, db)
    with _pending_lock:
        _pending[db.url] = (time.monotonic(), count)
    return count


def _age(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else round(max(0.0, (now - then).total_seconds()), 1)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def job_status(settings: Settings, db: Database, now: datetime) -> list[dict[str, Any]]:
    """Each job: last run and result, last success and its age, next due, how far behind."""
    out = []
    for job in JOBS:
        hist = runs.history(db, job.name)
        due = next_due(job, settings, hist)
        success = hist.last_success
        out.append(
            {
                "job": job.name,
                "summary": job.summary,
                "interval_seconds": job.interval(settings),
                "skip_reason": job.skip_reason(settings),
                "running": bool(hist.last and hist.last.status == runs.RUNNING),
                "last_run": hist.last.as_dict() if hist.last else None,
                "last_success": _iso(success.finished_at) if success else None,
                "last_success_age_seconds": _age(now, success.finished_at if success else None),
                "consecutive_failures": hist.failures,
                "failing_since": _iso(hist.failing_since) if hist.failures else None,
                "next_due": _iso(due) if due else _iso(now),
                "behind_seconds": None if due is None else (_age(now, due) if due < now else 0.0),
            }
        )
    return out


def health(settings: Settings, db: Database, now: datetime) -> tuple[int, dict[str, Any]]:
    """The /healthz answer: (HTTP status, JSON body).

    Not 200 when the database does not answer, or when a job has been failing
    for longer than ``PAPERWIRE_HEALTH_MAX_FAILING`` seconds.
    """
    try:
        with db.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means the same thing here
        return 503, {
            "status": "failing",
            "checked_at": now.isoformat(),
            "database": {"ok": False, "error": str(exc).splitlines()[0][:300]},
        }
    jobs: dict[str, Any] = {}
    failing: list[str] = []
    for job in JOBS:
        hist = runs.history(db, job.name)
        success = hist.last_success
        failing_for = _age(now, hist.failing_since) if hist.failures else None
        is_failing = failing_for is not None and failing_for > settings.health_max_failing
        if is_failing:
            failing.append(job.name)
        jobs[job.name] = {
            "last_status": hist.last.status if hist.last else None,
            "last_success": _iso(success.finished_at) if success else None,
            "last_success_age_seconds": _age(now, success.finished_at if success else None),
            "consecutive_failures": hist.failures,
            "failing_for_seconds": failing_for,
            "failing": is_failing,
            "error": hist.last_finished.error if hist.failures and hist.last_finished else None,
        }
    body = {
        "status": "failing" if failing else "ok",
        "checked_at": now.isoformat(),
        "database": {"ok": True},
        "jobs": jobs,
        "failing_jobs": failing,
        "embeddings": {"pending": _pending_embeddings(settings, db)},
        "max_failing_seconds": settings.health_max_failing,
    }
    return (503 if failing else 200), body


def catalog_updated(db: Database) -> datetime | None:
    """When the catalog was last brought up to date.

    The end of the latest successful harvest (arxiv or hf), since a harvest
    that found nothing new still means "fresh as of then"; without any, the
    time of the latest write to the catalog (an import).
    """
    when = runs.last_success_of(db, INGESTION)
    if when is not None:
        return when
    with db.connect() as conn:
        value = conn.execute(
            select(papers.c.modified_at).order_by(papers.c.seq.desc()).limit(1)
        ).scalar()
    return runs.utc(value)


class Freshness:
    """``catalog_updated`` for the site footer, asked at most once per ``ttl`` seconds."""

    def __init__(self, db: Database, ttl: float = 60.0) -> None:
        self.db = db
        self.ttl = ttl
        self._value: datetime | None = None
        self._at = float("-inf")
        self._lock = threading.Lock()

    def last_updated(self) -> datetime | None:
        with self._lock:
            if time.monotonic() - self._at >= self.ttl:
                with contextlib.suppress(Exception):  # the footer never breaks a page
                    self._value = catalog_updated(self.db)
                self._at = time.monotonic()
            return self._value

    def expire(self) -> None:
        """Ask again next time (after a pass that changed the catalog)."""
        with self._lock:
            self._at = float("-inf")
