"""Three `paperwire serve` started at once against an empty PostgreSQL: one migrates,
the others wait for it, and all three serve."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from alembic.script import ScriptDirectory
from sqlalchemy import text

from paperwire.db import Database
from paperwire.db.database import MIGRATIONS_DIR
from paperwire.web.devserver import ServerProcess


def test_three_first_starts_at_once_migrate_once_and_all_serve(
    server_db: str, tmp_path: Path
) -> None:
    servers = [
        ServerProcess(tmp_path / f"machine{i}", env={"PAPERWIRE_DATABASE_URL": server_db})
        for i in range(3)
    ]
    for server in servers:
        server.home.mkdir()
    try:
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(lambda s: s.start(timeout=180), servers))
        for server in servers:
            assert httpx.get(server.url + "/", timeout=30).status_code == 200
            assert "Traceback" not in server.log(), server.log()
    finally:
        for server in servers:
            server.stop()
    db = Database(server_db)
    with db.connect() as conn:
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    db.dispose()
    assert versions == list(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads())
