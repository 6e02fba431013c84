"""The JSON API: Hugging Face's daily_papers shape, paper lookup, search, errors."""

from __future__ import annotations

from datetime import date

import httpx
import pytest

from paperwire.sources.hf_daily import parse_item

ITEM_KEYS = {
    "paper",
    "publishedAt",
    "title",
    "summary",
    "thumbnail",
    "numComments",
    "submittedBy",
    "isAuthorParticipating",
}
PAPER_REQUIRED = {"id", "authors", "publishedAt", "title", "summary", "upvotes", "discussionId"}
PAPER_OPTIONAL = {
    "ai_summary",
    "ai_keywords",
    "githubRepo",
    "githubStars",
    "projectPage",
    "submittedOnDailyAt",
    "submittedOnDailyBy",
}


def check_item(item: dict) -> None:
    assert set(item) == ITEM_KEYS
    paper = item["paper"]
    assert PAPER_REQUIRED <= set(paper) <= PAPER_REQUIRED | PAPER_OPTIONAL
    for author in paper["authors"]:
        assert set(author) >= {"_id", "name", "hidden"}
        assert isinstance(author["_id"], str) and author["hidden"] is False
    assert item["title"] == paper["title"] and item["summary"] == paper["summary"]
    assert item["publishedAt"].endswith("T00:00:00.000Z")
    assert {"_id", "name", "fullname", "avatarUrl", "type"} <= set(item["submittedBy"])
    assert isinstance(paper["upvotes"], int) and isinstance(item["numComments"], int)


def test_daily_papers_defaults_to_the_latest_day(web: httpx.Client):
    r = web.get("/api/daily_papers")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    items = r.json()
    assert len(items) == 4 and r.headers["x-total-count"] == "4"
    for item in items:
        check_item(item)
        assert item["publishedAt"] == "2024-04-05T00:00:00.000Z"
    votes = [i["paper"]["upvotes"] for i in items]
    assert votes == sorted(votes, reverse=True)


def test_daily_papers_by_date_week_month_with_paging(web: httpx.Client):
    day = web.get("/api/daily_papers", params={"date": "2024-04-04"}).json()
    assert len(day) == 12
    first = web.get("/api/daily_papers", params={"date": "2024-04-04", "limit": 5}).json()
    second = web.get("/api/daily_papers", params={"date": "2024-04-04", "limit": 5, "p": 1}).json()
    assert [i["paper"]["id"] for i in first + second] == [i["paper"]["id"] for i in day[:10]]
    week = web.get("/api/daily_papers", params={"week": "2024-W10", "limit": 100})
    assert week.headers["x-paperwire-period"] == "2024-W10"
    days = {i["publishedAt"][:10] for i in week.json()}
    assert days and all("2024-03-04" <= d <= "2024-03-10" for d in days)
    month = web.get("/api/daily_papers", params={"month": "2024-03", "sort": "publishedAt"})
    published = [i["publishedAt"] for i in month.json()]
    assert published == sorted(published, reverse=True)
    trending = web.get("/api/daily_papers", params={"week": "2024-W10", "sort": "trending"})
    assert trending.status_code == 200 and trending.json()
    assert web.get("/api/daily_papers", params={"sort": "trending"}).json()


def test_items_round_trip_through_the_hf_importer(web: httpx.Client):
    for item in web.get("/api/daily_papers", params={"date": "2024-04-04"}).json():
        record = parse_item(item).normalise()
        assert record.id == item["paper"]["id"]
        assert record.title == item["title"]
        assert record.external_upvotes == item["paper"]["upvotes"]
        assert record.listed_on == date(2024, 4, 4)
        assert record.authors == [a["name"] for a in item["paper"]["authors"]]


def test_submitter_filter(web: httpx.Client):
    r = web.get("/api/daily_papers", params={"submitter": "nobody-at-all"})
    assert r.status_code == 200 and r.json() == []


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"date": "2024-02-30"}, "date"),
        ({"date": "yesterday"}, "date"),
        ({"week": "2024-W60"}, "week"),
        ({"month": "2024-13"}, "month"),
        ({"date": "2024-04-04", "week": "2024-W14"}, "date"),
        ({"sort": "best"}, "sort"),
        ({"p": "-1"}, "p"),
        ({"p": "x"}, "p"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
    ],
)
def test_bad_parameters_are_422_json(web: httpx.Client, params: dict, param: str):
    r = web.get("/api/daily_papers", params=params)
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "invalid_parameter"
    assert body["message"].startswith(param)


def test_paper_lookup(web: httpx.Client):
    r = web.get("/api/papers/2401.10241")
    assert r.status_code == 200
    paper = r.json()
    assert paper["id"] == "2401.10241" and paper["upvotes"] == 19
    assert paper["githubRepo"] == "https://github.com/sail-sg/zero-bubble-pipeline-parallelism"
    assert paper["bibtex"].startswith("@misc{qi2023zero,")
    assert paper["url"].endswith("/papers/2401.10241")
    assert paper["links"]["pdf"] == "https://arxiv.org/pdf/2401.10241"
    moved = web.get("/api/papers/2401.10241v2")
    assert moved.status_code == 301 and moved.headers["location"] == "/api/papers/2401.10241"
    for missing in ("/api/papers/2612.99999", "/api/papers/nonsense"):
        r = web.get(missing)
        assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_search_and_similar(web: httpx.Client):
    r = web.get("/api/papers/search", params={"q": "language model", "limit": 5})
    assert r.status_code == 200
    items = r.json()
    assert 0 < len(items) <= 5 and int(r.headers["x-total-count"]) >= len(items)
    for item in items:
        check_item(item)
    assert web.get("/api/papers/search").status_code == 422
    assert web.get("/api/papers/search", params={"q": "   "}).status_code == 422
    assert web.get("/api/papers/search", params={"q": "x", "since": "soon"}).status_code == 422
    similar = web.get("/api/papers/2401.10241/similar")
    assert similar.status_code == 200 and isinstance(similar.json(), list)
    assert web.get("/api/papers/2612.99999/similar").status_code == 404


def test_openapi_and_docs(web: httpx.Client):
    spec = web.get("/api/openapi.json").json()
    for path in (
        "/api/daily_papers",
        "/api/papers/search",
        "/api/papers/{paper_id}",
        "/api/papers/{paper_id}/similar",
    ):
        assert path in spec["paths"], sorted(spec["paths"])
    assert not any(p.startswith("/day") or p == "/" for p in spec["paths"])
    docs = web.get("/api/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
