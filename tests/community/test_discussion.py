"""Discussion on a paper over HTTP, on SQLite and PostgreSQL: threads and tombstones,
hostile Markdown, own edits and deletes, moderator removal, counts on cards and in the
API, CSRF, the per-user limit, reply mail (opt-in) and account deletion."""

from __future__ import annotations

import re

import httpx

from tests.accounts.conftest import (
    PASSWORD,
    Site,
    log_in,
    post_form,
    register,
    text_of,
    unique,
    whoami,
)

THREAD = "2603.00005"  # on no feed: only these tests comment here
HOSTILE = "2603.00006"
CARD = "2603.00004"  # alone on the feed of 2026-03-03
LIMITED = "2603.00007"
MAILED = "2603.00008"
OPEN = "2603.00001"  # comments here are only counted relative to before
ID_RE = re.compile(r"#c(\d+)$")


def csrf(client: httpx.Client) -> str:
    return client.get("/api/session").json()["csrf_token"]


def comment(client: httpx.Client, paper: str, body: str, parent: int | None = None) -> int:
    """Post through the paper page's form; returns the new comment's id."""
    data = {"body": body, "csrf_token": csrf(client)}
    if parent is not None:
        data["parent_id"] = str(parent)
    response = client.post(f"/papers/{paper}/comments", data=data)
    assert response.status_code == 303, response.text
    return int(ID_RE.search(response.headers["location"]).group(1))


def discussion(client: httpx.Client, paper: str) -> str:
    page = client.get(f"/papers/{paper}")
    assert page.status_code == 200
    return page.text.split('id="discussion"', 1)[1].split("</section>", 1)[0]


def thread(client: httpx.Client, paper: str) -> dict:
    response = client.get(f"/api/papers/{paper}/comments")
    assert response.status_code == 200
    return response.json()


def moderator(site: Site, client: httpx.Client) -> None:
    register(site, client, unique("mod"))
    site.promote(whoami(client)["id"])


def test_a_thread_with_replies_edits_deletes_and_removal(site):
    with site.client() as ann, site.client() as bob, site.client() as mod:
        register(site, ann, unique("ann"))
        register(site, bob, unique("bob"))
        root = comment(ann, THREAD, "Is the *bound* in $O(n \\log n)$ tight?")
        # The author sees it at once on the page.
        assert "<em>bound</em>" in discussion(ann, THREAD)
        reply = comment(bob, THREAD, "Yes, see Lemma 3.", parent=root)
        answer = comment(ann, THREAD, "Thanks!", parent=reply)
        tree = thread(bob, THREAD)
        assert tree["numComments"] == 3
        (top,) = tree["comments"]
        assert top["id"] == root and top["replies"][0]["id"] == reply
        assert top["replies"][0]["replies"][0]["id"] == answer
        assert "\\log n" in top["html"]  # math stays TeX for KaTeX

        # Nobody edits or deletes someone else's comment; unknown ones are 404.
        token = csrf(bob)
        assert (
            bob.post(f"/comments/{root}/edit", data={"body": "x", "csrf_token": token}).status_code
            == 403
        )
        assert bob.post(f"/comments/{root}/delete", data={"csrf_token": token}).status_code == 403
        assert bob.post(f"/comments/{root}/remove", data={"csrf_token": token}).status_code == 403
        assert (
            bob.post("/comments/99999999/edit", data={"body": "x", "csrf_token": token}).status_code
            == 404
        )
        # The author edits (marked as edited), then deletes: a tombstone keeps the thread.
        edited = ann.post(
            f"/comments/{root}/edit", data={"body": "Is it **tight**?", "csrf_token": csrf(ann)}
        )
        assert edited.status_code == 303
        section = discussion(bob, THREAD)
        assert "<strong>tight</strong>" in section and "(edited)" in section
        assert (
            ann.post(f"/comments/{root}/delete", data={"csrf_token": csrf(ann)}).status_code == 303
        )
        with site.client() as anonymous:
            section = discussion(anonymous, THREAD)
        assert "[deleted]" in section and "tight" not in section and "Lemma 3" in section
        assert (
            ann.post(
                f"/comments/{root}/edit", data={"body": "back", "csrf_token": csrf(ann)}
            ).status_code
            == 404
        )

        # A moderator removes Bob's reply: logged, a tombstone while Ann's answer stays.
        moderator(site, mod)
        assert "Remove (moderator)" in discussion(mod, THREAD)
        assert (
            mod.post(f"/comments/{reply}/remove", data={"csrf_token": csrf(mod)}).status_code == 303
        )
        tree = thread(ann, THREAD)
        (top,) = tree["comments"]
        assert top["state"] == "deleted" and top["body"] is None and top["author"] is None
        middle = top["replies"][0]
        assert middle["state"] == "removed" and middle["body"] is None
        assert middle["replies"][0]["body"] == "Thanks!" and tree["numComments"] == 1
        assert "remove comment" in mod.get("/moderation/log").text
        # Once the last visible reply goes, the tombstones go with it.
        assert (
            ann.post(f"/comments/{answer}/delete", data={"csrf_token": csrf(ann)}).status_code
            == 303
        )
        assert thread(ann, THREAD) == {"paperId": THREAD, "numComments": 0, "comments": []}


