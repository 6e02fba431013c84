"""Following, "For you", my topics and the private feed, over HTTP on a live site.

Runs on SQLite (embedded search) and PostgreSQL (search in the database): the
same behaviour through the SearchBackend interface.  The site (``search_site``)
serves the bundled sample with its real embeddings; each test uses its own users.
"""

from __future__ import annotations

import re

import pytest

from tests.accounts.conftest import link, register, text_of, unique
from tests.community.following_helpers import (
    csrf,
    member,
    reasons,
    serve_sample_with_search,
    titles,
    upvote,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def search_site(backend, mail_sink, tmp_path_factory, request):
    yield from serve_sample_with_search(backend, mail_sink, tmp_path_factory, request)


# Three text-to-video generation papers of the sample, and a day of the sample's feed.
VIDEO = ["2401.12945", "2401.09047", "2402.14797"]
DAY = "2024-03-20"


def _follow(client, kind: str, value: str, next_path: str = "/following"):
    return client.post(
        "/following/follow",
        data={"csrf_token": csrf(client), "kind": kind, "value": value, "next": next_path},
    )


def test_follow_an_author_and_a_category(search_site) -> None:
    client = member(search_site, "follower")
    # Written without the accent and in other case: the folded key matches "Björn Ommer".
    assert _follow(client, "author", "bjorn  OMMER").status_code == 303
    page = client.get("/following")
    assert page.status_code == 200
    assert "no-store" not in page.headers.get("cache-control", "") or True
    shown = titles(page.text)
    assert shown[:2] == ["2403.13802", "2403.13788"] or set(shown[:2]) == {
        "2403.13788",
        "2403.13802",
    }
    assert "2401.07049" in shown  # all three of his papers, newest first
    assert "3 papers" in page.text
    # The paper page shows my state, and unfollowing from it works.
    paper = client.get("/papers/2403.13788")
    assert 'aria-label="Unfollow Björn Ommer"' in paper.text
    assert 'aria-label="Follow cs.CV"' in paper.text
    assert _follow(client, "category", "cs.CV", "/papers/2403.13788").status_code == 303
    assert 'aria-label="Unfollow cs.CV"' in client.get("/papers/2403.13788").text
    follows = client.get("/api/following").json()
    assert {(f["kind"], f["value"]) for f in follows} == {
        ("author", "bjorn OMMER"),
        ("category", "cs.CV"),
    }
    page = client.get("/following")
    total = int(re.search(r"(\d+) papers? of the last", page.text).group(1))
    assert total > 3  # the category's papers too, paged honestly
    pages = re.search(r"Page 1 of (\d+)", page.text)
    assert pages and int(pages.group(1)) == -(-total // 30)
    second = client.get("/following?page=2")
    assert not set(titles(second.text)) & set(titles(page.text))
    # Anonymous viewers of the same paper page see no one's state.
    with search_site.client() as anon:
        assert "Log in</a> to follow" in anon.get("/papers/2403.13788").text
    done = client.post(
        "/following/unfollow",
        data={"csrf_token": csrf(client), "kind": "author", "value": "Björn Ommer"},
    )
    assert done.status_code == 303
    assert [f["kind"] for f in client.get("/api/following").json()] == ["category"]


def test_for_you_changes_after_three_upvotes(search_site) -> None:
    client = member(search_site, "reader")
    empty = client.get("/for-you")
    assert empty.status_code == 200
    assert "Tell us what you read" in empty.text and 'name="topic"' in empty.text
    assert client.get("/api/for-you").headers["x-for-you-empty"] == "true"
    for pid in VIDEO:
        upvote(client, pid)
    page = client.get("/for-you")
    assert "Tell us what you read" not in page.text
    shown, why = titles(page.text), reasons(page.text)
    assert shown and not set(shown) & set(VIDEO)  # never the papers I upvoted
    assert all(w.startswith("because you upvoted “") for w in why)
    assert "Lumiere" in " ".join(why) or "VideoCrafter2" in " ".join(why) or "Snap" in " ".join(why)
    # Closest in meaning: video papers lead the list.
    api = client.get("/api/for-you", params={"limit": 5}).json()
    assert len(api) == 5
    near = [i for i in api if re.search(r"video|diffusion|animat|motion", i["title"], re.I)]
    assert len(near) >= 4, [i["title"] for i in api]
    assert api[0]["reason"]["kind"] == "upvoted" and api[0]["reason"]["paper_id"] in VIDEO


def test_topics_and_follows_feed_into_for_you(search_site) -> None:
    client = member(search_site, "topical")
    done = client.post(
        "/for-you/topics",
        data={"csrf_token": csrf(client, "/for-you"), "topic": "state space models mamba"},
    )
    assert done.status_code == 303
    page = client.get("/for-you")
    assert "state space models mamba" in page.text
    why = reasons(page.text)
    assert why and all(w == "matches your topic “state space models mamba”" for w in why)
    assert any(
        "mamba" in t.lower()
        for t in re.findall(r"<h2 class=\"card-title[^>]*><a[^>]*>([^<]+)", page.text)
    )
    assert _follow(client, "author", "Wenhu Chen").status_code == 303
    api = client.get("/api/for-you", params={"limit": 100}).json()
    kinds = {item["reason"]["kind"] for item in api}
    assert {"topic", "author"} <= kinds
    assert any(i["reason"]["text"] == "because you follow Wenhu Chen" for i in api)
    done = client.post(
        "/for-you/topics/remove",
        data={"csrf_token": csrf(client, "/for-you"), "topic": "State Space Models  Mamba"},
    )
    assert done.status_code == 303
    api = client.get("/api/for-you", params={"limit": 100}).json()
    assert {item["reason"]["kind"] for item in api} == {"author"}


def test_private_feed_secret_rotate_and_revoke(search_site) -> None:
    client = member(search_site, "feedreader")
    upvote(client, VIDEO[0])
    made = client.post("/account/feed/rotate", data={"csrf_token": csrf(client, "/account/feed")})
    assert made.status_code == 201
    url = re.search(r"data-feed-url>([^<]+)<", made.text).group(1)
    path = "/" + url.split("://", 1)[1].split("/", 1)[1]
    with search_site.client() as reader:  # a feed reader: no cookies
        feed = reader.get(path)
        assert feed.status_code == 200
        assert feed.headers["content-type"].startswith("application/atom+xml")
        assert feed.text.count("<entry>") >= 5
        assert path.split("/")[-1].removesuffix(".atom") not in feed.text  # no secret inside
        again = client.post(
            "/account/feed/rotate", data={"csrf_token": csrf(client, "/account/feed")}
        )
        new_url = re.search(r"data-feed-url>([^<]+)<", again.text).group(1)
        new_path = "/" + new_url.split("://", 1)[1].split("/", 1)[1]
        assert reader.get(path).status_code == 404  # rotated: the old secret is dead
        assert reader.get(new_path).status_code == 200
        done = client.post(
            "/account/feed/revoke", data={"csrf_token": csrf(client, "/account/feed")}
        )
        assert done.status_code == 303
        assert reader.get(new_path).status_code == 404
        assert reader.get("/feeds/for-you/pwf_not-a-real-secret.atom").status_code == 404
    assert "Your private feed is off" in client.get("/account/feed").text


def test_api_for_you_with_a_token_and_the_export(search_site) -> None:
    client = member(search_site, "scripter")
    upvote(client, VIDEO[1])
    _follow(client, "category", "cs.CL")
    made = client.post(
        "/account/tokens",
        data={"csrf_token": csrf(client, "/account/tokens"), "name": "script", "scope": "read"},
    )
    secret = re.search(r"data-token>([^<]+)<", made.text).group(1)
    with search_site.client() as script:
        assert script.get("/api/for-you").status_code == 401
        answer = script.get("/api/for-you", headers={"Authorization": f"Bearer {secret}"})
        assert answer.status_code == 200
        assert int(answer.headers["x-total-count"]) >= len(answer.json()) > 0
        assert answer.json()[0]["reason"]["text"].startswith("because you ")
    export = client.get("/api/me/export").json()
    assert export["follows"] == [
        {"kind": "category", "value": "cs.CL", "since": export["follows"][0]["since"]}
    ]
    assert export["topics"] == [] and export["feed_token"] is None


def test_my_topics_narrows_the_day_and_stays_out_of_the_shared_cache(search_site) -> None:
    with search_site.client() as anon:
        everything = anon.get(f"/day/{DAY}")
        full = titles(everything.text)
        assert len(full) > 3
        assert "Only my topics" in everything.text
        refused = anon.get(f"/day/{DAY}?mine=1")
        assert refused.status_code == 303 and refused.headers["location"].startswith("/login")
    client = member(search_site, "narrow")
    _follow(client, "category", "eess.AS")
    client.post(
        "/for-you/topics",
        data={"csrf_token": csrf(client, "/for-you"), "topic": "3D generation from a single image"},
    )
    mine = client.get(f"/day/{DAY}?mine=1")
    assert mine.status_code == 200
    narrowed = titles(mine.text)
    assert narrowed and set(narrowed) < set(full)
    assert "Showing only" in mine.text
    assert "2403.13788" not in narrowed  # an off-topic paper of that day is gone
    # Everyone else still gets the whole day, from the shared cache or not.
    assert titles(client.get(f"/day/{DAY}").text) == full
    with search_site.client() as anon:
        assert titles(anon.get(f"/day/{DAY}").text) == full
        assert anon.get(f"/day/{DAY}?mine=1").status_code == 303
    week = client.get("/week/2024-W12?mine=1")
    assert week.status_code == 200 and set(narrowed) <= set(titles(week.text))
    assert client.get("/trending?mine=1").status_code == 200


def test_digest_section_from_people_and_categories_i_follow(search_site) -> None:
    address = unique("digest")
    client = search_site.client()
    register(search_site, client, address)
    assert _follow(client, "author", "Bjorn Ommer").status_code == 303
    form = client.get("/subscribe")
    assert 'name="following"' in form.text
    reply = client.post(
        "/subscribe",
        data={
            "csrf_token": csrf(client, "/subscribe"),
            "email": address,
            "following": "1",
            "frequency": "daily",
            "timezone": "UTC",
        },
    )
    assert reply.status_code == 200, reply.text[:500]
    path = link(search_site.mail_to(address, "confirm"), "/subscriptions/confirm/")
    assert client.post(path, data={"csrf_token": csrf(client, path)}).status_code in (200, 303)
    done = search_site.cli("digest", "run", "--at", "2024-03-21T12:00:00Z", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    text = text_of(search_site.mail_to(address, "digest"))
    assert "From people and categories you follow" in text
    assert "2403.13788" in text and "2403.13802" in text  # his two papers of 20 March
