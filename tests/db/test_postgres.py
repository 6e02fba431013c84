"""The catalog on PostgreSQL: same CLI, same results as on SQLite."""

from __future__ import annotations

import json

from tests.catalog.helpers import jsonl_record, write_jsonl
from tests.conftest import SAMPLE


def test_import_stats_show_and_reimport_on_postgres(run_cli, postgres_url, tmp_path) -> None:
    env = {"PAPERWIRE_DATABASE_URL": postgres_url}
    records = [jsonl_record(i) for i in range(1, 41)] + ["{broken"]
    path = write_jsonl(tmp_path / "p.jsonl", records)
    first = run_cli("import", str(path), "--json", env=env)
    assert first.returncode == 1 and f"{path}:41:" in first.stderr
    assert first.json()["inserted"] == 40
    stats = run_cli("stats", "--json", env=env).json()
    assert stats["papers"] == 40 and stats["with_code"] == 13
    again = run_cli("import", str(path), "--json", env=env)
    assert again.json()["unchanged"] == 40
    assert run_cli("stats", "--json", env=env).json() == stats

    hf = run_cli("import", str(SAMPLE), "--json", env=env)
    assert hf.returncode == 0 and hf.json()["inserted"] == 753
    newer = jsonl_record(7, id="2601.00007v2", title="Revised title")
    run_cli("import", str(write_jsonl(tmp_path / "v2.jsonl", [newer])), env=env)
    paper = run_cli("show", "2601.00007", "--json", env=env).json()
    assert paper["title"] == "Revised title" and paper["version"] == 2
    assert json.loads(json.dumps(paper["categories"])) == ["cs.LG", "cs.AI"]


def test_migrations_match_declared_schema_on_postgres(postgres_url) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import inspect

    from paperwire.db import Database
    from paperwire.db.schema import metadata
    from paperwire.db.schema.search import SERVER_ONLY_TABLES

    def declared(name, type_, parent_names) -> bool:  # type: ignore[no-untyped-def]
        # The search index's own tables exist only here (migration 0008).
        return not (type_ == "table" and name in SERVER_ONLY_TABLES)

    db = Database(postgres_url)
    db.migrate()
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": declared})
        assert compare_metadata(context, metadata) == []
        tables = set(inspect(conn).get_table_names())
        assert tables >= SERVER_ONLY_TABLES
    db.dispose()
