"""Accounts over HTTP against the ASGI app: sign-up, login, CSRF, upvotes, submit, collections."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from paperwire.accounts.users import get_user_by_email, set_role
from paperwire.catalog.record import FeedSubmission, PaperRecord
from paperwire.catalog.store import get_paper, upsert_records
from paperwire.db.schema.accounts import users as users_table
from paperwire.db.schema.catalog import feed_submissions

PASSWORD = "correct horse battery"
IN_CATALOG = "2601.00002"  # in the catalog, on no feed yet
ON_FEED = "2601.00001"  # on the feed of 2026-02-01, 7 Hugging Face upvotes
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def record(pid: str, *, external: int | None = None, day: date | None = None) -> PaperRecord:
    rec = PaperRecord(id=pid, title=f"Paper {pid}", abstract="About things.", authors=["A. B."])
    rec.external_upvotes = external
    if day is not None:
        rec.feed_submission = FeedSubmission(day=day, submitter="hf-user", source="hf")
    return rec.normalise()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def make_app(home, monkeypatch):
    """An app factory for this test's home; ``env`` sets PAPERWIRE_* first."""
    from paperwire.config import load_settings
    from paperwire.db import open_database
    from paperwire.web.app import create_app

    def make(**env: str):
        for key, value in env.items():
            monkeypatch.setenv(f"PAPERWIRE_{key.upper()}", value)
        settings = load_settings()
        db = open_database(settings)
        upsert_records(
            db,
            [record(ON_FEED, external=7, day=date(2026, 2, 1)), record(IN_CATALOG, external=0)],
        )
        return create_app(settings)

    return make


@pytest.fixture
def app(make_app):
    return make_app(offline="1")


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as c:
        yield c


def token(client: TestClient, path: str = "/login") -> str:
    """The CSRF token of the form on ``path`` (the client keeps the cookies)."""
    response = client.get(path)
    assert response.status_code == 200, response.text
    return TOKEN_RE.search(response.text).group(1)


def sign_up(client: TestClient, email: str = "alice@example.com", **extra: str):
    data = {"email": email, "password": PASSWORD, "csrf_token": token(client, "/signup")}
    return client.post("/signup", data={**data, **extra})


def log_in(client: TestClient, email: str, password: str):
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token(client)}
    )


def register(client: TestClient, email: str = "alice@example.com", **extra: str):
    """Sign up and log in (an unconfirmed account may log in and use the site)."""
    assert sign_up(client, email, **extra).status_code == 303
    response = log_in(client, email, PASSWORD)
    assert response.status_code == 303, response.text
    return response


def whoami(client: TestClient) -> dict | None:
    return client.get("/api/session").json()["user"]


# -- sign-up, login, logout --------------------------------------------------------------


def test_sign_up_log_out_log_in(client, app):
    response = sign_up(client, "Alice@Example.com", display_name="Alice", next="/collections")
    assert response.status_code == 303
    assert response.headers["location"] == "/signup/sent?next=/collections"
    assert "paperwire_session=" not in response.headers.get("set-cookie", "")
    assert whoami(client) is None  # sign-up logs nobody in: it answers every address alike
    response = log_in(client, "alice@example.com", PASSWORD)
    assert response.status_code == 303
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("paperwire_session=")
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert "Secure" not in cookie  # the site is http://
    assert whoami(client)["name"] == "Alice"
    with app.state.db.connect() as conn:
        email, stored = conn.execute(select(users_table.c.email, users_table.c.password_hash)).one()
    assert email == "alice@example.com"
    assert stored.startswith("$argon2id$") and PASSWORD not in stored

    old_session = client.cookies["paperwire_session"]
    csrf = token(client, "/submit")
    response = client.post("/logout", data={"csrf_token": csrf})
    assert response.status_code == 303
    assert whoami(client) is None
    # The old cookie is dead on the server side, not just forgotten by the browser.
    client.cookies.set("paperwire_session", old_session)
    assert whoami(client) is None
    client.cookies.delete("paperwire_session")

    response = log_in(client, "ALICE@example.com", PASSWORD)
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert whoami(client)["name"] == "Alice"


