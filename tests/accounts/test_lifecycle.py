"""The account lifecycle end to end through the mails a real server sends over SMTP:
confirming the address, resetting the password, changing the address and the
password, and the session list with "log out everywhere"."""

from __future__ import annotations

import hashlib
import re
import time

from sqlalchemy import select

from paperwire.accounts.links import AccountLinks
from paperwire.db.schema.accounts import users

from .conftest import (
    PASSWORD,
    TOKEN_RE,
    confirm,
    link,
    log_in,
    post_form,
    sign_up,
    text_of,
    token,
    unique,
    whoami,
)

NEW_PASSWORD = "a brand new passphrase"
SESSION_RE = re.compile(r'action="/account/sessions/([0-9a-f]{16})/end"')


def _verified_at(site, email: str):
    db = site.db()
    try:
        with db.connect() as conn:
            return conn.execute(
                select(users.c.email_verified_at).where(users.c.email == email)
            ).scalar_one()
    finally:
        db.dispose()


def test_confirming_the_address_by_mail(site):
    email = unique("confirm")
    with site.client() as client:
        assert sign_up(client, email).status_code == 303
        # Unconfirmed, the account can log in, browse, vote and save.
        assert log_in(client, email).status_code == 303
        assert whoami(client)["verified"] is False
        headers = {"X-CSRF-Token": client.get("/api/session").json()["csrf_token"]}
        vote = client.post("/api/papers/2603.00002/upvote", headers=headers)
        assert vote.status_code == 200 and vote.json()["upvoted"] is True
        saved = client.post("/api/collections", json={"name": "Later"}, headers=headers)
        assert saved.status_code == 201
        assert "not confirmed" in client.get("/account").text

        message = site.mail_to(email, "account-verify")
        assert message.message["To"] == email
        path = link(message, "/account/verify/")
        # Opening the link changes nothing (mail scanners prefetch links)...
        assert client.get(path).status_code == 200
        assert _verified_at(site, email) is None
        # ...the button on that page confirms.
        done = post_form(client, path, path)
        assert done.status_code == 200 and "confirmed" in done.text
        assert whoami(client)["verified"] is True
        assert _verified_at(site, email) is not None
        again = post_form(client, path, path)  # confirming twice is harmless
        assert again.status_code == 200 and "confirmed" in again.text
        assert client.get("/account/verify/forged-token").status_code == 404


def test_resend_confirmation_from_the_settings(site):
    email = unique("resend")
    with site.client() as client:
        sign_up(client, email)
        log_in(client, email)
        site.mail_to(email, "account-verify")
        response = post_form(client, "/account/verify", "/account")
        assert response.status_code == 303
        second = site.mail_to(email, "account-verify", after=1)
        post = post_form(client, link(second, "/account/verify/"), "/account")
        assert post.status_code == 200
        assert whoami(client)["verified"] is True


def test_password_reset_by_mail(site):
    email = unique("reset")
    with site.client() as owner:
        sign_up(owner, email)
        confirm(site, owner, email)
        log_in(owner, email)
    with site.client(ip="127.0.0.4") as laptop:  # another session, ended by the reset
        assert log_in(laptop, email).status_code == 303
    with site.client() as client:
        unknown = post_form(client, "/reset", "/reset", email=unique("nobody"))
        known = post_form(client, "/reset", "/reset", email=email)
        assert unknown.status_code == known.status_code == 200
        assert TOKEN_RE.sub("", unknown.text) == TOKEN_RE.sub("", known.text)
        message = site.mail_to(email, "account-reset")
        assert "one hour" in text_of(message)
        path = link(message, "/reset/")
        page = client.get(path)
        assert page.status_code == 200 and email in page.text
        mismatch = post_form(client, path, path, password=NEW_PASSWORD, password2="something else")
        assert mismatch.status_code == 400
        weak = post_form(client, path, path, password="short", password2="short")
        assert weak.status_code == 400 and "at least 8" in weak.text
        done = post_form(client, path, path, password=NEW_PASSWORD, password2=NEW_PASSWORD)
        assert done.status_code == 303 and done.headers["location"] == "/account?reset=1"
        assert whoami(client)["name"] == email.split("@")[0]  # logged in with a new session
        # Single use: the link is dead now.
        assert client.get(path).status_code == 404
    with site.client(ip="127.0.0.4") as laptop:
        assert log_in(laptop, email).status_code == 400  # the old password is gone
        assert log_in(laptop, email, NEW_PASSWORD).status_code == 303


def test_reset_links_expire(site):
    email = unique("expire")
    with site.client() as client:
        sign_up(client, email)
        confirm(site, client, email)
    db = site.db()
    try:
        with db.connect() as conn:
            row = conn.execute(
                select(users.c.id, users.c.password_hash).where(users.c.email == email)
            ).one()
    finally:
        db.dispose()
    # The key the server signs with: the shared one in server mode, else the home's.
    secret = site.env.get("PAPERWIRE_SECRET_KEY") or (
        (site.server.home / "secret_key").read_text().strip()
    )
    old = AccountLinks(secret, clock=lambda: time.time() - 2 * 3600).reset(
        row.id, row.password_hash
    )
    fresh = AccountLinks(secret).reset(row.id, row.password_hash)
    with site.client() as client:
        assert client.get(f"/reset/{fresh}").status_code == 200  # the same link, made now, works
        assert client.get(f"/reset/{old}").status_code == 404
        tampered = fresh[:-3] + ("AAA" if not fresh.endswith("AAA") else "BBB")
        assert client.get(f"/reset/{tampered}").status_code == 404


