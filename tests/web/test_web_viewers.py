"""Pages are shared by every viewer, yet each logged-in viewer sees exactly their own marks.

One rendering of a page serves everyone (``paperwire.web.slots``); the upvote
state, live counts, "saved" chips, the account menu and the collection form are
filled in per viewer.  These tests go through HTTP only (sign-up, votes and
collections by their public routes) on an in-process app over the sample;
changes "from elsewhere" (another process, the CLI, a moderator) are made
through the domain on the same database, as those would.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from starlette.testclient import TestClient

from paperwire.accounts import moderation, upvotes, users
from paperwire.web import views
from paperwire.web.routes import common

PASSWORD = "a long enough password"
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
FORM_RE = re.compile(r'<form class="upvote([^"]*)" method="post" action="/papers/([^"]+)/upvote"')
COUNT_RE = r'action="/papers/{}/upvote".*?data-count>(\d+)<'
DAY = "/day/2024-04-04"  # 12 papers of the sample


def cards(html: str) -> list[str]:
    """Paper ids with an upvote form on the page, in order."""
    return [pid for _, pid in FORM_RE.findall(html)]


def marked(html: str) -> set[str]:
    return {pid for cls, pid in FORM_RE.findall(html) if "is-voted" in cls.split()}


def saved_chips(html: str) -> set[str]:
    return set(re.findall(r'class="chip chip-saved"[^>]*data-saved="([^"]+)"', html))


def count(html: str, pid: str) -> int:
    return int(re.search(COUNT_RE.format(re.escape(pid)), html, re.S)[1])


def sign_up(client: TestClient, email: str, name: str) -> str:
    """Sign up and log in (unverified: it may vote and save); the session's CSRF token."""
    form = client.get("/signup").text
    data = {"email": email, "password": PASSWORD, "display_name": name}
    response = client.post("/signup", data={**data, "csrf_token": TOKEN_RE.search(form)[1]})
    assert response.status_code == 303, response.text[:500]
    form = client.get("/login").text
    data = {"email": email, "password": PASSWORD, "csrf_token": TOKEN_RE.search(form)[1]}
    assert client.post("/login", data=data).status_code == 303
    return client.get("/api/session").json()["csrf_token"]


def vote(client: TestClient, csrf: str, pid: str, upvoted: bool) -> int:
    response = client.post(
        f"/api/papers/{pid}/upvote", headers={"X-CSRF-Token": csrf}, json={"upvoted": upvoted}
    )
    assert response.status_code == 200 and response.json()["upvoted"] is upvoted
    return response.json()["upvotes"]


def save(client: TestClient, csrf: str, pid: str, collection: str) -> None:
    response = client.post(
        f"/papers/{pid}/collect", data={"new_collection": collection, "csrf_token": csrf}
    )
    if response.status_code == 400:  # the collection exists: add to it
        slug = collection.lower().replace(" ", "-")
        response = client.post(
            f"/papers/{pid}/collect", data={"collection": slug, "csrf_token": csrf}
        )
    assert response.status_code == 303, response.text[:500]


@pytest.fixture
def app(sample_client):
    return sample_client.app


def test_logged_in_pages_mark_exactly_my_votes_and_saves(app):
    with TestClient(app, follow_redirects=False) as reader:
        home = reader.get(DAY).text  # anonymous first: the shared rendering is cached
        ids = cards(home)
        assert len(ids) >= 8 and not marked(home) and not saved_chips(home)
        csrf = sign_up(reader, "reader@example.com", "Reader <b>&amp;</b>")
        voted, saved = {ids[0], ids[2], ids[5]}, {ids[0], ids[3]}
        for pid in sorted(voted):
            vote(reader, csrf, pid, True)
        for pid in sorted(saved):
            save(reader, csrf, pid, "Reading list")

        title = re.search(r'id="paper-title"[^>]*>([^<]+)<', reader.get(f"/papers/{ids[0]}").text)
        query = "+".join(re.findall(r"[A-Za-z]{4,}", title[1])[:3])
        for path in (DAY, "/", f"/papers/{ids[0]}", f"/papers/{ids[3]}", f"/search?q={query}"):
            page = reader.get(path).text
            shown = set(cards(page))
            assert shown, path
            assert marked(page) == shown & voted, path
            # Upvote buttons only (follow buttons on a paper page are pressed or not too).
            pressed = re.findall(r'aria-pressed="(true|false)" aria-label="Upvote', page)
            assert pressed.count("true") == len(shown & voted), path
            assert pressed.count("false") == len(shown - voted), path
            main = {path.rsplit("/", 1)[1]} if path.startswith("/papers/") else set()
            assert saved_chips(page) == (shown - main) & saved, path
            assert "Reader &lt;b&gt;&amp;amp;&lt;/b&gt;" in page, path  # my name, escaped
            assert "Reader <b>" not in page and "Log in</a>" not in page, path
            assert "\x00" not in page, path  # no slot marker is ever left in a page
        paper = reader.get(f"/papers/{ids[0]}").text
        assert re.search(r'class="pw-collect-in">In\s*<a href="/collections/reading-list"', paper)
        assert "pw-collect-in" not in reader.get(f"/papers/{ids[2]}").text  # voted, not saved

        # Right after a vote (the pages are cached), the page changes for me at once.
        before = count(reader.get(DAY).text, ids[1])
        after_vote = vote(reader, csrf, ids[1], True)
        vote(reader, csrf, ids[0], False)
        page = reader.get(DAY).text
        assert marked(page) == set(cards(page)) & {ids[1], ids[2], ids[5]}
        assert count(page, ids[1]) == after_vote == before + 1

    with TestClient(app, follow_redirects=False) as other:
        page = other.get(DAY).text
        assert not marked(page) and not saved_chips(page) and "Reader" not in page
        assert "aria-pressed" not in page and "Log in</a>" in page
        assert count(page, ids[1]) == before + 1  # and anonymous viewers see the new count
        csrf = sign_up(other, "other@example.com", "Other")
        vote(other, csrf, ids[7], True)
        page = other.get(DAY).text
        assert marked(page) == {ids[7]} and not saved_chips(page)
        assert "Other" in page and "Reader" not in page
        tokens = set(TOKEN_RE.findall(page))  # one token, in every form, and it is mine:
        assert len(tokens) == 1 and len(TOKEN_RE.findall(page)) > len(ids)
        response = other.post(
            f"/papers/{ids[8]}/upvote", data={"csrf_token": tokens.pop(), "next": DAY}
        )
        assert response.status_code == 303 and response.headers["location"] == DAY
        assert marked(other.get(DAY).text) == {ids[7], ids[8]}


