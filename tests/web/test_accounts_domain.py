"""The accounts domain: users, sessions, rate limits, upvotes, submissions, collections."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from paperwire.accounts import collections as colls
from paperwire.accounts import ratelimit, sessions, submissions, upvotes, users
from paperwire.accounts.errors import NotFound, RateLimited, ValidationError
from paperwire.catalog.record import FeedSubmission, PaperRecord
from paperwire.catalog.store import get_paper, upsert_records
from paperwire.db.schema.accounts import users as users_table
from paperwire.db.schema.catalog import feed_submissions
from paperwire.sources.base import SourceUnavailable

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
TODAY = NOW.date()
PASSWORD = "correct horse battery"


def record(pid: str, *, external: int | None = None, day: date | None = None) -> PaperRecord:
    rec = PaperRecord(id=pid, title=f"Paper {pid}", abstract="About things.", authors=["A. B."])
    rec.external_upvotes = external
    if day is not None:
        rec.feed_submission = FeedSubmission(day=day, submitter="hf-user", source="hf")
    return rec.normalise()


@pytest.fixture
def catalog(db):
    upsert_records(
        db,
        [
            record("2601.00001", external=7, day=date(2026, 2, 1)),
            record("2601.00002", external=0),
            record("2601.00003"),
        ],
    )
    return db


@pytest.fixture
def alice(catalog):
    return users.create_user(catalog, "Alice@Example.COM", PASSWORD, now=NOW, display_name="Alice")


# -- users and passwords --------------------------------------------------------------


def test_email_is_normalised_and_password_hashed_with_argon2id(db, alice):
    assert alice.email == "alice@example.com"
    with db.connect() as conn:
        stored = conn.execute(select(users_table.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("not-an-email", PASSWORD),
        ("a@b", PASSWORD),
        ("", PASSWORD),
        ("bob@example.com", "short"),
        ("bob@example.com", "x" * 129),
        ("bob@example.com", " " * 12),
    ],
)
def test_bad_sign_up_input_is_refused(db, email, password):
    with pytest.raises(ValidationError):
        users.create_user(db, email, password, now=NOW)


def test_authenticate(db, alice):
    assert users.authenticate(db, " ALICE@example.com ", PASSWORD) == alice
    assert users.authenticate(db, "alice@example.com", "wrong password") is None
    assert users.authenticate(db, "nobody@example.com", PASSWORD) is None
    assert users.authenticate(db, "garbage", PASSWORD) is None


def test_sign_up_of_existing_email(db, alice):
    # Never an error: the outcome says which mail to send, the web layer answers alike.
    assert users.sign_up(db, "alice@example.com", PASSWORD, now=NOW) == users.SignUp(alice, False)
    taken = users.sign_up(db, "ALICE@example.com", "another password", now=NOW)
    assert taken == users.SignUp(alice, False)
    assert users.count_users(db) == 1
    new = users.sign_up(db, "bob@example.com", "another password", now=NOW)
    assert new.created and not new.user.verified and users.count_users(db) == 2


# -- sessions -------------------------------------------------------------------------


def test_sessions_store_only_a_digest_and_expire(db, alice):
    token, expires = sessions.create_session(db, alice.id, now=NOW)
    assert expires == NOW + sessions.SESSION_LIFETIME
    with db.connect() as conn:
        stored = conn.execute(select(sessions.sessions.c.id)).scalar_one()
    assert stored == sessions.token_digest(token) != token
    assert sessions.user_for_token(db, token, now=NOW) == alice
    assert sessions.user_for_token(db, token, now=expires) is None
    assert sessions.user_for_token(db, "forged-token-value", now=NOW) is None
    sessions.delete_session(db, token)
    assert sessions.user_for_token(db, token, now=NOW) is None


# -- rate limits ----------------------------------------------------------------------


def test_sliding_window_rate_limit(db):
    limit = ratelimit.Limit("test", 3, timedelta(minutes=10))
    key = ratelimit.key_for("secret", "1.2.3.4")
    for i in range(3):
        ratelimit.check(db, [(limit, key)], now=NOW + timedelta(minutes=i))
        ratelimit.record(db, [(limit, key)], now=NOW + timedelta(minutes=i))
    with pytest.raises(RateLimited) as info:
        ratelimit.check(db, [(limit, key)], now=NOW + timedelta(minutes=3))
    assert info.value.retry_after == 7 * 60
    other = ratelimit.key_for("secret", "5.6.7.8")
    ratelimit.check(db, [(limit, other)], now=NOW + timedelta(minutes=3))
    # The first attempt leaves the window after ten minutes.
    ratelimit.check(db, [(limit, key)], now=NOW + timedelta(minutes=10, seconds=1))
    ratelimit.clear(db, limit, key)
    ratelimit.check(db, [(limit, key)], now=NOW + timedelta(minutes=3))


def test_login_backoff_grows_and_forgets(db):
    backoff = ratelimit.LOGIN_PAIR
    key = ratelimit.pair_key("secret", "alice@example.com", "10.0.0.1")
    at = NOW
    waits = []
    for failure in range(1, 9):
        ratelimit.check_backoff(db, backoff, key, now=at)  # allowed: the delay has passed
        ratelimit.record(db, [(backoff, key)], now=at)
        wait = backoff.delay(failure).total_seconds()
        if wait:
            with pytest.raises(RateLimited) as info:
                ratelimit.check_backoff(db, backoff, key, now=at + timedelta(seconds=wait - 1))
            assert info.value.retry_after == 1
        waits.append(wait)
        at += timedelta(seconds=wait)
    assert waits == [0, 0, 2, 4, 8, 16, 32, 64]  # free tries, then doubling delays
    assert backoff.delay(100) == backoff.cap
    # Another address, or the same account elsewhere, is not slowed down.
    other = ratelimit.pair_key("secret", "alice@example.com", "10.0.0.2")
    ratelimit.check_backoff(db, backoff, other, now=at)
    # Failures older than the window are forgotten.
    ratelimit.check_backoff(db, backoff, key, now=at + backoff.window)
    assert key.startswith(ratelimit.account_prefix("secret", "alice@example.com"))


# -- upvotes --------------------------------------------------------------------------


def test_upvote_toggles_once_per_user_and_keeps_count(db, alice):
    bob = users.create_user(db, "bob@example.com", PASSWORD, now=NOW)
    pid = "2601.00001"
    assert upvotes.toggle(db, alice.id, pid, now=NOW) == upvotes.VoteState(True, 8)
    assert upvotes.toggle(db, bob.id, pid, now=NOW) == upvotes.VoteState(True, 9)
    assert upvotes.toggle(db, alice.id, pid, now=NOW) == upvotes.VoteState(False, 8)
    assert upvotes.set_vote(db, bob.id, pid, True, now=NOW) == upvotes.VoteState(True, 8)
    assert upvotes.set_vote(db, alice.id, pid, False, now=NOW) == upvotes.VoteState(False, 8)
    assert upvotes.paper_ids_upvoted_by(db, bob.id) == {pid}
    assert upvotes.paper_ids_upvoted_by(db, bob.id, among=["2601.00002"]) == set()
    assert get_paper(db, pid)["upvotes"] == 8
    # A re-import with new external upvotes keeps the local vote.
    upsert_records(db, [record(pid, external=10)])
    assert get_paper(db, pid)["upvotes"] == 11
    assert upvotes.recount(db) == 0
    with pytest.raises(NotFound):
        upvotes.toggle(db, alice.id, "2601.99999", now=NOW)


def test_concurrent_upvotes_are_all_counted(db, alice):
    voters = [users.create_user(db, f"u{i}@example.com", PASSWORD, now=NOW) for i in range(4)]
    errors: list[BaseException] = []

    def vote(uid: int) -> None:
        try:
            for _ in range(5):  # odd number of toggles: ends upvoted
                upvotes.toggle(db, uid, "2601.00002", now=NOW)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=vote, args=(u.id,)) for u in voters]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert get_paper(db, "2601.00002")["upvotes"] == 4


# -- submissions ----------------------------------------------------------------------


def _no_fetch(_settings, _id):  # pragma: no cover - must not be called
    raise AssertionError("fetched a paper the catalog has")


def test_submit_paper_in_catalog(db, settings, alice):
    result = submissions.submit(
        db,
        settings,
        alice,
        "https://arxiv.org/abs/2601.00002v3",
        today=TODAY,
        now=NOW,
        fetch=_no_fetch,
    )
    assert result.ok and result.paper_id == "2601.00002" and result.day == TODAY
    with db.connect() as conn:
        row = conn.execute(
            select(feed_submissions).where(feed_submissions.c.paper_id == "2601.00002")
        ).one()
    assert (row.day, row.user_id, row.source, row.submitter) == (TODAY, alice.id, "local", "Alice")
    again = submissions.submit(db, settings, alice, "2601.00002", today=TODAY, now=NOW)
    assert again.status == submissions.DUPLICATE
    assert "already on today's feed" in again.message
    hf = submissions.submit(db, settings, alice, "arXiv:2601.00001", today=TODAY, now=NOW)
    assert hf.status == submissions.DUPLICATE and "2026-02-01" in hf.message


def test_submit_invalid_text(db, settings, alice):
    result = submissions.submit(db, settings, alice, "hello", today=TODAY, now=NOW)
    assert result.status == submissions.INVALID


def test_submit_unknown_paper_fetches_it(db, settings, alice):
    def fetch(_settings, pid):
        return record(pid)

    result = submissions.submit(
        db, settings, alice, "2602.01234", today=TODAY, now=NOW, fetch=fetch
    )
    assert result.ok and result.fetched
    assert get_paper(db, "2602.01234")["title"] == "Paper 2602.01234"


def test_submit_unknown_paper_when_arxiv_is_unreachable(db, settings, alice):
    def fetch(_settings, _pid):
        raise SourceUnavailable("down")

    result = submissions.submit(
        db, settings, alice, "2602.01234", today=TODAY, now=NOW, fetch=fetch
    )
    assert result.status == submissions.UNAVAILABLE
    assert "cannot be reached" in result.message
    assert get_paper(db, "2602.01234") is None

    missing = submissions.submit(
        db, settings, alice, "2602.01234", today=TODAY, now=NOW, fetch=lambda _s, _p: None
    )
    assert missing.status == submissions.NOT_FOUND


# -- collections ----------------------------------------------------------------------


def test_collections_crud(db, alice):
    reading = colls.create(db, alice.id, "  Reading   list ", now=NOW)
    assert (reading.name, reading.slug) == ("Reading list", "reading-list")
    with pytest.raises(ValidationError, match="already have"):
        colls.create(db, alice.id, "reading LIST", now=NOW)
    assert colls.create(db, alice.id, "Reading-list!", now=NOW).slug == "reading-list-2"
    assert colls.create(db, alice.id, "¡¿!", now=NOW).slug == "collection"
    with pytest.raises(ValidationError):
        colls.create(db, alice.id, "   ", now=NOW)
    bob = users.create_user(db, "bob@example.com", PASSWORD, now=NOW)
    assert colls.create(db, bob.id, "Reading list", now=NOW).slug == "reading-list"

    assert colls.add_paper(db, alice.id, "reading-list", "2601.00001", now=NOW)
    assert not colls.add_paper(db, alice.id, "reading-list", "2601.00001", now=NOW)
    assert colls.add_paper(db, alice.id, "reading-list", "2601.00002", now=NOW)
    with pytest.raises(NotFound):
        colls.add_paper(db, alice.id, "reading-list", "2601.99999", now=NOW)
    assert [p["id"] for p in colls.papers_in(db, alice.id, "reading-list")] == [
        "2601.00001",
        "2601.00002",
    ]
    assert colls.get(db, alice.id, "reading-list").size == 2
    assert colls.slugs_containing(db, alice.id, "2601.00001") == {"reading-list"}
    assert colls.paper_ids_in_collections(db, alice.id) == {"2601.00001", "2601.00002"}
    assert colls.paper_ids_in_collections(db, bob.id) == set()
    assert colls.remove_paper(db, alice.id, "reading-list", "2601.00001")
    assert not colls.remove_paper(db, alice.id, "reading-list", "2601.00001")
    with pytest.raises(NotFound):  # bob cannot reach alice's collection
        colls.add_paper(db, bob.id, "reading-list-2", "2601.00001", now=NOW)
    colls.delete_collection(db, alice.id, "reading-list")
    with pytest.raises(NotFound):
        colls.get(db, alice.id, "reading-list")
    assert [c.slug for c in colls.list_for_user(db, alice.id)] == ["reading-list-2", "collection"]
    assert get_paper(db, "2601.00002") is not None


def test_unknown_email_costs_one_argon2_verification(db, alice, monkeypatch):
    calls: list[str] = []
    real_verify = users.verify_password
    real_dummy = users.verify_dummy
    monkeypatch.setattr(users, "verify_dummy", lambda: calls.append("dummy") or real_dummy())
    monkeypatch.setattr(
        users, "verify_password", lambda h, p: calls.append("real") or real_verify(h, p)
    )
    assert users.authenticate(db, "nobody@example.com", PASSWORD) is None
    assert users.authenticate(db, "not an email", PASSWORD) is None
    assert users.authenticate(db, "alice@example.com", "wrong password") is None
    assert calls == ["dummy", "dummy", "real"]
