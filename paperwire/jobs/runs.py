"""Recorded job runs: one ``job_runs`` row per run, written at its start and at its end.

The rows are what ``paperwire jobs status``, ``/healthz`` and the site footer
read.  A run that never ended (its process was killed) is still ``running``;
whoever next holds the job's lock knows nobody else is running it and marks it
``interrupted`` (:func:`mark_interrupted`).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, insert, select, update

from ..db import Database
from ..db.schema.jobs import job_runs

RUNNING, OK, FAILED, SKIPPED, INTERRUPTED = "running", "ok", "failed", "skipped", "interrupted"
FAILURES = (FAILED, INTERRUPTED)
MAX_ERROR = 4000  # characters of an error message kept
HISTORY_DEPTH = 50  # runs read to count a failure streak


def utc(value: datetime | None) -> datetime | None:
    """``value`` as aware UTC (SQLite hands back naive datetimes)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def runner_id() -> str:
    """Which process ran a job: ``host:pid`` (several instances may share one database)."""
    return f"{socket.gethostname()[:200]}:{os.getpid()}"


@dataclass
class Run:
    id: int
    job: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, Any]
    error: str | None
    runner: str

    @property
    def seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return max(0.0, (self.finished_at - self.started_at).total_seconds())

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "seconds": None if self.seconds is None else round(self.seconds, 3),
            "counts": self.counts,
            "error": self.error,
            "runner": self.runner,
        }


@dataclass
class History:
    """What the recent runs of one job say."""

    job: str
    last: Run | None = None  # the latest run, whatever its status
    last_finished: Run | None = None  # the latest run that is not ``skipped`` or running
    last_success: Run | None = None
    failures: int = 0  # consecutive failed or interrupted runs, newest first
    failing_since: datetime | None = None  # start of the oldest run of that streak
    recent: list[Run] = field(default_factory=list)


def _run(row: Any) -> Run:
    m = row._mapping
    return Run(
        id=m["id"],
        job=m["job"],
        status=m["status"],
        started_at=utc(m["started_at"]),  # type: ignore[arg-type]
        finished_at=utc(m["finished_at"]),
        counts=dict(m["counts"] or {}),
        error=m["error"],
        runner=m["runner"],
    )


def start(db: Database, job: str, now: datetime, *, status: str = RUNNING) -> int:
    """Record that ``job`` starts now; returns the run's id."""
    with db.begin() as conn:
        result = conn.execute(
            insert(job_runs)
            .values(
                job=job, status=status, started_at=now, counts={}, error=None, runner=runner_id()
            )
            .returning(job_runs.c.id)
        )
        return int(result.scalar_one())


def finish(
    db: Database,
    run_id: int,
    status: str,
    now: datetime,
    counts: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    """Record how run ``run_id`` ended."""
    with db.begin() as conn:
        conn.execute(
            update(job_runs)
            .where(job_runs.c.id == run_id)
            .values(
                status=status,
                finished_at=now,
                counts=counts or {},
                error=error[:MAX_ERROR] if error else None,
            )
        )


def record_skip(db: Database, job: str, now: datetime, reason: str) -> int:
    """A run that did nothing on purpose (offline, switched off), with the reason."""
    run_id = start(db, job, now, status=SKIPPED)
    finish(db, run_id, SKIPPED, now, {}, reason)
    return run_id


def mark_interrupted(db: Database, job: str, now: datetime) -> int:
    """Mark ``job``'s runs still ``running`` as interrupted.  Call only holding its lock."""
    with db.begin() as conn:
        result = conn.execute(
            update(job_runs)
            .where(and_(job_runs.c.job == job, job_runs.c.status == RUNNING))
            .values(
                status=INTERRUPTED,
                finished_at=now,
                error="the run was interrupted (its process stopped before it finished)",
            )
        )
        return int(result.rowcount or 0)


def history(db: Database, job: str, *, depth: int = HISTORY_DEPTH) -> History:
    """The latest runs of ``job``, its last success and its current failure streak."""
    with db.connect() as conn:
        recent = [
            _run(r)
            for r in conn.execute(
                select(job_runs)
                .where(job_runs.c.job == job)
                .order_by(job_runs.c.id.desc())
                .limit(depth)
            )
        ]
        success = conn.execute(
            select(job_runs)
            .where(and_(job_runs.c.job == job, job_runs.c.status == OK))
            .order_by(job_runs.c.id.desc())
            .limit(1)
        ).first()
    hist = History(job=job, recent=recent, last_success=_run(success) if success else None)
    hist.last = recent[0] if recent else None
    streak_open = True
    for run in recent:
        if run.status in (RUNNING, SKIPPED):
            continue
        if hist.last_finished is None:
            hist.last_finished = run
        if streak_open and run.status in FAILURES:
            hist.failures += 1
            hist.failing_since = run.started_at
        else:
            streak_open = False
    return hist


def histories(db: Database, jobs: Sequence[str]) -> dict[str, History]:
    return {job: history(db, job) for job in jobs}


def prune(db: Database, job: str, before: datetime) -> int:
    """Forget ``job``'s runs that started before ``before``, except its latest success."""
    hist = history(db, job, depth=1)
    keep = hist.last_success.id if hist.last_success else -1
    with db.begin() as conn:
        result = conn.execute(
            delete(job_runs).where(
                and_(
                    job_runs.c.job == job,
                    job_runs.c.started_at < before,
                    job_runs.c.id != keep,
                    job_runs.c.status != RUNNING,
                )
            )
        )
        return int(result.rowcount or 0)


def last_success_of(db: Database, jobs: Sequence[str]) -> datetime | None:
    """When the latest successful run among ``jobs`` ended (the catalog's freshness)."""
    with db.connect() as conn:
        value = conn.execute(
            select(job_runs.c.finished_at)
            .where(and_(job_runs.c.job.in_(list(jobs)), job_runs.c.status == OK))
            .order_by(job_runs.c.id.desc())
            .limit(1)
        ).scalar()
    return utc(value)