def test_a_session_that_ended_gets_the_anonymous_page(app):
    with TestClient(app, follow_redirects=False) as reader:
        csrf = sign_up(reader, "leaver@example.com", "Leaver")
        pid = cards(reader.get(DAY).text)[0]
        vote(reader, csrf, pid, True)
        assert marked(reader.get(DAY).text) == {pid}
        copied = reader.cookies["paperwire_session"]
        page = reader.get(DAY).text  # the session is remembered for a few seconds...
        assert "Leaver" in page
        response = reader.post("/logout", data={"csrf_token": TOKEN_RE.search(page)[1]})
        assert response.status_code == 303
        for cookie in (copied, "x" * 43):  # ...but a logout ends it at once; forged: never
            reader.cookies.set("paperwire_session", cookie)
            page = reader.get(DAY).text
            assert not marked(page) and "Leaver" not in page and "Log in</a>" in page


def no_thread(*args, **kwargs):
    raise AssertionError("a remembered viewer's page is filled on the event loop")


def test_my_parts_of_a_paper_page_change_at_once(app, monkeypatch):
    """The collection form, follow buttons and discussion are kept per viewer: never stale."""
    with TestClient(app, follow_redirects=False) as reader:
        csrf = sign_up(reader, "parts@example.com", "Parts")
        pid = cards(reader.get(DAY).text)[4]
        path = f"/papers/{pid}"
        reader.get(path)  # the session and the viewer's parts are kept now
        with monkeypatch.context() as patch:  # so, on SQLite, no trip to the thread pool
            patch.setattr(views, "run_in_threadpool", no_thread)
            patch.setattr(common, "run_in_threadpool", no_thread)
            page = reader.get(path).text
        assert "pw-collect-in" not in page and "✓ following" not in page
        author = re.search(
            r'value="author">\s*<input type="hidden" name="value" value="([^"]+)"', page
        )[1]

        save(reader, csrf, pid, "Parts list")
        page = reader.get(path).text
        assert re.search(r'class="pw-collect-in">In\s*<a href="/collections/parts-list"', page)

        data = {"csrf_token": csrf, "kind": "author", "value": author, "next": path}
        assert reader.post("/following/follow", data=data).status_code == 303
        page = reader.get(path).text
        assert f"{author} ✓ following" in page  # both as the page escapes them

        # Confirmed from elsewhere (a link in a mail, another process): the reply forms appear.
        db = app.state.db
        user = users.get_user_by_email(db, "parts@example.com")
        assert "pw-comment-form" not in page and "Confirm your email address" in page
        users.mark_verified(db, user.id, user.email, now=datetime.now(UTC))
        page = reader.get(path).text
        assert "pw-comment-form" in page
        data = {"csrf_token": csrf, "body": "A first *comment* on this paper."}
        assert reader.post(f"{path}/comments", data=data).status_code == 303
        page = reader.get(path).text
        assert "A first <em>comment</em> on this paper." in page
        assert 'class="button">Delete</button>' in page
        assert "\x00" not in page


def test_changes_made_elsewhere_reach_a_remembered_viewer_at_once(app, monkeypatch):
    """A vote from another process shows at once; a ban ends the remembered session at once."""
    with TestClient(app, follow_redirects=False) as reader:
        sign_up(reader, "elsewhere@example.com", "Elsewhere")
        ids = cards(reader.get(DAY).text)
        for _ in range(3):  # the session and the page are remembered now
            assert not marked(reader.get(DAY).text)
        with monkeypatch.context() as patch:
            patch.setattr(views, "run_in_threadpool", no_thread)
            before = count(reader.get(DAY).text, ids[6])
        db = app.state.db
        user = users.get_user_by_email(db, "elsewhere@example.com")
        upvotes.set_vote(db, user.id, ids[6], True, now=datetime.now(UTC))  # as the CLI would
        page = reader.get(DAY).text
        assert marked(page) == {ids[6]} and count(page, ids[6]) == before + 1
        assert "Elsewhere" in page

        moderation.set_banned(db, None, user.id, True, now=datetime.now(UTC))
        page = reader.get(DAY).text
        assert "Elsewhere" not in page and "Log in</a>" in page and not marked(page)
