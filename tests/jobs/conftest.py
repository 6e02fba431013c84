"""Fixtures for the jobs tests: the recorded upstream over real HTTP, both databases.

- ``upstream``: :class:`tests.jobs.upstream.Upstream` serving the recorded days
  in ``fixtures/`` (nothing is published until the test says so);
- ``store``: each test runs twice, on SQLite and on PostgreSQL;
- ``jobs``: runs ``paperwire ...`` in a subprocess against ``home``, ``upstream``
  and ``store``, and opens the catalog for checks.

Embedding uses the real encoder, built once per checkout in ``.cache/models``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from paperwire.db import Database
from tests.conftest import SERVER_SECRET_KEY
from tests.jobs.upstream import Upstream

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / ".cache" / "models"
DAY1, DAY2, DAY3 = "2025-06-10", "2025-06-11", "2025-06-12"


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "sqlite":
        return {}
    url = request.getfixturevalue("postgres_url")
    return {"PAPERWIRE_DATABASE_URL": url, "PAPERWIRE_SECRET_KEY": SERVER_SECRET_KEY}


class Jobs:
    """The CLI and the catalog of one test home."""

    def __init__(self, run_cli: Any, home: Path, env: dict[str, str]) -> None:
        self.run_cli = run_cli
        self.home = home
        self.env = env
        self.url = env.get("PAPERWIRE_DATABASE_URL") or f"sqlite:///{home / 'paperwire.db'}"
        self._db: Database | None = None

    def cli(self, *args: str, **env: str) -> Any:
        return self.run_cli(*args, env={**self.env, **env})

    def run(self, at: str, *args: str, **env: str) -> dict[str, dict[str, Any]]:
        """``paperwire jobs run --at AT --json``: what each job did, by name (must succeed)."""
        result = self.cli("jobs", "run", "--at", at, "--json", *args, **env)
        assert result.returncode == 0, result.stderr
        return {o["job"]: o for o in result.json()}

    def status(self, at: str) -> dict[str, dict[str, Any]]:
        result = self.cli("jobs", "status", "--at", at, "--json")
        assert result.returncode == 0, result.stderr
        return {j["job"]: j for j in result.json()["jobs"]}

    @property
    def settings(self) -> Any:
        from paperwire.config import load_settings

        return load_settings({"PAPERWIRE_HOME": str(self.home), **self.env})

    def search(self, query: str) -> list[str]:
        """Ids of the hybrid search's hits, through the search interface (as the site asks;
        in this process, so the query encoder is loaded once for all tests)."""
        from paperwire.search.backend import get_backend

        return [hit.id for hit in get_backend(self.settings).search(query, limit=50).hits]

    def similar(self, paper_id: str) -> list[str]:
        from paperwire.search.backend import get_backend

        return [hit.id for hit in get_backend(self.settings).similar(paper_id, limit=10)]

    @property
    def db(self) -> Database:
        if self._db is None:
            self._db = Database(self.url)
        return self._db

    def paper(self, paper_id: str) -> dict[str, Any] | None:
        from paperwire.catalog.store import get_paper

        return get_paper(self.db, paper_id)

    def ids(self) -> set[str]:
        from paperwire.db.schema.catalog import papers

        with self.db.connect() as conn:
            return set(conn.execute(select(papers.c.id)).scalars())

    def count(self, table: Any) -> int:
        with self.db.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    def pending(self) -> int:
        from paperwire.search.embeddings import count_pending
        from paperwire.search.encoder import MODEL_ID

        return count_pending(self.db, MODEL_ID)

    def job_runs(self, job: str | None = None) -> list[dict[str, Any]]:
        from paperwire.db.schema.jobs import job_runs

        stmt = select(job_runs).order_by(job_runs.c.id)
        if job:
            stmt = stmt.where(job_runs.c.job == job)
        with self.db.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()


@pytest.fixture
def jobs(run_cli: Any, home: Path, upstream: Upstream, store: dict[str, str]) -> Iterator[Jobs]:
    env = {
        **upstream.env(),
        **store,
        "PAPERWIRE_MODEL_DIR": str(MODELS),
        "PAPERWIRE_OFFLINE": "0",
        "PAPERWIRE_DIGEST_SCHEDULER": "1",
    }
    helper = Jobs(run_cli, home, env)
    yield helper
    helper.close()


def hf_ids(day: str) -> list[str]:
    """The arXiv ids the recorded Daily Papers list of ``day`` holds, in order."""
    path = Path(__file__).parent / "fixtures" / "hf" / f"{day}.json"
    return [item["paper"]["id"] for item in json.loads(path.read_text())]