HOSTILE_BODY = """<script>alert(1)</script>
[click](javascript:alert(2)) and [data](data:text/html,hi)
<img src=x onerror=alert(3)>
<a href="javascript:alert(4)" onclick="alert(5)">raw link</a>
![pic](https://evil.example/track.png)
[fine](https://example.org/paper)
"""


def test_hostile_markdown_comes_out_inert(site):
    with site.client() as eve:
        register(site, eve, unique("eve"))
        comment(eve, HOSTILE, HOSTILE_BODY)
        with site.client() as anonymous:
            for section in (discussion(eve, HOSTILE), discussion(anonymous, HOSTILE)):
                body = section.split('class="pw-comment-body math">', 1)[1].split("</div>", 1)[0]
                assert "<script" not in body and "<img" not in body
                assert re.findall(r"<[^>]*\bon\w+=", body) == []  # no handler in any tag
                assert "&lt;a href=" in body  # raw HTML is text; the only links are these:
                assert re.findall(r"<a [^>]*>", body) == [
                    '<a href="https://evil.example/track.png" rel="nofollow ugc noopener">',
                    '<a href="https://example.org/paper" rel="nofollow ugc noopener">',
                ]
                assert "&lt;script&gt;" in body  # shown as text


def test_counts_on_cards_and_in_the_api(site):
    def count_in_api(client) -> int:
        items = client.get("/api/daily_papers", params={"date": "2026-03-03"}).json()
        return next(i["numComments"] for i in items if i["paper"]["id"] == CARD)

    with site.client() as ann, site.client() as anonymous:
        register(site, ann, unique("cards"))
        before = count_in_api(anonymous)
        first = comment(ann, CARD, "First!")
        comment(ann, CARD, "And a reply.", parent=first)
        assert count_in_api(anonymous) == before + 2
        day = anonymous.get("/day/2026-03-03").text
        assert f'href="/papers/{CARD}#discussion">{before + 2} comments</a>' in day
        assert (
            ann.post(f"/comments/{first}/delete", data={"csrf_token": csrf(ann)}).status_code == 303
        )
        assert count_in_api(anonymous) == before + 1
        assert f">{before + 1} comment" in anonymous.get("/day/2026-03-03").text


def test_who_may_comment_and_csrf(site):
    with site.client() as anonymous:
        page = discussion(anonymous, OPEN)
        assert "Log in</a> to join the discussion" in page and "<textarea" not in page
        refused = anonymous.post(f"/papers/{OPEN}/comments", data={"body": "hi"})
        assert refused.status_code == 303 and refused.headers["location"].startswith("/login")
    with site.client() as new:
        register(site, new, unique("unconfirmed"), verified=False)
        answer = new.post(f"/papers/{OPEN}/comments", data={"body": "hi", "csrf_token": csrf(new)})
        assert answer.status_code == 403 and "Confirm your email" in answer.text
    with site.client() as ann:
        register(site, ann, unique("csrf"))
        before = thread(ann, OPEN)["numComments"]
        assert ann.post(f"/papers/{OPEN}/comments", data={"body": "no token"}).status_code == 403
        forged = {"body": "forged", "csrf_token": "x" * 40}
        assert ann.post(f"/papers/{OPEN}/comments", data=forged).status_code == 403
        cross = ann.post(
            f"/papers/{OPEN}/comments",
            data={"body": "cross", "csrf_token": csrf(ann)},
            headers={"Origin": "https://evil.example"},
        )
        assert cross.status_code == 403
        empty = ann.post(f"/papers/{OPEN}/comments", data={"body": "  ", "csrf_token": csrf(ann)})
        long = ann.post(
            f"/papers/{OPEN}/comments", data={"body": "x" * 10_001, "csrf_token": csrf(ann)}
        )
        assert empty.status_code == 400 and long.status_code == 400
        assert (
            ann.post(
                "/papers/2699.99999/comments", data={"body": "?", "csrf_token": csrf(ann)}
            ).status_code
            == 404
        )
        assert thread(ann, OPEN)["numComments"] == before


