"""Personal access tokens over HTTP: shown once, stored hashed, scoped, revocable, and
accepted by every JSON API write without a CSRF token."""

from __future__ import annotations

import hashlib
import re

from sqlalchemy import select

from paperwire.db.schema.accounts import api_tokens, upvotes, users

from .conftest import post_form, register, unique

SECRET_RE = re.compile(r'<code class="pw-token" data-token>(pw_[A-Za-z0-9_\-]+)</code>')


def make_token(site, client, name: str, scope: str) -> str:
    page = post_form(client, "/account/tokens", "/account/tokens", name=name, scope=scope)
    assert page.status_code == 201, page.text
    return SECRET_RE.search(page.text).group(1)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _stored(site, email: str) -> list:
    db = site.db()
    try:
        with db.connect() as conn:
            return conn.execute(
                select(api_tokens)
                .join(users, users.c.id == api_tokens.c.user_id)
                .where(users.c.email == email)
            ).all()
    finally:
        db.dispose()


def test_tokens_are_shown_once_and_stored_hashed(site):
    email = unique("tokens")
    with site.client() as client:
        register(site, client, email)
        secret = make_token(site, client, "my <script> script", "write")
        listing = client.get("/account/tokens").text
        assert secret not in listing  # shown once, never again
        assert "my &lt;script&gt; script" in listing and secret[:10] in listing
        (row,) = _stored(site, email)
        assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in str(tuple(row)) and row.last_used_at is None
        assert row.scope == "write"


def test_unconfirmed_accounts_get_no_tokens(site):
    email = unique("unconfirmed")
    with site.client() as client:
        register(site, client, email, verified=False)
        page = post_form(client, "/account/tokens", "/account/tokens", name="x", scope="read")
        assert page.status_code == 400 and "Confirm your email" in page.text
        assert _stored(site, email) == []


def test_bearer_tokens_on_every_api_write(site):
    email = unique("script")
    with site.client() as client:
        register(site, client, email)
        write = make_token(site, client, "writer", "write")
        read = make_token(site, client, "reader", "read")
    # A script: no cookies, no CSRF token, just the header.
    with site.client(ip="127.0.0.7") as script:
        me = script.get("/api/me", headers=bearer(read))
        assert me.status_code == 200 and me.json()["email"] == email
        session = script.get("/api/session", headers=bearer(read)).json()
        assert session["auth"] == "token:read" and session["user"]["verified"] is True

        # A read token cannot upvote (nor anything else that writes).
        denied = script.post("/api/papers/2603.00001/upvote", headers=bearer(read))
        assert denied.status_code == 403 and "read-only" in denied.json()["message"]
        assert 'error="insufficient_scope"' in denied.headers["www-authenticate"]
        assert (
            script.post("/api/collections", json={"name": "x"}, headers=bearer(read)).status_code
            == 403
        )
        assert script.cookies.get("paperwire_session") is None

        # A write token can: upvote, collections, submit, subscribe.
        vote = script.post(
            "/api/papers/2603.00001/upvote", json={"upvoted": True}, headers=bearer(write)
        )
        assert vote.status_code == 200 and vote.json()["upvoted"] is True
        coll = script.post("/api/collections", json={"name": "Reading list"}, headers=bearer(write))
        assert coll.status_code == 201 and coll.json()["slug"] == "reading-list"
        put = script.put("/api/collections/reading-list/papers/2603.00002", headers=bearer(write))
        assert put.json() == {"changed": True}
        # HTML pages are shared by anonymous viewers (no cookie): a token's user must
        # not end up in the shared copy.
        page = script.get("/papers/2603.00002", headers=bearer(read)).text
        with site.client() as anonymous:
            shared = anonymous.get("/papers/2603.00002").text
        assert "Reading list" not in page and "Reading list" not in shared
        listed = script.get("/api/collections/reading-list", headers=bearer(read)).json()
        assert [p["id"] for p in listed["papers"]] == ["2603.00002"]
        gone = script.delete(
            "/api/collections/reading-list/papers/2603.00002", headers=bearer(write)
        )
        assert gone.json() == {"changed": True}
        submitted = script.post(
            "/api/submissions", json={"paper": "2603.00004"}, headers=bearer(write)
        )
        assert submitted.status_code == 200 and submitted.json()["status"] in ("added", "duplicate")
        subscribed = script.post(
            "/api/subscriptions",
            json={"email": email, "topics": ["diffusion"]},
            headers=bearer(write),
        )
        assert subscribed.status_code == 202
        assert (
            script.post(
                "/api/subscriptions", json={"email": email}, headers=bearer(read)
            ).status_code
            == 403
        )
        assert script.delete("/api/collections/reading-list", headers=bearer(write)).json() == {
            "changed": True
        }

        tokens = script.get("/api/tokens", headers=bearer(read)).json()
        assert {t["name"] for t in tokens} == {"writer", "reader"}
        assert all(t["last_used_at"] for t in tokens)

        # Revoked: the token stops working at once, on reads too.
        writer_id = next(t["id"] for t in tokens if t["name"] == "writer")
        assert script.delete(f"/api/tokens/{writer_id}", headers=bearer(write)).status_code == 200
        dead = script.post("/api/papers/2603.00001/upvote", headers=bearer(write))
        assert (
            dead.status_code == 401 and 'error="invalid_token"' in dead.headers["www-authenticate"]
        )
        assert script.get("/api/me", headers=bearer(write)).status_code == 401
        assert script.get("/api/me", headers=bearer("pw_" + "x" * 43)).status_code == 401
        assert script.get("/api/me").status_code == 401  # and no token at all
    db = site.db()
    try:
        with db.connect() as conn:
            voted = (
                conn.execute(
                    select(upvotes.c.paper_id)
                    .join(users, users.c.id == upvotes.c.user_id)
                    .where(users.c.email == email)
                )
                .scalars()
                .all()
            )
    finally:
        db.dispose()
    assert voted == ["2603.00001"]


def test_revoking_from_the_site(site):
    email = unique("revoke")
    with site.client() as client:
        register(site, client, email)
        secret = make_token(site, client, "temporary", "read")
        assert client.get("/api/me", headers=bearer(secret)).status_code == 200
        # A token request ignores the cookies: the session does not lend it its rights.
        csrf = client.get("/api/session").json()["csrf_token"]
        both = {**bearer(secret), "X-CSRF-Token": csrf}
        assert client.post("/api/papers/2603.00001/upvote", headers=both).status_code == 403
        (row,) = _stored(site, email)
        done = post_form(client, f"/account/tokens/{row.id}/revoke", "/account/tokens")
        assert done.status_code == 303
        assert client.get("/api/me", headers=bearer(secret)).status_code == 401
        assert client.get("/api/me").status_code == 200  # the session itself still works
        assert _stored(site, email) == []
        # Someone else's token id is not yours to revoke.
        other = post_form(client, f"/account/tokens/{row.id}/revoke", "/account/tokens")
        assert other.status_code == 404


def test_openapi_documents_the_token(site):
    with site.client() as client:
        schema = client.get("/api/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearerToken"] == {**schemes["bearerToken"], "type": "http", "scheme": "bearer"}
    upvote = schema["paths"]["/api/papers/{paper_id}/upvote"]["post"]
    assert {"bearerToken": []} in upvote["security"]
    assert {"sessionCookie": [], "csrfToken": []} in upvote["security"]
    for path in ("/api/collections", "/api/submissions", "/api/me/delete"):
        ops = schema["paths"][path]
        writes = [op for method, op in ops.items() if method != "get"]
        assert writes and all({"bearerToken": []} in op["security"] for op in writes), path