def test_secure_cookie_on_https(make_app):
    app = make_app(base_url="https://papers.example.org")
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        response = register(client)
        cookies = response.headers.get_list("set-cookie")
        assert all("Secure" in c for c in cookies if c.startswith("paperwire_"))


def _normalised(html: str, email: str) -> str:
    return TOKEN_RE.sub("", html).replace(email, "EMAIL")


def test_wrong_password_and_unknown_email_look_the_same(client):
    sign_up(client, "alice@example.com")
    wrong = log_in(client, "alice@example.com", "not the password")
    unknown = log_in(client, "nobody@example.com", "not the password")
    assert wrong.status_code == unknown.status_code == 400
    assert "The email or password is incorrect." in wrong.text
    assert _normalised(wrong.text, "alice@example.com") == _normalised(
        unknown.text, "nobody@example.com"
    )
    assert whoami(client) is None


def test_sign_up_of_an_existing_email(client):
    first = sign_up(client, "alice@example.com")
    again = sign_up(client, "alice@example.com", password="some other password")
    fresh = sign_up(client, "bob@example.com", password="some other password")
    assert first.status_code == again.status_code == fresh.status_code == 303
    assert again.headers["location"] == fresh.headers["location"]
    assert "cannot be used" not in client.get(again.headers["location"]).text
    assert whoami(client) is None


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("not an email", PASSWORD, "valid email"),
        ("bob@example.com", "short", "at least 8"),
        ("bob@example.com", "x" * 200, "at most 128"),
    ],
)
def test_sign_up_validation(client, email, password, message):
    response = sign_up(client, email, password=password)
    assert response.status_code == 400
    assert message in response.text
    assert whoami(client) is None


def test_login_failures_slow_down_one_account_from_one_address(make_app):
    app = make_app(offline="1")
    with (
        TestClient(app, follow_redirects=False, client=("10.0.0.1", 5000)) as attacker,
        TestClient(app, follow_redirects=False, client=("10.0.0.2", 5000)) as owner,
    ):
        sign_up(owner, "alice@example.com")
        for _ in range(3):
            assert log_in(attacker, "alice@example.com", "wrong password!").status_code == 400
        limited = log_in(attacker, "alice@example.com", PASSWORD)  # from there, it waits
        assert limited.status_code == 429
        assert "Too many attempts" in limited.text
        assert int(limited.headers["retry-after"]) > 0
        assert whoami(attacker) is None
        # The same for an email that has no account: no enumeration through the limit.
        for _ in range(3):
            log_in(attacker, "nobody@example.com", "wrong password!")
        assert log_in(attacker, "nobody@example.com", PASSWORD).status_code == 429
        # The owner, from their own address, is not locked out.
        assert log_in(owner, "alice@example.com", PASSWORD).status_code == 303


def test_login_failures_per_address_have_a_ceiling(home, make_app):
    (home / "config.toml").write_text("login_failures_per_ip = 6\n")
    app = make_app(offline="1")
    with (
        TestClient(app, follow_redirects=False, client=("10.0.0.3", 5000)) as client,
        TestClient(app, follow_redirects=False, client=("10.0.0.4", 5000)) as elsewhere,
    ):
        sign_up(elsewhere, "alice@example.com")
        for i in range(6):
            assert log_in(client, f"user{i}@example.com", "wrong password!").status_code == 400
        assert log_in(client, "fresh@example.com", "wrong password!").status_code == 429
        assert log_in(client, "alice@example.com", PASSWORD).status_code == 429
        assert log_in(elsewhere, "alice@example.com", PASSWORD).status_code == 303


def test_escaped_output(client):
    register(client, display_name="<script>alert(1)</script>")
    page = client.get("/collections").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_open_redirects_are_refused(client):
    response = sign_up(client, next="https://evil.example/")
    assert response.headers["location"] == "/signup/sent"
    response = client.post(
        "/login",
        data={
            "email": "alice@example.com",
            "password": PASSWORD,
            "next": "https://evil.example/",
            "csrf_token": token(client),
        },
    )
    assert response.headers["location"] == "/"
    response = client.get("/login?next=//evil.example/")
    assert response.status_code == 303 and response.headers["location"] == "/"


