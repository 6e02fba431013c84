"""Roles and moderation over HTTP and the CLI: hiding papers from every feed, removing
submissions, bans that stop votes counting, and the audit log of it all."""

from __future__ import annotations

import json
import re
import time
import xml.etree.ElementTree as ET

from sqlalchemy import select

from paperwire.db.schema.catalog import papers

from .conftest import PASSWORD, log_in, post_form, register, sign_up, unique, whoami

SPAM = "2603.00003"


def upvotes_of(site, paper_id: str) -> int:
    db = site.db()
    try:
        with db.connect() as conn:
            return conn.execute(
                select(papers.c.upvotes).where(papers.c.id == paper_id)
            ).scalar_one()
    finally:
        db.dispose()


def api_upvotes(client, paper_id: str) -> int:
    return client.get(f"/api/papers/{paper_id}").json()["upvotes"]


def moderator(site, client) -> str:
    """Register a user and have the site's admin make them a moderator."""
    email = unique("mod")
    register(site, client, email)
    site.promote(whoami(client)["id"])
    assert whoami(client)["role"] == "moderator"
    return email


def test_users_cli(site):
    admin = unique("admin")
    created = site.cli(
        "users", "create-admin", admin, "--name", "Root", "--password-stdin", input=PASSWORD + "\n"
    )
    assert created.returncode == 0, created.stderr
    again = site.cli("users", "create-admin", admin, "--password-stdin", input=PASSWORD + "\n")
    assert again.returncode == 1 and "promote" in again.stderr
    listed = json.loads(site.cli("users", "list", "--json", "--role", "admin").stdout)
    (row,) = [u for u in listed if u["email"] == admin]
    assert row["role"] == "admin" and row["verified"] is True and row["name"] == "Root"
    missing = site.cli("users", "ban", unique("nobody"))
    assert missing.returncode == 1 and "No user" in missing.stderr
    promoted = site.cli("users", "promote", admin, "--role", "moderator")
    assert promoted.returncode == 0 and "now moderator" in promoted.stdout
    assert site.cli("users", "promote", admin, "--role", "admin").returncode == 0
    with site.client() as client:
        assert log_in(client, admin).status_code == 303
        assert whoami(client)["role"] == "admin"
        assert client.get("/moderation").status_code == 200


def test_moderation_pages_are_for_moderators(site):
    with site.client() as anonymous:
        response = anonymous.get("/moderation")
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
    with site.client() as user:
        register(site, user, unique("plain"), verified=False)
        assert user.get("/moderation").status_code == 403
        csrf = user.get("/api/session").json()["csrf_token"]
        hidden = user.post(f"/moderation/papers/{SPAM}/hide", data={"csrf_token": csrf})
        assert hidden.status_code == 403
        assert user.get(f"/papers/{SPAM}").status_code == 200  # nothing happened


def _everywhere(client) -> dict[str, bool]:
    """Where the spam paper shows up."""
    day = client.get("/api/daily_papers", params={"date": "2026-03-02"}).json()
    week = client.get("/api/daily_papers", params={"week": "2026-W10", "limit": 11}).json()
    rss = ET.fromstring(client.get("/rss.xml", params={"q": "watches"}).content)
    atom = client.get("/atom.xml", params={"q": "cheap watches"}).text
    found = client.get("/api/papers/search", params={"q": "cheap watches"}).json()
    return {
        "day api": SPAM in [i["paper"]["id"] for i in day],
        "week api": SPAM in [i["paper"]["id"] for i in week],
        "day page": f"/papers/{SPAM}" in client.get("/day/2026-03-02").text,
        "rss": any(SPAM in (i.findtext("link") or "") for i in rss.iter("item")),
        "atom": f"/papers/{SPAM}" in atom,
        "search": SPAM in [i["paper"]["id"] for i in found],
        "paper page": client.get(f"/papers/{SPAM}").status_code == 200,
        "paper api": client.get(f"/api/papers/{SPAM}").status_code == 200,
    }


