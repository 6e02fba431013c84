"""Export my data and delete my account, on the site and through the API: the export
holds everything, and after the deletion the database holds nothing of the person."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from paperwire.db.schema import metadata
from paperwire.db.schema.accounts import moderation_log, users
from paperwire.db.schema.catalog import feed_submissions, papers

from .conftest import PASSWORD, confirm, link, log_in, post_form, sign_up, unique, whoami
from .test_tokens import SECRET_RE, bearer

VOTED = ["2603.00001", "2603.00002"]


def _counts(site) -> dict[str, int]:
    db = site.db()
    try:
        with db.connect() as conn:
            rows = conn.execute(select(papers.c.id, papers.c.upvotes).where(papers.c.id.in_(VOTED)))
            return dict(rows.all())
    finally:
        db.dispose()


def _person(site, client, email: str, name: str, submits: str) -> dict:
    """A user who did a bit of everything; returns what the test needs to find them by."""
    assert sign_up(client, email, display_name=name).status_code == 303
    confirm(site, client, email)
    with site.client(ip="127.0.0.9") as other:
        log_in(other, email, "a wrong password")  # a throttle row keyed by this account
    assert log_in(client, email).status_code == 303
    me = whoami(client)
    csrf = client.get("/api/session").json()["csrf_token"]
    headers = {"X-CSRF-Token": csrf}
    for pid in VOTED:
        assert client.post(f"/api/papers/{pid}/upvote", headers=headers).json()["upvoted"]
    assert (
        client.post("/api/collections", json={"name": "Mine"}, headers=headers).status_code == 201
    )
    assert client.put("/api/collections/mine/papers/2603.00004", headers=headers).status_code == 200
    assert client.post("/api/submissions", json={"paper": submits}, headers=headers).json()[
        "status"
    ] in ("added", "duplicate")
    page = post_form(client, "/account/tokens", "/account/tokens", name="script", scope="write")
    secret = SECRET_RE.search(page.text).group(1)
    # A confirmed digest subscription for the same address.
    assert client.post("/api/subscriptions", json={"email": email}).status_code == 202
    path = link(site.mail_to(email, "confirm"), "/subscriptions/confirm/")
    assert client.post(path).status_code == 200
    # A moderator action, so the audit log names them.
    site.promote(me["id"])
    assert post_form(client, "/moderation/papers/2603.00004/hide", "/moderation").status_code == 303
    assert (
        post_form(client, "/moderation/papers/2603.00004/unhide", "/moderation").status_code == 303
    )
    return {"id": me["id"], "secret": secret}


def _traces(site, email: str, name: str, user_id: int) -> list[str]:
    """Every place in the database that still holds something of the person."""
    found = []
    db = site.db()
    try:
        with db.connect() as conn:
            for table in metadata.sorted_tables:
                for row in conn.execute(select(table)):
                    text = json.dumps([str(v) for v in row], ensure_ascii=False)
                    if email in text or name in text:
                        found.append(f"{table.name}: {text[:200]}")
                for column in table.columns:
                    refers = any(fk.column.table is users for fk in column.foreign_keys)
                    if refers and conn.execute(select(column).where(column == user_id)).first():
                        found.append(f"{table.name}.{column.name} = {user_id}")
            if conn.execute(select(users).where(users.c.id == user_id)).first():
                found.append("users row")
    finally:
        db.dispose()
    return found


def test_export_holds_everything(site):
    email, name = unique("export"), "Exporter Zebedee"
    with site.client() as client:
        person = _person(site, client, email, name, "2603.00006")
        response = post_form(client, "/account/export", "/account")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        assert "attachment" in response.headers["content-disposition"]
        data = response.json()
        via_api = client.get("/api/me/export", headers=bearer(person["secret"])).json()
    for doc in (data, via_api):
        assert doc["format"] == "paperwire-export" and doc["version"] == 1
        assert doc["profile"]["email"] == email and doc["profile"]["display_name"] == name
        assert sorted(v["paper_id"] for v in doc["votes"]) == VOTED
        (coll,) = doc["collections"]
        assert coll["name"] == "Mine" and [p["paper_id"] for p in coll["papers"]] == ["2603.00004"]
        (sub,) = doc["subscriptions"]
        assert sub["email"] == email and sub["status"] == "active"
        assert [t["name"] for t in doc["api_tokens"]] == ["script"]
        assert person["secret"] not in json.dumps(doc)  # never the secret itself
        assert doc["sessions"] and doc["submissions"][0]["paper_id"] == "2603.00006"
        assert {a["action"] for a in doc["moderation_actions"]} == {"hide_paper", "unhide_paper"}
        assert any(m["to"] == email for m in doc["account_mail"])
        assert "password_hash" not in json.dumps(doc) and "argon2" not in json.dumps(doc)


@pytest.mark.parametrize(("how", "submits"), [("site", "2603.00007"), ("api", "2603.00008")])
def test_deletion_leaves_nothing_behind(site, how, submits):
    email, name = unique(f"delete-{how}"), f"Deletable Quux {how}"
    before = _counts(site)
    with site.client() as client:
        person = _person(site, client, email, name, submits)
        assert _counts(site) == {pid: n + 1 for pid, n in before.items()}
        assert _traces(site, email, name, person["id"])  # the scan does find them
        if how == "site":
            wrong = post_form(client, "/account/delete", "/account/delete", password="nope nope")
            assert wrong.status_code == 400 and whoami(client) is not None
            done = post_form(client, "/account/delete", "/account/delete", password=PASSWORD)
            assert done.status_code == 200 and "deleted" in done.text
        else:
            wrong = client.post(
                "/api/me/delete", json={"password": "nope"}, headers=bearer(person["secret"])
            )
            assert wrong.status_code == 400
            done = client.post(
                "/api/me/delete", json={"password": PASSWORD}, headers=bearer(person["secret"])
            )
            assert done.status_code == 200 and done.json() == {"deleted": True}
        assert whoami(client) is None
        assert client.get("/api/me", headers=bearer(person["secret"])).status_code == 401
        assert log_in(client, email).status_code == 400
    assert _traces(site, email, name, person["id"]) == []
    assert _counts(site) == before  # the votes are out of the counts
    db = site.db()
    try:
        with db.connect() as conn:
            # What they did for others stays, without them: the paper on its feed, the log.
            sub = conn.execute(
                select(feed_submissions).where(feed_submissions.c.paper_id == submits)
            ).one()
            assert sub.user_id is None and sub.submitter is None
            assert conn.execute(
                select(moderation_log).where(
                    moderation_log.c.actor_id.is_(None), moderation_log.c.via == "site"
                )
            ).first()
    finally:
        db.dispose()
    # The address is free again.
    with site.client() as client:
        assert sign_up(client, email).status_code == 303
        assert site.mail_to(email, "account-verify", after=1)
