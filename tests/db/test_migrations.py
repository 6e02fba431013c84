"""Migrations build exactly the schema the code declares, and re-running is a no-op."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from paperwire.db import Database
from paperwire.db.database import MIGRATIONS_DIR, SCHEMA_HEAD
from paperwire.db.schema import metadata


def test_migrated_schema_matches_the_declared_tables(db) -> None:
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def test_schema_head_is_the_newest_migration(db) -> None:
    # A stale SCHEMA_HEAD would let a database one migration behind skip it.
    assert ScriptDirectory(str(MIGRATIONS_DIR)).get_heads() == [SCHEMA_HEAD]
    with db.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_heads() == (SCHEMA_HEAD,)


def test_migrate_is_idempotent_and_uses_wal(settings, db) -> None:
    again = Database(settings.database_url)
    again.migrate()
    assert set(inspect(again.engine).get_table_names()) >= {"papers", "users", "upvotes"}
    with again.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    again.dispose()


def test_config_file_and_environment(tmp_path, monkeypatch) -> None:
    from paperwire.config import load_settings

    (tmp_path / "config.toml").write_text(
        '[paperwire]\nsmtp_host = "mail.example.org"\nsmtp_port = 2525\nbase_url = "https://p.example"\n'
    )
    env = {"PAPERWIRE_HOME": str(tmp_path), "PAPERWIRE_SMTP_PORT": "587"}
    cfg = load_settings(env)
    assert cfg.smtp_host == "mail.example.org" and cfg.smtp_port == 587
    assert cfg.base_url == "https://p.example"
    assert cfg.database_url == f"sqlite:///{tmp_path / 'paperwire.db'}"
    assert len(cfg.secret_key) > 40 and (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    assert load_settings(env).secret_key == cfg.secret_key