def test_the_limit_is_per_user_and_the_api_takes_tokens(site):
    with site.client() as spammer, site.client(ip="127.0.0.1") as neighbour:
        register(site, spammer, unique("limit"))
        register(site, neighbour, unique("neighbour"))
        page = post_form(spammer, "/account/tokens", "/account/tokens", name="bot", scope="write")
        secret = re.search(r"data-token>(pw_[^<]+)<", page.text).group(1)
        auth = {"Authorization": f"Bearer {secret}"}
        first = spammer.post(f"/api/papers/{LIMITED}/comments", json={"body": "1"}, headers=auth)
        assert first.status_code == 201 and first.json()["html"] == "<p>1</p>\n"
        for n in range(2, 11):
            body = {"body": str(n), "parentId": first.json()["id"]}
            assert (
                spammer.post(f"/api/papers/{LIMITED}/comments", json=body, headers=auth).status_code
                == 201
            )
        over = spammer.post(f"/api/papers/{LIMITED}/comments", json={"body": "11"}, headers=auth)
        assert over.status_code == 429 and int(over.headers["retry-after"]) > 0
        form = spammer.post(
            f"/papers/{LIMITED}/comments", data={"body": "12", "csrf_token": csrf(spammer)}
        )
        assert form.status_code == 429
        # Someone else from the same address is not held back by it.
        comment(neighbour, LIMITED, "Still here.")
        assert thread(neighbour, LIMITED)["numComments"] == 11
        # Without CSRF, a cookie client cannot post through the API.
        assert (
            neighbour.post(f"/api/papers/{LIMITED}/comments", json={"body": "x"}).status_code == 403
        )


def test_reply_mail_only_when_opted_in_and_never_for_my_own(site):
    ann_email, bob_email, cat_email = unique("ann"), unique("bob"), unique("cat")
    with site.client() as ann, site.client() as bob, site.client() as cat:
        register(site, ann, ann_email)
        register(site, bob, bob_email)
        register(site, cat, cat_email)
        assert 'name="notify_replies" value="1">' in ann.get("/account").text  # off by default
        saved = post_form(ann, "/account/reply-mail", "/account", notify_replies="1")
        assert saved.status_code == 303
        assert 'name="notify_replies" value="1" checked>' in ann.get(saved.headers["location"]).text
        root = comment(ann, MAILED, "Ann's question")
        cats = comment(cat, MAILED, "Cat's note")  # Cat did not opt in
        comment(ann, MAILED, "Ann answers herself", parent=root)
        comment(bob, MAILED, "Bob replies to Cat", parent=cats)
        comment(bob, MAILED, "Bob replies to **Ann**", parent=root)
        mail = site.mail_to(ann_email, "comment-reply")
        text = text_of(mail)
        assert "Bob replies to **Ann**" in text and f"/papers/{MAILED}#c" in text
        assert "replied to you" in mail.message["Subject"]
        assert len(site.mail.to(ann_email, "comment-reply")) == 1
        assert site.mail.to(cat_email, "comment-reply") == []
        assert site.mail.to(bob_email, "comment-reply") == []


def test_export_and_account_deletion(site):
    email = unique("leaver")
    with site.client() as leaver, site.client() as stays:
        register(site, leaver, email)
        register(site, stays, unique("stays"))
        asked = comment(leaver, OPEN, "A question that gets an answer")
        alone = comment(leaver, OPEN, "A remark nobody answers")
        comment(stays, OPEN, "The answer", parent=asked)
        data = post_form(leaver, "/account/export", "/account").json()
        assert {c["id"] for c in data["comments"]} == {asked, alone}
        assert (
            post_form(leaver, "/account/delete", "/account/delete", password=PASSWORD).status_code
            == 200
        )
        tree = thread(stays, OPEN)
        ids = [c["id"] for c in tree["comments"]]
        assert alone not in ids
        (tomb,) = [c for c in tree["comments"] if c["id"] == asked]
        assert tomb["state"] == "deleted" and tomb["replies"][0]["body"] == "The answer"
        assert log_in(leaver, email).status_code == 400
