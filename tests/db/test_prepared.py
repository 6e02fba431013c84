"""Hot reads on a bare DBAPI cursor give what the same statement gives through SQLAlchemy.

:class:`~paperwire.db.prepared.PreparedRead` compiles a Core ``Select`` once per
dialect and ``IN``-list length; the viewer's marks on every logged-in page go
through it.  On SQLite and PostgreSQL alike, for lists of any length, and on
SQLite also on a thread's own connection (the event loop's), which must see
every commit at once (it never holds a snapshot).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, select

from paperwire.accounts import collections as colls
from paperwire.accounts import upvotes, users
from paperwire.accounts.marks import marks_for
from paperwire.catalog.record import PaperRecord
from paperwire.catalog.store import upsert_records
from paperwire.db.database import Database
from paperwire.db.prepared import PreparedRead
from paperwire.db.schema.catalog import papers

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
IDS = [f"2601.{i:05d}" for i in range(1, 41)]


@pytest.fixture
def db(database: Database) -> Database:
    records = [
        PaperRecord(id=pid, title=f"Paper {pid}", abstract="About things.", authors=["A. B."])
        for pid in IDS
    ]
    for i, rec in enumerate(records):
        rec.external_upvotes = i % 4
    upsert_records(database, [rec.normalise() for rec in records])
    return database


def _user(db: Database, email: str) -> users.User:
    return users.create_user(db, email, "a long enough password", now=NOW)


def test_rows_match_the_statement_run_through_sqlalchemy(db: Database) -> None:
    stmt = (
        select(papers.c.id, papers.c.upvotes)
        .where(papers.c.id.in_(bindparam("ids", expanding=True)))
        .where(papers.c.upvotes >= bindparam("least"))
        .order_by(papers.c.id)
    )
    read = PreparedRead(stmt, expanding="ids")
    for wanted in ([IDS[0]], IDS[:3], IDS[5:35], [*IDS[:4], "9999.99999"], IDS):
        with db.connect() as conn:
            expected = [tuple(r) for r in conn.execute(stmt, {"ids": wanted, "least": 1})]
        assert read.rows(db, {"least": 1}, wanted) == expected
        assert read.rows(db, {"least": 1}, wanted) == expected  # the cached shape, again


def test_marks_are_exactly_my_votes_and_saves_with_live_counts(db: Database) -> None:
    me, other = _user(db, "me@example.com"), _user(db, "other@example.com")
    for pid in IDS[0:10:3]:
        upvotes.set_vote(db, me.id, pid, True, now=NOW)
    upvotes.set_vote(db, other.id, IDS[1], True, now=NOW)
    reading = colls.create(db, me.id, "Reading", now=NOW)
    later = colls.create(db, me.id, "Later", now=NOW)
    colls.add_paper(db, me.id, reading.slug, IDS[0], now=NOW)
    colls.add_paper(db, me.id, later.slug, IDS[4], now=NOW)
    theirs = colls.create(db, other.id, "Theirs", now=NOW)
    colls.add_paper(db, other.id, theirs.slug, IDS[5], now=NOW)

    page = [*IDS[:12], IDS[0], "9999.99999"]  # a duplicate and an unknown id
    marks = marks_for(db, me.id, page)
    assert marks.voted == {IDS[0], IDS[3], IDS[6], IDS[9]}
    assert marks.saved == {IDS[0], IDS[4]}
    assert marks.upvotes[IDS[1]] == 1 + 1 and marks.upvotes[IDS[0]] == 0 + 1
    assert set(marks.upvotes) == set(IDS[:12])
    assert marks_for(db, other.id, page).voted == {IDS[1]}
    assert marks_for(db, other.id, page).saved == {IDS[5]}
    assert marks_for(db, me.id, []).voted == frozenset()

    upvotes.set_vote(db, me.id, IDS[0], False, now=NOW)
    assert IDS[0] not in marks_for(db, me.id, page).voted


def test_the_event_loops_own_connection_sees_every_commit(db: Database) -> None:
    me = _user(db, "loop@example.com")
    if not db.is_local_file:
        with pytest.raises(RuntimeError):
            db.own_connection()  # a PostgreSQL read is a network wait: never on the loop
        assert marks_for(db, me.id, IDS[:3]).voted == frozenset()
        return
    assert marks_for(db, me.id, IDS[:3], own_connection=True).voted == frozenset()
    upvotes.set_vote(db, me.id, IDS[2], True, now=NOW)  # committed on a pool connection
    marks = marks_for(db, me.id, IDS[:3], own_connection=True)
    assert marks.voted == {IDS[2]} and marks.upvotes[IDS[2]] == 2 % 4 + 1
    mine = db.own_connection()
    assert mine is db.own_connection()  # kept for this thread...
    other: list = []
    thread = threading.Thread(target=lambda: other.append(db.own_connection()))
    thread.start()
    thread.join()
    assert other[0] is not mine  # ...and each thread has its own
    db.drop_own_connection()
    assert db.own_connection() is not mine
    db.dispose()  # closes them all; a later read opens another
    assert marks_for(db, me.id, IDS[:3], own_connection=True).voted == {IDS[2]}