# -- CSRF -----------------------------------------------------------------------------

API_BODIES = {"/api/collections": {"name": "New"}, "/api/me/delete": {"password": PASSWORD}}
FORM_POSTS = [
    ("/signup", {"email": "x@example.com", "password": PASSWORD}),
    ("/login", {"email": "x@example.com", "password": PASSWORD}),
    ("/logout", {}),
    (f"/papers/{IN_CATALOG}/upvote", {}),
    (f"/api/papers/{IN_CATALOG}/upvote", {}),
    ("/submit", {"paper": IN_CATALOG}),
    ("/collections", {"name": "New"}),
    ("/collections/reading/add", {"paper_id": IN_CATALOG}),
    ("/collections/reading/remove", {"paper_id": IN_CATALOG}),
    ("/collections/reading/delete", {}),
    (f"/papers/{IN_CATALOG}/collect", {"collection": "reading"}),
    ("/reset", {"email": "x@example.com"}),
    ("/account/profile", {"display_name": "Mallory"}),
    ("/account/verify", {}),
    ("/account/password", {"password": PASSWORD, "new_password": "x" * 12}),
    ("/account/email", {"email": "new@example.com", "password": PASSWORD}),
    ("/account/sessions/end-all", {}),
    ("/account/tokens", {"name": "t", "scope": "write"}),
    ("/account/export", {}),
    ("/account/delete", {"password": PASSWORD}),
    (f"/moderation/papers/{IN_CATALOG}/hide", {}),
    ("/api/collections", {}),
    ("/api/me/delete", {}),
]


def test_csrf_is_required_on_every_form(make_app):
    """Every state-changing form and API call refuses a missing, foreign or forged token,
    and a request from another site (or an opaque origin) even with a good token."""
    app = make_app(offline="1")
    with (
        TestClient(app, follow_redirects=False) as client,
        TestClient(app, follow_redirects=False) as other,
    ):
        register(client)
        moderator = get_user_by_email(app.state.db, "alice@example.com")
        set_role(app.state.db, moderator.id, "moderator")  # the moderation forms too
        good = token(client, "/submit")
        assert client.post("/collections", data={"name": "Reading", "csrf_token": good}).is_redirect
        foreign = token(other, "/login")  # a valid token, but bound to another browser
        for path, data in FORM_POSTS:
            is_api = path.startswith("/api/")
            for bad in (None, "", foreign, good + "x", "garbage"):
                if is_api:  # JSON clients send the token in the header
                    headers = {} if bad is None else {"X-CSRF-Token": bad}
                    response = client.post(path, headers=headers, json=API_BODIES.get(path))
                else:
                    form = dict(data) if bad is None else {**data, "csrf_token": bad}
                    response = client.post(path, data=form)
                assert response.status_code == 403, (path, bad, response.text)
                assert "CSRF" in response.text or "cookie" in response.text
            # A request that says it comes from elsewhere is refused even with a token.
            for foreign_origin in (
                {"Origin": "https://evil.example"},
                {"Origin": "null"},
                {"Referer": "https://evil.example/form.html"},
            ):
                response = client.post(
                    path,
                    data=None if is_api else {**data, "csrf_token": good},
                    json=API_BODIES.get(path) if is_api else None,
                    headers={**foreign_origin, "X-CSRF-Token": good},
                )
                assert response.status_code == 403, (path, foreign_origin)
        # Nothing changed: still logged in, the collection, vote and paper untouched.
        assert whoami(client) is not None
        assert get_paper(app.state.db, IN_CATALOG)["upvotes"] == 0
        assert get_paper(app.state.db, IN_CATALOG)["hidden_at"] is None
        assert "Reading" in client.get("/collections/reading").text


def test_token_from_before_login_stops_working(client):
    anon = token(client, "/login")
    register(client)
    response = client.post("/collections", data={"name": "x", "csrf_token": anon})
    assert response.status_code == 403


