"""Background jobs: one row per run, so status, /healthz and the footer tell how fresh we are."""

from sqlalchemy import JSON, Column, DateTime, Index, Integer, String, Table, Text

from .base import metadata

# A run is written when it starts (status ``running``) and again when it ends
# (``ok``, ``failed``, ``skipped``).  A run whose process died stays ``running``
# until the next holder of the job's lock marks it ``interrupted``.
job_runs = Table(
    "job_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job", String(32), nullable=False, doc="arxiv, hf, embed, digests"),
    Column("status", String(16), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("counts", JSON, nullable=False, default=dict, doc="what the run did"),
    Column("error", Text, nullable=True),
    Column("runner", String(255), nullable=False, doc="host:pid that ran it"),
)
Index("ix_job_runs_job_id", job_runs.c.job, job_runs.c.id)
