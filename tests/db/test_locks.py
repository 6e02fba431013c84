"""Named locks exclude a second holder on both deployments, and free on exit."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from paperwire.db.database import Database
from paperwire.db.locks import named_lock


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path) -> Database:
    if request.param == "sqlite":
        return Database(f"sqlite:///{tmp_path / 'locks.db'}")
    return Database(request.getfixturevalue("postgres_url"))


def test_second_holder_is_refused_then_admitted(database: Database) -> None:
    with named_lock(database, "job:arxiv") as first:
        assert first
        with named_lock(database, "job:arxiv") as second:
            assert not second
        with named_lock(database, "job:hf") as other:
            assert other  # locks are per name
        started = time.monotonic()
        with named_lock(database, "job:arxiv", wait=True, timeout=0.3) as waited:
            assert not waited
        assert time.monotonic() - started >= 0.25
    with named_lock(database, "job:arxiv") as again:
        assert again


def test_a_killed_holder_releases_the_lock(database: Database) -> None:
    code = (
        "import sys, time\n"
        "from paperwire.db.database import Database\n"
        "from paperwire.db.locks import named_lock\n"
        "with named_lock(Database(sys.argv[1]), 'job:embed') as got:\n"
        "    print('held' if got else 'refused', flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, database.url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "held"
        with named_lock(database, "job:embed") as got:
            assert not got
    finally:
        proc.kill()
        proc.wait()
    with named_lock(database, "job:embed", wait=True, timeout=10) as got:
        assert got
