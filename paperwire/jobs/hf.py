"""The ``hf`` job: Hugging Face Daily Papers of the last few days, with votes and code links.

Each run asks for today's list (``GET /api/daily_papers?date=``; a day with
nothing new costs that one request) and, at most every ``PAPERWIRE_HF_REFRESH``
seconds, the lists of the ``PAPERWIRE_HF_DAYS`` - 1 days before it, which is
how their upvote counts stay fresh.  Every listed paper goes through the
catalog's merge rules: papers we lack are imported (on the feed of the day
they were listed), papers we have get their upvotes, GitHub repository and
project page; submitter, thumbnail, stars and comment count go to
``hf_listings``.  One day is one transaction, and the day's fetch time is stored
after it, so a killed run re-asks at most that day.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from .. import pipeline
from ..catalog.sync import load_state, save_state
from ..config import Settings
from ..sources.base import Problem
from .base import Counts, JobContext

STATE_KEY = "job:hf"


def days_due(settings: Settings, now: datetime, fetched: dict[str, str]) -> list[date]:
    """Today, then each earlier day of the window whose list is older than the refresh."""
    today = now.date()
    due = [today]
    for back in range(1, settings.hf_days):
        day = today - timedelta(days=back)
        last = fetched.get(day.isoformat())
        if last is None or (now - datetime.fromisoformat(last)).total_seconds() >= (
            settings.hf_refresh
        ):
            due.append(day)
    return due


class HfJob:
    name = "hf"
    summary = "Hugging Face Daily Papers: new papers, upvotes, submitters, code links"
    after: tuple[str, ...] = ()

    def interval(self, settings: Settings) -> float:
        return settings.jobs_interval

    def skip_reason(self, settings: Settings) -> str | None:
        if settings.offline:
            return "offline (PAPERWIRE_OFFLINE): Hugging Face is not contacted"
        if not settings.hf_api_url:
            return "no PAPERWIRE_HF_API_URL"
        return None

    def run(self, ctx: JobContext) -> Counts:
        from ..sources.hf_api import HfClient, Listing, fetch_day  # HTTP: only when it runs

        settings, db = ctx.settings, ctx.db
        now = ctx.now()
        state = load_state(db, STATE_KEY) or {}
        fetched: dict[str, str] = dict(state.get("fetched") or {})
        counts = ctx.counts  # filled day by day, so a failed run still tells
        counts.update(
            dict.fromkeys(
                ("days", "listed", "inserted", "updated", "unchanged", "details", "skipped"), 0
            ),
            requests=0,
            changed=0,
        )
        problems: list[str] = []
        with HfClient(settings, sleep=ctx.sleep, log=ctx.log) as client:
            try:
                for day in days_due(settings, now, fetched):
                    ctx.check_stop()
                    items = fetch_day(client, day)
                    listings = [i for i in items if isinstance(i, Listing)]
                    problems += [str(i) for i in items if isinstance(i, Problem)]
                    stats, _ = pipeline.write(
                        settings,
                        db,
                        [item.record for item in listings],
                        listings=[item.details for item in listings],
                    )
                    fetched[day.isoformat()] = ctx.now().isoformat()
                    oldest = (now.date() - timedelta(days=settings.hf_days)).isoformat()
                    fetched = {d: t for d, t in fetched.items() if d > oldest}
                    save_state(db, STATE_KEY, {"fetched": fetched})
                    counts["days"] += 1
                    counts["listed"] += len(listings)
                    counts["inserted"] += stats.inserted
                    counts["updated"] += stats.updated
                    counts["unchanged"] += stats.unchanged
                    counts["details"] += stats.listings_changed
                    counts["changed"] += len(stats.changed_ids or [])
            finally:
                counts["requests"] = client.requests
                counts["skipped"] = len(problems)
                if problems:
                    counts["problems"] = problems[:20]
        return counts


JOB = HfJob()

__all__ = ["JOB", "HfJob", "days_due"]
