"""Import files into the catalog in batches: one transaction per batch.

A crash (even ``kill -9``) loses at most the batch in flight, and since every
write is an upsert by arXiv id, re-running the same import finishes the job
without duplicates.  Bad records are reported with file and line and skipped.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from ..db import Database
from ..sources import Problem, SourceStream, open_source
from .record import PaperRecord
from .store import UpsertStats, upsert_records

BATCH_SIZE = 2000


@dataclass
class ImportReport:
    """Totals of one import run."""

    records: int = 0
    stats: UpsertStats = field(default_factory=UpsertStats)
    problems: list[Problem] = field(default_factory=list)
    changed_ids: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def skipped(self) -> int:
        return len(self.problems)

    def as_dict(self) -> dict:
        return {
            "records": self.records,
            "inserted": self.stats.inserted,
            "updated": self.stats.updated,
            "unchanged": self.stats.unchanged,
            "skipped": self.skipped,
            "seconds": round(self.seconds, 3),
        }


MAX_PRINTED_PROBLEMS = 50


class ProblemPrinter:
    """Prints skipped records to stderr, the first ``limit`` of them in full."""

    def __init__(self, limit: int = MAX_PRINTED_PROBLEMS) -> None:
        self.limit = limit
        self.count = 0

    def __call__(self, problem: Problem) -> None:
        self.count += 1
        if self.count <= self.limit:
            print(f"skipped {problem}", file=sys.stderr)
        elif self.count == self.limit + 1:
            print("skipped: further problems not shown (see the count below)", file=sys.stderr)


def _print_problem(problem: Problem) -> None:
    print(f"skipped {problem}", file=sys.stderr)


def import_stream(
    db: Database,
    stream: SourceStream,
    report: ImportReport,
    *,
    batch_size: int = BATCH_SIZE,
    on_problem: Callable[[Problem], None] = _print_problem,
    on_batch: Callable[[int], None] | None = None,
) -> None:
    """Write every record of ``stream`` into ``db``, adding to ``report``."""
    batch: list[PaperRecord] = []

    def flush() -> None:
        if not batch:
            return
        stats = upsert_records(db, batch)
        report.stats.add(stats)
        report.changed_ids.extend(stats.changed_ids or [])
        if on_batch:
            on_batch(len(batch))
        batch.clear()

    for item in stream:
        if isinstance(item, Problem):
            report.problems.append(item)
            on_problem(item)
            continue
        report.records += 1
        batch.append(item)
        if len(batch) >= batch_size:
            flush()
    flush()


def import_files(
    db: Database,
    paths: Iterable[Path],
    *,
    fmt: str | None = None,
    batch_size: int = BATCH_SIZE,
    progress: bool | None = None,
    on_problem: Callable[[Problem], None] | None = None,
) -> ImportReport:
    """Import each file (format detected unless ``fmt`` is given)."""
    started = time.perf_counter()
    report = ImportReport()
    on_problem = on_problem or ProblemPrinter()
    for path in paths:
        path = Path(path)
        _, stream, counter = open_source(path, fmt)
        with tqdm(
            total=path.stat().st_size,
            unit="B",
            unit_scale=True,
            desc=path.name,
            disable=(not progress) if progress is not None else None,
            file=sys.stderr,
        ) as bar:

            def advance(_n: int, bar: tqdm = bar, counter=counter) -> None:
                bar.update(counter.count - bar.n)
                bar.set_postfix(papers=report.records, refresh=False)

            import_stream(
                db, stream, report, batch_size=batch_size, on_problem=on_problem, on_batch=advance
            )
            bar.update(counter.count - bar.n)
    report.seconds = time.perf_counter() - started
    return report
