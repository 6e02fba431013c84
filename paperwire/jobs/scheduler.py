"""Running jobs when they are due: once (``paperwire jobs run``) or for ever (serve, worker).

A *pass* visits the jobs in order (arxiv, hf, embed, digests).  For each it
takes the job's named lock without waiting (``job:NAME``: an advisory lock on
PostgreSQL, ``flock`` beside SQLite), so one job never runs twice at once,
whichever process or machine tries; a job whose lock is held is left alone.
Holding the lock, it marks runs whose process died as interrupted, decides
whether the job is due, and records the run (start, end, status, counts,
error).

When is a job due (:func:`next_due`)?

- never run: now;
- last run ok or skipped: one interval (``PAPERWIRE_JOBS_INTERVAL``) after it started;
- last run failed: after a backoff that doubles with each consecutive failure,
  from one interval up to :data:`MAX_BACKOFF`; a run that was interrupted (its
  process was killed) is resumed at once the first time;
- a job listed ``after`` another is also due when that one changed papers in
  this pass (embed after a harvest, digests after both).

The loop (:class:`Scheduler`) first takes the ``jobs:scheduler`` lock, so with
``serve --workers 4`` on several machines exactly one process schedules; the
others retry that lock each interval, taking over if the holder dies.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..config import Settings
from ..db import Database
from ..db.locks import named_lock
from . import arxiv, digests, embed, hf, runs
from .base import Clock, Counts, Job, JobContext, Stopped, system_clock

log = logging.getLogger(__name__)

JOBS: tuple[Job, ...] = (arxiv.JOB, hf.JOB, embed.JOB, digests.JOB)
BY_NAME: dict[str, Job] = {job.name: job for job in JOBS}
MAX_BACKOFF = 6 * 3600.0  # seconds: a failing job is still retried four times a day
KEEP_RUNS = timedelta(days=30)
PRUNE_EVERY = 50  # runs between two prunings (a pass every 5 minutes writes ~1,000 runs a day)
SCHEDULER_LOCK = "jobs:scheduler"

# What a pass did with each job.
RAN, NOT_DUE, BUSY = "ran", "not-due", "busy"


def lock_name(job: str) -> str:
    return f"job:{job}"


def backoff(interval: float, failures: int) -> float:
    """Seconds before retrying after ``failures`` consecutive failures (doubling)."""
    if failures <= 0:
        return interval
    return min(interval * 2 ** (failures - 1), max(interval, MAX_BACKOFF))


def next_due(job: Job, settings: Settings, hist: runs.History) -> datetime | None:
    """When ``job`` is next due given its history (None: now, it never ran)."""
    last = hist.last
    if last is None:
        return None
    interval = job.interval(settings)
    if last.status == runs.RUNNING:
        return last.started_at + timedelta(seconds=interval)
    if last.status in runs.FAILURES:
        if last.status == runs.INTERRUPTED and hist.failures == 1:
            return last.finished_at or last.started_at
        base = last.finished_at or last.started_at
        return base + timedelta(seconds=backoff(interval, hist.failures))
    return last.started_at + timedelta(seconds=interval)


def is_due(job: Job, settings: Settings, hist: runs.History, now: datetime) -> bool:
    due = next_due(job, settings, hist)
    return due is None or due <= now


@dataclass
class Outcome:
    """What a pass did with one job."""

    job: str
    action: str  # ran, not-due, busy
    status: str | None = None  # the run's status when it ran
    counts: Counts = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        """Whether the run changed papers (a failed run may have, before it failed)."""
        return self.action == RAN and bool(self.counts.get("changed"))

    def as_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "action": self.action,
            "status": self.status,
            "counts": self.counts,
            "error": self.error,
            "seconds": round(self.seconds, 3),
        }


def _select(only: Sequence[str] | None) -> list[Job]:
    if not only:
        return list(JOBS)
    unknown = [name for name in only if name not in BY_NAME]
    if unknown:
        raise ValueError(f"unknown job {unknown[0]!r}; jobs: {', '.join(BY_NAME)}")
    return [job for job in JOBS if job.name in only]


def run_job(job: Job, ctx: JobContext, *, force: bool = False, triggered: bool = False) -> Outcome:
    """Run ``job`` if it is due (or ``force``d, or ``triggered`` by an earlier job)."""
    db, settings = ctx.db, ctx.settings
    with named_lock(db, lock_name(job.name)) as got:
        if not got:
            return Outcome(job.name, BUSY)
        now = ctx.now()
        runs.mark_interrupted(db, job.name, now)
        if not (force or triggered or is_due(job, settings, runs.history(db, job.name), now)):
            return Outcome(job.name, NOT_DUE)
        reason = job.skip_reason(settings)
        if reason:
            runs.record_skip(db, job.name, now, reason)
            return Outcome(job.name, RAN, runs.SKIPPED, error=reason)
        run_id = runs.start(db, job.name, now)
        started = ctx.now()
        ctx.counts = {}
        try:
            counts = job.run(ctx)
        except (Stopped, KeyboardInterrupt):
            stopped = "stopped by a shutdown"
            runs.finish(db, run_id, runs.INTERRUPTED, ctx.now(), ctx.counts, stopped)
            raise
        except Exception as exc:
            error = str(exc) or type(exc).__name__
            log.warning("job %s failed: %s", job.name, error)
            runs.finish(db, run_id, runs.FAILED, ctx.now(), ctx.counts, error)
            outcome = Outcome(job.name, RAN, runs.FAILED, dict(ctx.counts), error=error)
        else:
            runs.finish(db, run_id, runs.OK, ctx.now(), counts)
            outcome = Outcome(job.name, RAN, runs.OK, counts)
        outcome.seconds = (ctx.now() - started).total_seconds()
        if run_id % PRUNE_EVERY == 0:
            runs.prune(db, job.name, now - KEEP_RUNS)
        return outcome


def run_pass(
    settings: Settings,
    db: Database,
    *,
    clock: Clock = system_clock,
    only: Sequence[str] | None = None,
    force: bool = False,
    stop: threading.Event | None = None,
    log_line: Callable[[str], None] | None = None,
) -> list[Outcome]:
    """Run every selected job that is due, in order; returns what happened to each."""
    ctx = JobContext(
        settings, db, clock=clock, stop=stop or threading.Event(), log=log_line or log.info
    )
    outcomes: list[Outcome] = []
    changed: set[str] = set()
    for job in _select(only):
        ctx.check_stop()
        triggered = any(name in changed for name in job.after)
        outcome = run_job(job, ctx, force=force, triggered=triggered)
        outcomes.append(outcome)
        if outcome.changed:
            changed.add(job.name)
        if outcome.action == RAN and log_line is not None:
            log_line(describe(outcome))
    return outcomes


def describe(outcome: Outcome) -> str:
    """One line about a run, for logs and the CLI."""
    if outcome.action != RAN:
        return f"{outcome.job}: {outcome.action}"
    if outcome.status == runs.SKIPPED:
        return f"{outcome.job}: skipped ({outcome.error})"
    if outcome.status == runs.FAILED:
        return f"{outcome.job}: FAILED after {outcome.seconds:.1f}s: {outcome.error}"
    shown = ", ".join(
        f"{k} {v}"
        for k, v in outcome.counts.items()
        if isinstance(v, int) and not isinstance(v, bool) and v and k != "changed"
    )
    return f"{outcome.job}: ok in {outcome.seconds:.1f}s" + (f" ({shown})" if shown else "")


def seconds_to_next(settings: Settings, db: Database, now: datetime) -> float:
    """How long until the earliest job is due (at least a second, at most an interval)."""
    wait = settings.jobs_interval
    for job in JOBS:
        if job.skip_reason(settings):
            continue
        due = next_due(job, settings, runs.history(db, job.name, depth=runs.HISTORY_DEPTH))
        if due is None:
            return 1.0
        wait = min(wait, (due - now).total_seconds())
    return max(1.0, wait)


class Scheduler:
    """The loop of ``paperwire serve`` (a thread) and ``paperwire worker`` (the main thread).

    ``on_pass(outcomes)`` is called after every pass (the web app clears its
    page cache when a pass changed papers).
    """

    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        clock: Clock = system_clock,
        on_pass: Callable[[list[Outcome]], None] | None = None,
        log_line: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock
        self.on_pass = on_pass
        self.log_line = log_line or log.info
        self.stop_event = threading.Event()
        self.leading = threading.Event()
        self._thread: threading.Thread | None = None

    def run_forever(self) -> None:
        """Schedule until :meth:`stop`; only the holder of the scheduler lock runs passes."""
        told = False
        while not self.stop_event.is_set():
            with named_lock(self.db, SCHEDULER_LOCK) as leader:
                if leader:
                    self.leading.set()
                    try:
                        self._lead()
                    finally:
                        self.leading.clear()
                    return
            if not told:
                self.log_line("jobs: another process schedules them; standing by to take over")
                told = True
            self.stop_event.wait(self.settings.jobs_interval)

    def _lead(self) -> None:
        while not self.stop_event.is_set():
            try:
                outcomes = run_pass(
                    self.settings,
                    self.db,
                    clock=self.clock,
                    stop=self.stop_event,
                    log_line=self.log_line,
                )
                if self.on_pass is not None:
                    self.on_pass(outcomes)
                wait = seconds_to_next(self.settings, self.db, self.clock())
            except Stopped:
                return
            except Exception:  # the database went away, say: try again later, never die
                log.exception("job scheduler pass failed")
                wait = self.settings.jobs_interval
            self.stop_event.wait(wait)

    def start(self) -> Scheduler:
        """Run :meth:`run_forever` in a daemon thread."""
        self._thread = threading.Thread(target=self.run_forever, name="jobs", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout)


__all__ = [
    "BY_NAME",
    "JOBS",
    "Outcome",
    "Scheduler",
    "backoff",
    "describe",
    "is_due",
    "next_due",
    "run_job",
    "run_pass",
]
