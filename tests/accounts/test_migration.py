"""The people migration keeps what the outbox holds (on SQLite the outbox is rebuilt)."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from paperwire.db import Database
from paperwire.db.schema import metadata
from paperwire.db.schema.search import SERVER_ONLY_TABLES


def _declared(name, type_, parent_names) -> bool:  # type: ignore[no-untyped-def]
    return not (type_ == "table" and name in SERVER_ONLY_TABLES)


ROWS = [
    "INSERT INTO users (id, email, password_hash, display_name, created_at) "
    "VALUES (1, 'old@example.org', 'x', 'Old', '2026-01-01 00:00:00')",
    "INSERT INTO subscriptions (id, email, user_id, status, frequency, timezone, trending, "
    "similar_to_upvotes, categories, topics, nonce, failure_count, created_at, updated_at) "
    "VALUES (1, 'old@example.org', 1, 'pending', 'daily', 'UTC', true, false, '[]', '[]', "
    "'n', 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
    "INSERT INTO outbox (id, kind, subscription_id, recipient, message_id, status, attempts, "
    "next_attempt_at, created_at) VALUES (1, 'confirm', 1, 'old@example.org', '<m1>', "
    "'pending', 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
]


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'old.db'}"
    return request.getfixturevalue("postgres_url")


def test_upgrade_keeps_queued_mail_and_accounts(database_url):
    db = Database(database_url)
    try:
        with db.engine.begin() as conn:
            command.upgrade(db._alembic_config(conn), "0004")
        with db.engine.begin() as conn:
            for row in ROWS:
                conn.execute(text(row))
            conn.execute(
                text("INSERT INTO outbox_messages (outbox_id, message) VALUES (1, :m)"),
                {"m": b"queued body"},
            )
        db.migrate()
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT message FROM outbox_messages")).scalar_one() == (
                b"queued body"
            )
            user = conn.execute(text("SELECT role, email_verified_at FROM users")).one()
            assert tuple(user) == ("user", None)  # accounts from before are unconfirmed users
            # The PostgreSQL search index's own tables are not declared (migration 0008).
            context = MigrationContext.configure(conn, opts={"include_name": _declared})
            assert compare_metadata(context, metadata) == []
            if db.is_sqlite:
                assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
    finally:
        db.dispose()