def test_reset_of_an_unconfirmed_account_confirms_first(site):
    email = unique("unconfirmed")
    with site.client() as client:
        sign_up(client, email)
        post_form(client, "/reset", "/reset", email=email)
        message = site.mail_to(email, "account-confirm-then-reset")
        assert site.mail.to(email, "account-reset") == []  # no reset mail to an unproven address
        path = link(message, "/account/verify/")
        step = post_form(client, path, path)
        assert step.status_code == 303 and step.headers["location"].startswith("/reset/")
        reset_path = step.headers["location"]
        done = post_form(
            client, reset_path, reset_path, password=NEW_PASSWORD, password2=NEW_PASSWORD
        )
        assert done.status_code == 303
        assert whoami(client)["verified"] is True
        # That link led to a new password once; it is no reset link for seven days.
        assert post_form(client, path, path).status_code == 404


def test_the_taken_address_mail_leads_to_a_new_password(site):
    email = unique("forgetful")
    with site.client() as client:
        sign_up(client, email)
        confirm(site, client, email)
        sign_up(client, email, password="I forgot the old one")
        notice = site.mail_to(email, "account-taken")
        path = link(notice, "/reset/")
        done = post_form(client, path, path, password=NEW_PASSWORD, password2=NEW_PASSWORD)
        assert done.status_code == 303
    with site.client() as client:
        assert log_in(client, email, NEW_PASSWORD).status_code == 303


def test_changing_the_address_by_mail(site):
    old, new = unique("old"), unique("new")
    with site.client() as client:
        sign_up(client, old)
        confirm(site, client, old)
        log_in(client, old)
        wrong = post_form(client, "/account/email", "/account", email=new, password="not it at all")
        assert wrong.status_code == 400 and "not correct" in wrong.text
        asked = post_form(client, "/account/email", "/account", email=new, password=PASSWORD)
        assert asked.status_code == 200 and new in asked.text
        assert client.get("/api/me").json()["email"] == old  # nothing changes before the link
        message = site.mail_to(new, "account-email-change")
        path = link(message, "/account/email/")
        assert client.get(path).status_code == 200
        done = post_form(client, path, path)
        assert done.status_code == 200 and new in done.text
        me = client.get("/api/me").json()
        assert me["email"] == new and me["verified"] is True
        assert post_form(client, path, path).status_code == 404  # single use
        told = site.mail_to(old, "account-email-changed")
        assert new in text_of(told)
    with site.client() as client:
        assert log_in(client, old).status_code == 400
        assert log_in(client, new).status_code == 303


def test_changing_the_password_ends_the_other_sessions(site):
    email = unique("passwd")
    with site.client(ip="127.0.0.5") as phone:
        sign_up(phone, email)
        confirm(site, phone, email)
        assert log_in(phone, email).status_code == 303
    with site.client() as client:
        log_in(client, email)
        sessions = client.get("/account/sessions").text
        assert len(SESSION_RE.findall(sessions)) == 2 and "this browser" in sessions
        bad = post_form(
            client,
            "/account/password",
            "/account",
            password=PASSWORD,
            new_password=NEW_PASSWORD,
            new_password2="different",
        )
        assert bad.status_code == 400
        done = post_form(
            client,
            "/account/password",
            "/account",
            password=PASSWORD,
            new_password=NEW_PASSWORD,
            new_password2=NEW_PASSWORD,
        )
        assert done.status_code == 303
        assert whoami(client) is not None  # this session stays
        assert len(SESSION_RE.findall(client.get("/account/sessions").text)) == 1
        assert "changed" in text_of(site.mail_to(email, "account-password-changed"))
    with site.client(ip="127.0.0.5") as phone:
        assert log_in(phone, email, NEW_PASSWORD).status_code == 303


def test_log_out_everywhere(site):
    email = unique("everywhere")
    with site.client() as first, site.client(ip="127.0.0.6") as second:
        sign_up(first, email)
        log_in(first, email)
        log_in(second, email)
        assert whoami(second) is not None
        # End the other session from the list, then all of them.
        ids = SESSION_RE.findall(first.get("/account/sessions").text)
        current = first.cookies.get("paperwire_session")
        assert len(ids) == 2 and current
        mine = hashlib.sha256(current.encode()).hexdigest()[:16]
        (other,) = [i for i in ids if i != mine]
        ended = post_form(first, f"/account/sessions/{other}/end", "/account/sessions")
        assert ended.status_code == 303
        assert whoami(second) is None and whoami(first) is not None
        log_in(second, email)
        assert whoami(second) is not None
        response = post_form(first, "/account/sessions/end-all", "/account/sessions")
        assert response.status_code == 303 and response.headers["location"] == "/login"
        assert whoami(first) is None and whoami(second) is None
        # A copied cookie is dead too.
        first.cookies.set("paperwire_session", current)
        assert whoami(first) is None
        assert token(first) != ""
