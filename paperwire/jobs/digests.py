"""The ``digests`` job: compose the email digests that are due and deliver the outbox.

It runs after the harvests of the same pass, so a daily digest composed this
morning carries the papers that arrived this morning.  The work itself is the
inbox's (:func:`paperwire.inbox.runner.run`: idempotent composing, resumable
delivery); ``digest_scheduler = false`` (``PAPERWIRE_DIGEST_SCHEDULER``) leaves
digests to ``paperwire digest run`` from cron.
"""

from __future__ import annotations

from ..config import Settings
from ..inbox import runner
from ..inbox.options import InboxOptions
from .base import Counts, JobContext

LOCK_WAIT = 30.0  # seconds to wait for a `paperwire digest run` holding the inbox


class DigestsFailed(RuntimeError):
    """The SMTP server could not be used, or another digest run held the inbox too long."""


class DigestsJob:
    name = "digests"
    summary = "compose due email digests and deliver the outbox"
    after: tuple[str, ...] = ("arxiv", "hf", "embed")

    def interval(self, settings: Settings) -> float:
        return settings.jobs_interval

    def skip_reason(self, settings: Settings) -> str | None:
        if not InboxOptions.from_settings(settings).digest_scheduler:
            return "digest_scheduler is off: digests are left to `paperwire digest run`"
        return None

    def run(self, ctx: JobContext) -> Counts:
        ctx.check_stop()
        report = runner.run(ctx.db, ctx.settings, ctx.now(), wait=LOCK_WAIT)
        counts = ctx.counts  # recorded also when the run fails below
        counts.update(
            (k, v) for k, v in report.as_dict().items() if k not in ("seconds", "unreachable")
        )
        if report.locked:
            raise DigestsFailed("another digest run held the inbox lock")
        if report.unreachable:
            raise DigestsFailed(f"mail not delivered: {report.unreachable}")
        return counts


JOB = DigestsJob()

__all__ = ["JOB", "DigestsFailed", "DigestsJob"]