# -- upvotes --------------------------------------------------------------------------


def test_upvote_toggle(client, app):
    db = app.state.db
    # Anonymous: sent to log in (forms) or 401 (fetch); nothing counted.
    response = client.post(f"/papers/{ON_FEED}/upvote", headers={"Referer": "http://testserver/"})
    assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")
    response = client.post(f"/papers/{ON_FEED}/upvote", headers={"Accept": "application/json"})
    assert response.status_code == 401
    assert get_paper(db, ON_FEED)["upvotes"] == 7

    register(client)
    csrf = token(client, "/submit")
    response = client.post(
        f"/papers/{ON_FEED}/upvote", data={"csrf_token": csrf, "next": "/day/2026-02-01"}
    )
    assert response.status_code == 303 and response.headers["location"] == "/day/2026-02-01"
    assert get_paper(db, ON_FEED)["upvotes"] == 8
    response = client.post(
        f"/papers/{ON_FEED}/upvote",
        data={"csrf_token": csrf},
        headers={"Accept": "application/json"},
    )
    assert response.json() == {"upvoted": False, "upvotes": 7}
    response = client.post(
        f"/papers/{ON_FEED}/upvote",
        headers={"Accept": "application/json", "X-CSRF-Token": csrf},
    )
    assert response.json() == {"upvoted": True, "upvotes": 8}

    # The JSON API: toggle, or set idempotently.
    api = f"/api/papers/{ON_FEED}/upvote"
    session_token = client.get("/api/session").json()["csrf_token"]
    headers = {"X-CSRF-Token": session_token}
    assert client.post(api, headers=headers, json={"upvoted": True}).json() == {
        "upvoted": True,
        "upvotes": 8,
    }
    assert client.post(api, headers=headers, json={"upvoted": True}).json()["upvotes"] == 8
    assert client.post(api, headers=headers).json() == {"upvoted": False, "upvotes": 7}
    assert client.post(api, headers=headers, json={"upvoted": "yes"}).status_code == 422
    assert client.post("/api/papers/2601.99999/upvote", headers=headers).status_code == 404
    assert get_paper(db, ON_FEED)["upvotes"] == 7

    # A second user's vote adds to the same count.
    with TestClient(app, follow_redirects=False) as bob:
        register(bob, "bob@example.com")
        bob_token = bob.get("/api/session").json()["csrf_token"]
        r = bob.post(api, headers={"X-CSRF-Token": bob_token})
        assert r.json() == {"upvoted": True, "upvotes": 8}
    assert client.post(api, headers=headers).json() == {"upvoted": True, "upvotes": 9}


def test_api_upvote_anonymous(client):
    assert client.post(f"/api/papers/{ON_FEED}/upvote").status_code == 401


# -- submissions ----------------------------------------------------------------------


def _submit(client: TestClient, value: str):
    return client.post("/submit", data={"paper": value, "csrf_token": token(client, "/submit")})


def test_submit_needs_login(client):
    response = client.get("/submit")
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/submit"


def test_submit_by_id_and_url(client, app):
    register(client, display_name="Alice")
    response = _submit(client, f"https://arxiv.org/abs/{IN_CATALOG}v2")
    assert response.status_code == 200
    assert f"arXiv:{IN_CATALOG} is on the feed of" in response.text
    with app.state.db.connect() as conn:
        row = conn.execute(
            select(feed_submissions).where(feed_submissions.c.paper_id == IN_CATALOG)
        ).one()
    assert row.source == "local" and row.submitter == "Alice"
    again = _submit(client, IN_CATALOG)
    assert again.status_code == 200
    assert "already on today&#39;s feed" in again.text or "already on today's feed" in again.text
    hf = _submit(client, f"arxiv:{ON_FEED}")
    assert "already on the feed of 2026-02-01" in hf.text
    bad = _submit(client, "not a paper")
    assert bad.status_code == 400 and "not an arXiv id" in bad.text