def test_hiding_a_paper_takes_it_off_every_feed(site):
    built = site.cli("reindex", "--no-progress")  # a keyword index, so search is the real one
    assert built.returncode == 0, built.stderr
    with site.client() as mod, site.client() as reader:
        moderator(site, mod)
        register(site, reader, unique("reader"), verified=False)
        assert all(_everywhere(reader).values()), _everywhere(reader)

        hide = post_form(mod, f"/moderation/papers/{SPAM}/hide", f"/papers/{SPAM}", note="spam")
        assert hide.status_code == 303
        with site.client() as anonymous:
            assert not any(_everywhere(anonymous).values()), _everywhere(anonymous)
        assert not any(_everywhere(reader).values()), _everywhere(reader)
        csrf = reader.get("/api/session").json()["csrf_token"]
        vote = reader.post(f"/api/papers/{SPAM}/upvote", headers={"X-CSRF-Token": csrf})
        assert vote.status_code == 404
        # A moderator's token sees no hidden page: pages without a session are shared.
        made = post_form(mod, "/account/tokens", "/account/tokens", name="mod", scope="read")
        secret = re.search(r"data-token>(pw_[^<]+)<", made.text).group(1)
        as_token = mod.get(f"/papers/{SPAM}", headers={"Authorization": f"Bearer {secret}"})
        assert as_token.status_code == 404
        # Moderators still see its page, marked, with the way back.
        page = mod.get(f"/papers/{SPAM}")
        assert page.status_code == 200 and "Hidden by the moderators" in page.text
        assert SPAM in mod.get("/moderation").text

        show = post_form(mod, f"/moderation/papers/{SPAM}/unhide", "/moderation")
        assert show.status_code == 303
        # Search hears of it after the response (hiding needs no wait: results are
        # filtered as they are read; showing again waits for the index update).
        deadline = time.monotonic() + 60
        while not all((found := _everywhere(reader)).values()) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert all(found.values()), found
        log = mod.get("/moderation/log").text
        assert "hide paper" in log and "unhide paper" in log and "spam" in log


def test_removing_a_submission(site):
    with site.client() as mod, site.client() as user:
        moderator(site, mod)
        register(site, user, unique("submitter"), verified=False)
        done = post_form(user, "/submit", "/submit", paper="2603.00005")
        assert done.status_code == 200 and "is on the feed of" in done.text
        today = re.search(r"is on the feed of (\d{4}-\d\d-\d\d)", done.text).group(1)

        def ids() -> list[str]:
            items = user.get("/api/daily_papers", params={"date": today}).json()
            return [i["paper"]["id"] for i in items]

        assert "2603.00005" in ids()
        assert "2603.00005" in mod.get("/moderation").text
        removed = post_form(mod, "/moderation/submissions/2603.00005/remove", "/moderation")
        assert removed.status_code == 303
        assert "2603.00005" not in ids()
        assert user.get("/api/papers/2603.00005").status_code == 200  # the paper stays
        assert "remove submission" in mod.get("/moderation/log").text
        again = post_form(mod, "/moderation/submissions/2603.00005/remove", "/moderation")
        assert again.status_code == 404


def test_a_banned_users_votes_stop_counting(site):
    paper = "2603.00001"
    with site.client() as mod, site.client(ip="127.0.0.8") as voter:
        moderator(site, mod)
        email = unique("voter")
        register(site, voter, email)
        before = upvotes_of(site, paper)
        csrf = voter.get("/api/session").json()["csrf_token"]
        assert (
            voter.post(f"/api/papers/{paper}/upvote", headers={"X-CSRF-Token": csrf}).json()[
                "upvotes"
            ]
            == before + 1
        )
        user_id = whoami(voter)["id"]

        banned = post_form(mod, f"/moderation/users/{user_id}/ban", "/moderation", note="vote ring")
        assert banned.status_code == 303
        assert upvotes_of(site, paper) == before
        assert api_upvotes(mod, paper) == before
        assert whoami(voter) is None  # the session ended
        refused = log_in(voter, email)
        assert refused.status_code == 403 and "suspended" in refused.text
        # The vote is kept (an unban counts it again), but is not counted.
        assert (
            post_form(mod, f"/moderation/users/{user_id}/unban", "/moderation").status_code == 303
        )
        assert upvotes_of(site, paper) == before + 1
        assert log_in(voter, email).status_code == 303
        # The same from the command line.
        out = site.cli("users", "ban", email, "--reason", "again")
        assert out.returncode == 0 and "1 paper(s) recounted" in out.stdout
        assert upvotes_of(site, paper) == before
        assert whoami(voter) is None
        assert site.cli("users", "unban", str(user_id)).returncode == 0
        assert upvotes_of(site, paper) == before + 1
        log = mod.get("/moderation/log").text
        assert log.count("unban user") == 2 and "vote ring" in log and "command line" in log


def test_moderators_cannot_ban_moderators_or_themselves(site):
    with site.client() as one, site.client() as two:
        moderator(site, one)
        moderator(site, two)
        two_id = whoami(two)["id"]
        refused = post_form(one, f"/moderation/users/{two_id}/ban", "/moderation")
        assert refused.status_code == 403
        assert (
            post_form(one, f"/moderation/users/{whoami(one)['id']}/ban", "/moderation").status_code
            == 403
        )
        role = post_form(one, f"/moderation/users/{two_id}/role", "/moderation", role="admin")
        assert role.status_code == 403  # only admins change roles
        assert whoami(two)["role"] == "moderator"


def test_sign_up_of_a_banned_address_says_nothing(site):
    email = unique("banned")
    with site.client() as client:
        register(site, client, email)
    assert site.cli("users", "ban", email).returncode == 0
    with site.client() as client:
        response = sign_up(client, email)
        assert response.status_code == 303 and response.headers["location"] == "/signup/sent"
