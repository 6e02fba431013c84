"""The hostile-input findings of issue 11, each over HTTP against a real server.

Every test here failed before the fix:
- sign-up told whether an address had an account (400 "cannot be used" vs 303);
- five wrong passwords from anywhere locked the owner out for 15 minutes;
- the HF-shaped API handed out ``javascript:`` code and project links;
- RSS descriptions carried abstract markup as HTML;
- ``/api/docs`` loaded Swagger UI from a CDN;
- ``Origin: null`` and a foreign ``Referer`` were accepted with a valid token.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

from sqlalchemy import update

from paperwire.db.schema.catalog import papers

from .conftest import (
    PASSWORD,
    TOKEN_RE,
    log_in,
    post_form,
    sign_up,
    text_of,
    token,
    unique,
    whoami,
)


def _normalised(html: str) -> str:
    return TOKEN_RE.sub("", html)


# -- sign-up does not reveal that an account exists ------------------------------------------


def test_sign_up_answers_alike_for_new_and_taken_addresses(site):
    taken, new = unique("taken"), unique("new")
    with site.client() as owner:
        assert sign_up(owner, taken).status_code == 303
    with site.client(ip="127.0.0.2") as stranger:
        first = sign_up(stranger, taken, password="another password 1")
        second = sign_up(stranger, new, password="another password 1")
        assert first.status_code == second.status_code == 303
        assert first.headers["location"] == second.headers["location"] == "/signup/sent"
        cookies = [
            c.split("=", 1)[0] for r in (first, second) for c in r.headers.get_list("set-cookie")
        ]
        assert "paperwire_session" not in cookies  # neither logged anyone in
        assert whoami(stranger) is None
        pages = [stranger.get(r.headers["location"]) for r in (first, second)]
        assert _normalised(pages[0].text) == _normalised(pages[1].text)
        assert "cannot be used" not in pages[0].text
    # What differs is the mail, which only the address's owner reads.
    notice = site.mail_to(taken, "account-taken")
    assert "already has an account" in text_of(notice)
    assert "/reset/" in text_of(notice) or "/account/verify/" in text_of(notice)
    assert "Confirm" in text_of(site.mail_to(new, "account-verify"))


# -- nobody can lock the owner out -----------------------------------------------------------


def test_an_attacker_elsewhere_cannot_lock_the_owner_out(site):
    email = unique("owner")
    with site.client() as owner:
        assert sign_up(owner, email).status_code == 303
    with site.client(ip="127.0.0.2") as attacker:
        answers = [log_in(attacker, email, f"guess number {i}").status_code for i in range(8)]
        assert answers[:3] == [400, 400, 400]
        assert 429 in answers[3:]  # the attacker's own attempts slow down...
        limited = log_in(attacker, email, PASSWORD)
        assert limited.status_code == 429  # ...even with the right password, from there
        assert int(limited.headers["retry-after"]) >= 1
    with site.client(ip="127.0.0.3") as owner:  # ...but the owner, elsewhere, is let in
        response = log_in(owner, email)
        assert response.status_code == 303, response.text
        assert whoami(owner)["name"] == email.split("@")[0]


# -- only web links leave the API ------------------------------------------------------------


def test_api_hands_out_only_http_links(site, tmp_path):
    hostile = {
        "id": "2603.00666",
        "announced": "2026-03-03",
        "title": "A paper with hostile links",
        "authors": ["Mallory"],
        "categories": ["cs.CR"],
        "abstract": "Nothing to see.",
        "code_links": ["javascript:alert(document.cookie)", "https://github.com/ok/repo"],
        "project_page": "javascript:alert(document.cookie)",
    }
    path = tmp_path / "hostile.jsonl"
    path.write_text(json.dumps(hostile) + "\n")
    done = site.cli("import", "--no-index", "--no-progress", str(path))
    assert done.returncode == 0, done.stderr
    db = site.db()
    try:
        # A catalog filled before the fix may still hold such links: the API edge drops them too.
        with db.begin() as conn:
            conn.execute(
                update(papers)
                .where(papers.c.id == "2603.00004")
                .values(
                    code_links=["javascript:alert(1)"],
                    project_page="JavaScript:alert(document.domain)",
                )
            )
    finally:
        db.dispose()
    with site.client() as client:
        items = client.get("/api/daily_papers", params={"date": "2026-03-03", "limit": 7}).json()
        by_id = {i["paper"]["id"]: i["paper"] for i in items}
        assert set(by_id) == {"2603.00004", "2603.00666"}
        assert by_id["2603.00666"]["githubRepo"] == "https://github.com/ok/repo"
        for paper in by_id.values():
            assert "projectPage" not in paper
            assert "javascript" not in json.dumps(paper).lower()
        detail = client.get("/api/papers/2603.00004").json()
        assert detail["codeLinks"] == [] and detail.get("projectPage") is None
        assert "javascript" not in client.get("/api/papers/2603.00666").text.lower()


# -- RSS descriptions are text ------------------------------------------------------------------


def test_rss_descriptions_are_text_not_markup(site, tmp_path):
    abstract = "We show x<y & <script>alert(1)</script> <img src=x onerror=alert(2)> works."
    rec = {
        "id": "2603.00777",
        "announced": "2026-03-09",
        "title": "Markup in abstracts",
        "authors": ["Mallory"],
        "categories": ["cs.CR"],
        "abstract": abstract,
    }
    path = tmp_path / "markup.jsonl"
    path.write_text(json.dumps(rec) + "\n")
    assert site.cli("import", "--no-progress", str(path)).returncode == 0  # and searchable
    with site.client() as client:
        # The query feeds list it whatever else the tests put on the day's feed.
        rss = ET.fromstring(client.get("/rss.xml", params={"q": "markup abstracts"}).content)
        (item,) = [i for i in rss.iter("item") if "2603.00777" in (i.findtext("link") or "")]
        description = item.findtext("description")
        # A reader renders the description as HTML: it must hold no tags, only escaped text.
        assert "<" not in description and ">" not in description
        assert (
            "&lt;script&gt;" in description and "&lt;img src=x onerror=alert(2)&gt;" in description
        )
        assert "x&lt;y &amp;" in description
        atom = ET.fromstring(client.get("/atom.xml", params={"q": "markup abstracts"}).content)
        ns = "{http://www.w3.org/2005/Atom}"
        (entry,) = [
            e for e in atom.iter(f"{ns}entry") if "2603.00777" in (e.findtext(f"{ns}id") or "")
        ]
        summary = entry.find(f"{ns}summary")
        assert summary.get("type") == "text" and summary.text == abstract


# -- the API docs work offline ------------------------------------------------------------------


def test_api_docs_need_nothing_from_the_internet(site):
    with site.client() as client:
        page = client.get("/api/docs")
        assert page.status_code == 200
        assert "content-security-policy" in page.headers  # no inline script needed either
        assert "<script>" not in page.text
        refs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert refs and all(not urlsplit(r).netloc for r in refs), refs
        for ref in refs:
            assert client.get(ref).status_code == 200, ref
        assert any("swagger-ui-bundle.js" in r for r in refs)
        schema = client.get("/api/openapi.json").json()
        assert "bearerToken" in schema["components"]["securitySchemes"]


# -- a present but foreign or null origin is refused ---------------------------------------


def test_null_origin_and_foreign_referer_are_refused(site):
    email = unique("origin")
    with site.client() as signing_up:
        assert sign_up(signing_up, email).status_code == 303
    with site.client() as client:
        assert log_in(client, email).status_code == 303
        good = token(client, "/collections")
        attempts = [
            {"Origin": "null"},
            {"Origin": "https://evil.example"},
            {"Referer": "https://evil.example/page"},
            {"Referer": "null"},
            {"Sec-Fetch-Site": "cross-site"},
        ]
        for headers in attempts:
            form = client.post(
                "/collections", data={"name": "Nope", "csrf_token": good}, headers=headers
            )
            assert form.status_code == 403, headers
            api = client.post(
                "/api/collections", json={"name": "Nope"}, headers={"X-CSRF-Token": good, **headers}
            )
            assert api.status_code == 403, headers
        assert "Nope" not in client.get("/collections").text
        # The same requests from this site go through.
        ok = client.post(
            "/collections",
            data={"name": "Fine", "csrf_token": good},
            headers={"Origin": site.url, "Referer": site.url + "/collections"},
        )
        assert ok.status_code == 303
        ok = client.post(
            "/collections", data={"name": "Fine too", "csrf_token": good}
        )  # neither header (an old client): the token decides
        assert ok.status_code == 303


def test_the_signup_form_still_works_with_this_sites_origin(site):
    """The refusal must not catch our own forms, which browsers send with Origin."""
    with site.client() as client:
        t = token(client, "/signup")
        response = client.post(
            "/signup",
            data={"email": unique("form"), "password": PASSWORD, "csrf_token": t},
            headers={"Origin": site.url, "Sec-Fetch-Site": "same-origin"},
        )
        assert response.status_code == 303
        assert post_form(client, "/reset", "/reset", email=unique("x")).status_code == 200
