"""A migrated database on each deployment (SQLite file, the session's PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from paperwire.db.database import Database


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path) -> Iterator[Database]:
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'paperwire.db'}")
    else:
        db = Database(request.getfixturevalue("postgres_url"))
    db.migrate()
    yield db
    db.dispose()
