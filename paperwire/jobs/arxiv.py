"""The ``arxiv`` job: an incremental OAI-PMH harvest of the configured categories.

arXiv recommends OAI-PMH for keeping a copy of its metadata: ``ListRecords``
with ``from`` set to the last harvest, and no ``until``.  Here ``from`` is the
latest header datestamp harvested so far (inclusive, so records written later
on that day are not missed; re-reading them changes nothing), per OAI set.

- Sets are arXiv's groups (``cs``, ``math``, ``stat``, ``physics:hep-th``...):
  :func:`sets_for` maps ``PAPERWIRE_ARXIV_CATEGORIES`` onto them, and records
  are kept when any of their categories is a configured one.
- The first harvest starts at ``PAPERWIRE_SYNC_START``, or a few days back.
- Each page is written, then its resumption token stored
  (:func:`paperwire.pipeline.sync`), so a killed run resumes on the next page;
  an expired token restarts the window, which upserts make harmless.
- Requests are spaced by ``PAPERWIRE_ARXIV_DELAY`` (3 s, as arXiv asks) and
  retried with backoff (:class:`~paperwire.sources.arxiv_api.PoliteClient`).
- A paper's feed day is the datestamp of its first appearance
  (:func:`paperwire.sources.oai_pmh.announcement_day`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from typing import TYPE_CHECKING

from .. import pipeline
from ..catalog.sync import SyncReport, load_state
from ..config import Settings
from ..sources.base import Problem, SyncPage
from .base import Counts, JobContext

if TYPE_CHECKING:  # the HTTP client is imported when a harvest runs, not with the web app
    from ..sources.arxiv_api import PoliteClient

METADATA_PREFIX = "arXivRaw"  # carries version numbers, so new versions replace old metadata
BACKFILL_DAYS = 3
_TOTALS = ("records", "inserted", "updated", "unchanged", "skipped", "pages", "changed")
# Groups that are OAI sets of their own; every other archive is a subset of ``physics``.
_GROUPS = {"cs", "econ", "eess", "math", "q-bio", "q-fin", "stat"}


def sets_for(categories: Iterable[str]) -> list[str]:
    """The OAI sets holding ``categories``: cs.LG -> ``cs``, hep-th -> ``physics:hep-th``."""
    out: set[str] = set()
    for category in categories:
        archive = category.split(".", 1)[0]
        out.add(archive if archive in _GROUPS else f"physics:{archive}")
    return sorted(out)


def state_key(set_spec: str) -> str:
    return f"job:arxiv:{set_spec}"


def start_day(settings: Settings, today: date) -> date:
    """Where the first harvest begins: ``PAPERWIRE_SYNC_START`` or a few days back."""
    if settings.sync_start:
        return date.fromisoformat(settings.sync_start)
    return today - timedelta(days=BACKFILL_DAYS)


def _kept(pages: Iterable[SyncPage], wanted: set[str], counts: Counts) -> Iterator[SyncPage]:
    """Pages with only the records in a configured category (problems pass through)."""
    for page in pages:
        items = []
        for item in page.items:
            if isinstance(item, Problem) or wanted.intersection(item.categories):
                items.append(item)
            else:
                counts["other_categories"] += 1
        yield SyncPage(items=items, state=page.state, total=page.total)


class ArxivJob:
    name = "arxiv"
    summary = "harvest new arXiv papers over OAI-PMH"
    after: tuple[str, ...] = ()

    def interval(self, settings: Settings) -> float:
        return settings.jobs_interval

    def skip_reason(self, settings: Settings) -> str | None:
        if settings.offline:
            return "offline (PAPERWIRE_OFFLINE): arXiv is not contacted"
        if not settings.categories:
            return "no categories configured (PAPERWIRE_ARXIV_CATEGORIES)"
        return None

    def run(self, ctx: JobContext) -> Counts:
        from ..sources.arxiv_api import PoliteClient

        settings, db = ctx.settings, ctx.db
        wanted = set(settings.categories)
        counts = ctx.counts  # filled as pages are written, so a failed run still tells
        counts.update(dict.fromkeys(_TOTALS, 0), other_categories=0, requests=0)
        problems: list[str] = []
        with PoliteClient(settings, sleep=ctx.sleep, log=ctx.log) as client:
            try:
                for set_spec in sets_for(wanted):
                    ctx.check_stop()
                    self._harvest(ctx, client, set_spec, wanted, counts, problems)
                    state = load_state(db, state_key(set_spec)) or {}
                    counts[f"next_from:{set_spec}"] = state.get("last_datestamp")
            finally:
                counts["requests"] = client.requests
                if problems:
                    counts["problems"] = problems[:20]
        return counts

    def _harvest(
        self,
        ctx: JobContext,
        client: PoliteClient,
        set_spec: str,
        wanted: set[str],
        counts: Counts,
        problems: list[str],
    ) -> SyncReport:
        from ..sources import oai_pmh

        key = state_key(set_spec)
        state = load_state(ctx.db, key)
        if state and not state.get("done") and state.get("token"):
            # A run stopped mid-harvest: continue with its next page.
            from_raw = state.get("from")
            harvest = oai_pmh.Harvest(
                METADATA_PREFIX, set_spec, date.fromisoformat(from_raw) if from_raw else None
            )
            carried: dict | None = state
        else:
            last = (state or {}).get("last_datestamp")
            from_day = (
                date.fromisoformat(last) if last else start_day(ctx.settings, ctx.now().date())
            )
            harvest = oai_pmh.Harvest(METADATA_PREFIX, set_spec, from_day)
            carried = {"last_datestamp": last} if last else None
        pages = _kept(oai_pmh.harvest_pages(client, harvest, carried), wanted, counts)
        report = SyncReport(key=key)
        base = {k: counts[k] for k in _TOTALS}

        def between_pages(_page: SyncPage, rep: SyncReport) -> None:
            done = {
                "records": rep.records,
                "inserted": rep.stats.inserted,
                "updated": rep.stats.updated,
                "unchanged": rep.stats.unchanged,
                "skipped": rep.skipped,
                "pages": rep.pages,
                "changed": len(rep.changed_ids),
            }
            counts.update({k: base[k] + done[k] for k in _TOTALS})
            ctx.check_stop()

        pipeline.sync(
            ctx.settings,
            ctx.db,
            key,
            pages,
            report,
            on_page=between_pages,
            on_problem=lambda p: problems.append(str(p)),
        )
        return report


JOB = ArxivJob()

__all__ = ["JOB", "ArxivJob", "sets_for", "start_day", "state_key"]
