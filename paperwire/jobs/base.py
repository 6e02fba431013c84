"""What every job is given and what it promises.

A job is a module with a :class:`Job`: a name, how often it is due, an optional
reason to skip (offline, switched off), and ``run(ctx)`` returning counts.  The
scheduler (:mod:`paperwire.jobs.scheduler`) wraps every run in the job's named
lock and a recorded run (:mod:`paperwire.jobs.runs`); a job only does its work,
resumably, and raises when it failed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from ..config import Settings
from ..db import Database

Clock = Callable[[], datetime]
Counts = dict[str, Any]


class Stopped(Exception):
    """The scheduler is shutting down; the job stops between two units of work."""


def system_clock() -> datetime:
    return datetime.now(UTC)


def clock_at(at: datetime) -> Clock:
    """A clock that reads ``at`` now and advances with real time (``--at`` on the CLI)."""
    start = time.monotonic()
    return lambda: at + timedelta(seconds=time.monotonic() - start)


@dataclass
class JobContext:
    """Everything a run may use: configuration, storage, the clock, a stop signal, a log."""

    settings: Settings
    db: Database
    clock: Clock = system_clock
    stop: threading.Event = field(default_factory=threading.Event)
    log: Callable[[str], None] = lambda _message: None
    # The running job's counts: a job may fill them as it goes, so that a run that
    # fails midway still records what it did (the scheduler empties them per run).
    counts: Counts = field(default_factory=dict)

    def now(self) -> datetime:
        return self.clock()

    def check_stop(self) -> None:
        """Raise :class:`Stopped` if the scheduler is shutting down."""
        if self.stop.is_set():
            raise Stopped()

    def sleep(self, seconds: float) -> None:
        """Sleep that a shutdown cuts short (for the HTTP clients' politeness delays)."""
        if self.stop.wait(max(0.0, seconds)):
            raise Stopped()


class Job(Protocol):
    """One kind of background work."""

    name: str
    summary: str
    # Jobs whose changes make this one due at once (embed after a harvest).
    after: tuple[str, ...]

    def interval(self, settings: Settings) -> float:
        """Seconds between two runs when the last one went well."""
        ...

    def skip_reason(self, settings: Settings) -> str | None:
        """Why this job must not run with ``settings`` (recorded as a skipped run)."""
        ...

    def run(self, ctx: JobContext) -> Counts:
        """Do the work; return counts (``changed`` > 0 wakes the jobs ``after`` it)."""
        ...