def test_submit_unknown_paper_offline(client, app):
    register(client)
    response = _submit(client, "2603.04567")
    assert response.status_code == 503
    assert "offline" in response.text and "cannot be fetched" in response.text
    assert get_paper(app.state.db, "2603.04567") is None


def test_submit_unknown_paper_arxiv_unreachable(make_app):
    app = make_app(arxiv_api_url=f"http://127.0.0.1:{closed_port()}/api/query", arxiv_delay="0")
    with TestClient(app, follow_redirects=False) as client:
        register(client)
        response = _submit(client, "https://arxiv.org/abs/2603.04567")
        assert response.status_code == 503
        assert "arXiv cannot be reached" in response.text
        assert get_paper(app.state.db, "2603.04567") is None


# -- collections ----------------------------------------------------------------------


def test_collections_crud(client, app):
    assert client.get("/collections").status_code == 303  # anonymous: log in first
    register(client)
    csrf = token(client, "/collections")
    response = client.post("/collections", data={"name": "To read", "csrf_token": csrf})
    assert response.status_code == 303 and response.headers["location"] == "/collections/to-read"
    dup = client.post("/collections", data={"name": "to READ", "csrf_token": csrf})
    assert dup.status_code == 400 and "already have a collection" in dup.text

    add = client.post(
        "/collections/to-read/add",
        data={"paper_id": f"https://arxiv.org/abs/{ON_FEED}", "csrf_token": csrf},
    )
    assert add.status_code == 303
    client.post(
        f"/papers/{IN_CATALOG}/collect",
        data={"collection": "to-read", "csrf_token": csrf, "next": f"/papers/{IN_CATALOG}"},
    )
    page = client.get("/collections/to-read").text
    assert f"Paper {ON_FEED}" in page and f"Paper {IN_CATALOG}" in page
    assert "2 papers" in client.get("/collections").text

    # The paper page's control can make a new collection on the way.
    response = client.post(
        f"/papers/{ON_FEED}/collect", data={"new_collection": "Favourites", "csrf_token": csrf}
    )
    assert response.status_code == 303
    assert f"Paper {ON_FEED}" in client.get("/collections/favourites").text

    client.post("/collections/to-read/remove", data={"paper_id": ON_FEED, "csrf_token": csrf})
    page = client.get("/collections/to-read").text
    assert f"Paper {ON_FEED}" not in page and f"Paper {IN_CATALOG}" in page
    missing = client.post(
        "/collections/to-read/add", data={"paper_id": "2601.99999", "csrf_token": csrf}
    )
    assert missing.status_code == 404

    response = client.post("/collections/to-read/delete", data={"csrf_token": csrf})
    assert response.status_code == 303 and response.headers["location"] == "/collections"
    assert client.get("/collections/to-read").status_code == 404
    assert get_paper(app.state.db, IN_CATALOG) is not None

    # Another user sees none of it.
    with TestClient(app, follow_redirects=False) as bob:
        register(bob, "bob@example.com")
        assert bob.get("/collections/favourites").status_code == 404
        bob_csrf = token(bob, "/collections")
        r = bob.post("/collections/favourites/delete", data={"csrf_token": bob_csrf})
        assert r.status_code == 404
    assert client.get("/collections/favourites").status_code == 200


def test_add_to_collection_macro(client, app):
    from paperwire.web.templating import env

    template = env.from_string(
        '{% from "accounts/macros.html" import add_to_collection %}'
        "{{ add_to_collection(pid, choices, 'TOKEN') }}"
    )
    anonymous = template.render(pid=ON_FEED, choices=None)
    assert f"/login?next=/papers/{ON_FEED}" in anonymous and "<form" not in anonymous

    from paperwire.accounts import collections as colls

    register(client)
    user = get_user_by_email(app.state.db, "alice@example.com")
    now = colls.as_utc(__import__("datetime").datetime.now())
    colls.create(app.state.db, user.id, "Read <soon>", now=now)
    colls.create(app.state.db, user.id, "Done", now=now)
    colls.add_paper(app.state.db, user.id, "done", ON_FEED, now=now)
    choices = {
        "collections": colls.list_for_user(app.state.db, user.id),
        "containing": colls.slugs_containing(app.state.db, user.id, ON_FEED),
    }
    html = template.render(pid=ON_FEED, choices=choices)
    assert f'action="/papers/{ON_FEED}/collect"' in html
    assert 'name="csrf_token" value="TOKEN"' in html
    assert '<option value="read-soon">Read &lt;soon&gt;</option>' in html
    assert '<a href="/collections/done">Done</a>' in html  # already in it, so not offered
    assert '<option value="done">' not in html


