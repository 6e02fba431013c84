"""Web pages of the inbox: preview for a logged-in user, the subscribe page for accounts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from .conftest import BASE_URL


@pytest.fixture
def client(inbox_settings):
    from paperwire.web.app import create_app

    return TestClient(create_app(inbox_settings), base_url=BASE_URL)


def _csrf(html: str) -> str:
    return html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def _sign_up(client: TestClient, email: str) -> None:
    page = client.get("/signup")
    reply = client.post(
        "/signup",
        data={
            "csrf_token": _csrf(page.text),
            "email": email,
            "password": "correct horse battery staple 42",
            "display_name": "Reader",
        },
        follow_redirects=False,
    )
    assert reply.status_code == 303, reply.text
    page = client.get("/login")
    reply = client.post(
        "/login",
        data={
            "csrf_token": _csrf(page.text),
            "email": email,
            "password": "correct horse battery staple 42",
        },
        follow_redirects=False,
    )
    assert reply.status_code == 303, reply.text


@pytest.fixture
def recent_papers(run_cli, tmp_path):
    """Papers listed on each of the last four days (the preview uses the real clock)."""
    today = datetime.now(UTC).date()
    path = tmp_path / "recent.jsonl"
    with path.open("w") as fh:
        for back in range(4):
            day = today - timedelta(days=back)
            fh.write(
                json.dumps(
                    {
                        "id": f"2611.{90000 + back}",
                        "announced": day.isoformat(),
                        "title": f"Recent paper number {back}",
                        "authors": ["Grace Hopper"],
                        "categories": ["cs.LG"],
                        "abstract": "A recent result.",
                    }
                )
                + "\n"
            )
    assert run_cli("import", "--no-index", str(path)).returncode == 0


def test_preview_needs_a_login(client) -> None:
    reply = client.get("/digest/preview", follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"].startswith("/login")


def test_preview_shows_the_next_digest_of_the_logged_in_user(
    client, recent_papers, activate, inbox_settings
) -> None:
    from paperwire.inbox.periods import due_period

    _sign_up(client, "me@example.org")
    page = client.get("/digest/preview")
    assert page.status_code == 200
    assert "You are not subscribed" in page.text
    activate("me@example.org", frequency="daily", trending=True)
    page = client.get("/digest/preview")
    assert "Sent to me@example.org" in page.text
    period = due_period("daily", "UTC", datetime.now(UTC))
    back = (datetime.now(UTC).date() - period.end).days
    assert f"Recent paper number {back}" in page.text
    email_view = client.get("/digest/preview?format=html")
    assert email_view.status_code == 200 and "Unsubscribe" in email_view.text
    assert "default-src 'none'" in email_view.headers["content-security-policy"]


def test_subscribe_page_for_an_account_offers_similar_papers(client, inbox_db) -> None:
    from paperwire.inbox import subscriptions as subs

    anonymous = client.get("/subscribe")
    assert "similar_to_upvotes" not in anonymous.text
    _sign_up(client, "acct@example.org")
    page = client.get("/subscribe")
    assert 'value="acct@example.org"' in page.text and "similar_to_upvotes" in page.text
    reply = client.post(
        "/subscribe",
        data={
            "csrf_token": _csrf(page.text),
            "email": "acct@example.org",
            "similar_to_upvotes": "1",
            "frequency": "weekly",
            "timezone": "Asia/Tokyo",
        },
    )
    assert reply.status_code == 200 and "Check your inbox" in reply.text
    sub = subs.find_by_email(inbox_db, "acct@example.org")
    assert sub.user_id is not None and sub.prefs.similar_to_upvotes
    assert sub.prefs.timezone == "Asia/Tokyo" and sub.prefs.frequency == "weekly"
    assert not sub.prefs.trending


def test_serve_scheduler_composes_due_digests(inbox_settings, activate, inbox_db, monkeypatch):
    """With the scheduler on, the app composes (here: records as empty) what is due now."""
    import time

    from sqlalchemy import select

    from paperwire.db.schema.inbox import digests
    from paperwire.web.app import create_app

    sid = activate("sched@example.org")
    monkeypatch.setenv("PAPERWIRE_DIGEST_SCHEDULER", "1")
    monkeypatch.setenv("PAPERWIRE_DIGEST_INTERVAL", "0.2")
    with TestClient(create_app(inbox_settings), base_url=BASE_URL):
        deadline = time.monotonic() + 20
        rows = []
        while not rows and time.monotonic() < deadline:
            time.sleep(0.2)
            with inbox_db.connect() as conn:
                rows = conn.execute(select(digests).where(digests.c.subscription_id == sid)).all()
    assert len(rows) == 1 and rows[0].status == "empty"  # the catalog has nothing recent
