"""The ``embed`` job: vectors for the papers that have none (or whose text changed).

It runs after every harvest that changed papers, and on its own interval to
catch up on anything left pending (an import with ``--no-index``, a model that
could not be loaded last time).  Each batch is committed on its own, so a
killed run loses at most one batch and the next run continues.  A model that
cannot be loaded fails the run (recorded, retried with backoff); the papers
stay searchable by keywords meanwhile.
"""

from __future__ import annotations

from .. import pipeline
from ..config import Settings
from .base import Counts, JobContext


class EmbedFailed(RuntimeError):
    """Embedding did not finish; the message says why."""


class EmbedJob:
    name = "embed"
    summary = "embed pending papers and add their vectors to the search index"
    after: tuple[str, ...] = ("arxiv", "hf")

    def interval(self, settings: Settings) -> float:
        return settings.jobs_interval

    def skip_reason(self, settings: Settings) -> str | None:
        return None

    def run(self, ctx: JobContext) -> Counts:
        ctx.check_stop()
        result = pipeline.embed(ctx.settings, ctx.db, should_stop=ctx.stop.is_set)
        if result.pending and not result.error:
            ctx.check_stop()  # stopped midway: what was embedded is kept and indexed
        counts = ctx.counts
        counts.update(
            embedded=result.embedded,
            pending=result.pending,
            model_id=result.model_id,
            changed=result.embedded,
        )
        if result.error:
            raise EmbedFailed(
                f"{result.error} ({result.embedded} embedded, {result.pending} pending)"
            )
        return counts


JOB = EmbedJob()

__all__ = ["JOB", "EmbedFailed", "EmbedJob"]