def test_sign_up_rate_limit_is_configurable(home, make_app):
    (home / "config.toml").write_text("signups_per_ip = 2\n")
    app = make_app(offline="1")
    with TestClient(app, follow_redirects=False) as client:
        for i in range(2):
            assert sign_up(client, f"user{i}@example.com").status_code == 303
            client.cookies.clear()
        limited = sign_up(client, "user9@example.com")
        assert limited.status_code == 429
        assert "Too many attempts" in limited.text
        assert "retry-after" in limited.headers


def test_versioned_ids_vote_for_the_paper(client, app):
    register(client)
    headers = {"X-CSRF-Token": client.get("/api/session").json()["csrf_token"]}
    response = client.post(f"/api/papers/{ON_FEED}v3/upvote", headers=headers)
    assert response.json() == {"upvoted": True, "upvotes": 8}


def test_paper_page_offers_collections(client, app):
    anonymous = client.get(f"/papers/{ON_FEED}")
    assert anonymous.status_code == 200
    assert f"/login?next=/papers/{ON_FEED}" in anonymous.text
    assert f'action="/papers/{ON_FEED}/collect"' not in anonymous.text

    from paperwire.accounts import collections as colls

    register(client)
    user = get_user_by_email(app.state.db, "alice@example.com")
    now = colls.as_utc(__import__("datetime").datetime.now())
    colls.create(app.state.db, user.id, "To read", now=now)
    page = client.get(f"/papers/{ON_FEED}")
    assert f'action="/papers/{ON_FEED}/collect"' in page.text
    assert '<option value="to-read">To read</option>' in page.text
    csrf = TOKEN_RE.search(page.text).group(1)
    added = client.post(
        f"/papers/{ON_FEED}/collect", data={"collection": "to-read", "csrf_token": csrf}
    )
    assert added.status_code in (302, 303)
    page = client.get(f"/papers/{ON_FEED}")
    assert '<a href="/collections/to-read">To read</a>' in page.text


def test_votes_reach_search_filters_and_sorts(sample_client):
    """After a vote, search's minimum-upvotes filter and upvote sort use the new count."""
    client = sample_client

    def search(limit: int, **params) -> list[dict]:
        # A different limit each time, so no answer comes from the page cache.
        r = client.get("/api/papers/search", params={"limit": limit, **params})
        assert r.status_code == 200, r.text
        return r.json()

    top = search(1, q="zero bubble pipeline parallelism")[0]
    pid, title, votes = top["paper"]["id"], top["title"], top["paper"]["upvotes"]
    assert pid not in [i["paper"]["id"] for i in search(20, q=title, min_upvotes=votes + 1)]

    register(client)
    headers = {"X-CSRF-Token": client.get("/api/session").json()["csrf_token"]}
    vote = client.post(f"/api/papers/{pid}/upvote", headers=headers, json={"upvoted": True})
    assert vote.json() == {"upvoted": True, "upvotes": votes + 1}
    found = search(19, q=title, min_upvotes=votes + 1)
    assert pid in [i["paper"]["id"] for i in found]
    ranked = search(50, q=title, sort="upvotes")
    counts = [i["paper"]["upvotes"] for i in ranked]
    assert counts == sorted(counts, reverse=True)  # the index agrees with the catalog

    client.post(f"/api/papers/{pid}/upvote", headers=headers, json={"upvoted": False})
    assert pid not in [i["paper"]["id"] for i in search(18, q=title, min_upvotes=votes + 1)]
