"""Escaping, voted state, the page cache, search fallbacks and error handling (in-process)."""

from __future__ import annotations

import re
from datetime import date

import pytest

from paperwire.catalog.record import PaperRecord
from paperwire.catalog.store import upsert_records

NASTY_TITLE = '<script>alert("t")</script> & <b>bold</b> for $a<b$'
NASTY_ABSTRACT = (
    'We show x < y & z > 0 for "all" $n$; see <img src=x onerror=alert(1)> \\emph{now}.'
)


@pytest.fixture
def nasty(sample_client):
    record = PaperRecord(
        id="2404.99999",
        title=NASTY_TITLE,
        abstract=NASTY_ABSTRACT,
        authors=["<i>Mallory</i>", "Bob & Alice"],
        categories=["cs.CR"],
        listed_on=date(2024, 4, 6),
        project_page="javascript:alert(1)",
        code_links=["https://github.com/example/repo"],
        external_upvotes=1,
    ).normalise()
    upsert_records(sample_client.app.state.db, [record])
    sample_client.app.state.page_cache.clear()
    return record


def test_catalog_text_is_escaped_everywhere(sample_client, nasty):
    for path in ("/", "/day/2024-04-06", "/papers/2404.99999", "/search?q=mallory+OR+show"):
        html = sample_client.get(path).text
        assert "<script>alert" not in html, path
        assert "<img src=x" not in html, path
        assert "<i>Mallory</i>" not in html, path
        assert "javascript:alert" not in html, path
    page = sample_client.get("/papers/2404.99999").text
    assert "&lt;script&gt;alert(&#34;t&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in page
    assert "x &lt; y &amp; z &gt; 0" in page
    assert "now." in page and "emph{" not in page  # \emph{now} shown as text
    assert 'href="https://github.com/example/repo"' in page
    assert "Project page" not in page  # a javascript: URL is not a link
    feed = sample_client.get("/rss.xml").text
    assert "<script>" not in feed and "&lt;script&gt;" in feed


def test_logged_in_viewer_sees_own_votes_and_fresh_counts(sample_client):
    if not any(getattr(r, "path", "") == "/signup" for r in _routes(sample_client.app)):
        pytest.skip("accounts routes not installed")
    before = sample_client.get("/day/2024-04-04").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', before).group(1)
    r = sample_client.post(
        "/signup",
        data={
            "email": "reader@example.com",
            "password": "a long enough password",
            "password_confirm": "a long enough password",
            "confirm": "a long enough password",
            "display_name": "Reader",
            "csrf_token": token,
            "next": "/",
        },
    )
    assert r.status_code in (302, 303), r.text[:2000]
    login = sample_client.get("/login").text
    r = sample_client.post(
        "/login",
        data={
            "email": "reader@example.com",
            "password": "a long enough password",
            "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', login).group(1),
        },
    )
    assert r.status_code in (302, 303), r.text[:2000]
    page = sample_client.get("/day/2024-04-04").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    count = int(re.search(r'action="/papers/2404.03592/upvote".*?data-count>(\d+)<', page, re.S)[1])
    vote = sample_client.post(
        "/papers/2404.03592/upvote", data={"csrf_token": token, "next": "/day/2024-04-04"}
    )
    assert vote.status_code in (302, 303)
    after = sample_client.get("/day/2024-04-04").text
    form = re.search(
        r'<form class="upvote is-voted".*?action="/papers/2404.03592/upvote".*?</form>', after, re.S
    )
    assert form and 'aria-pressed="true"' in form.group(0)
    assert f"data-count>{count + 1}<" in form.group(0)
    assert after.count('aria-pressed="false"') == 11
    # Anonymous visitors see the new count at once too: a write clears the shared cache.
    sample_client.cookies.clear()
    anonymous = sample_client.get("/day/2024-04-04").text
    assert re.search(
        rf'action="/papers/2404.03592/upvote".*?data-count>{count + 1}<', anonymous, re.S
    )
    assert "aria-pressed" not in anonymous


def _routes(app):
    from paperwire.web.templating import _route_paths

    return [type("R", (), {"path": p}) for p in _route_paths(app.routes)]


def test_search_falls_back_when_the_service_fails(sample_client, monkeypatch):
    from paperwire.web import searching

    class Broken:
        def search(self, *a, **k):
            raise RuntimeError("index corrupt")

        def similar(self, *a, **k):
            raise RuntimeError("index corrupt")

    monkeypatch.setattr(searching, "_service", lambda settings: Broken())
    r = sample_client.get("/search?q=diffusion")
    assert r.status_code == 200
    assert searching.FALLBACK_NOTE in r.text.replace("&#39;", "'")
    paper = sample_client.get("/papers/2401.10241")
    assert paper.status_code == 200 and "Similar papers appear here" in paper.text
    api = sample_client.get("/api/papers/search?q=diffusion&limit=3")
    assert api.status_code == 200 and len(api.json()) == 3
    assert api.headers["x-search-note"]


def test_search_uses_the_service_when_present(sample_client, monkeypatch):
    from paperwire.search.results import Hit, SearchResult
    from paperwire.web import searching

    class Fake:
        def search(self, query, **kw):
            assert kw["categories"] == ["cs.CL"] and kw["sort"] == "upvotes"
            assert kw["since"] == date(2024, 1, 1) and kw["min_upvotes"] == 3
            return SearchResult(
                hits=[Hit("2401.10241", 2.0), Hit("0000.00000", 1.0)],
                total=2,
                message="Showing results for “pipeline”",
            )

        def similar(self, paper_id, limit=10, sort="similarity"):
            return [Hit("2402.17764", 0.9), Hit(paper_id, 1.0)]

    monkeypatch.setattr(searching, "_service", lambda settings: Fake())
    r = sample_client.get(
        "/search?q=pipelin&category=cs.CL&sort=upvotes&since=2024-01-01&min_upvotes=3"
    )
    assert r.status_code == 200
    assert "Showing results for “pipeline”" in r.text
    assert 'href="/papers/2401.10241"' in r.text and "0000.00000" not in r.text
    paper = sample_client.get("/papers/2401.10241").text
    similar = paper.split('id="similar-h"')[1]
    assert 'href="/papers/2402.17764"' in similar and 'href="/papers/2401.10241"' not in similar


def test_a_reimported_paper_shows_its_new_fields_at_once(sample_client, nasty):
    """Cards are memoised by the paper's version: an import that changes it is seen at once."""
    assert "Renamed" not in sample_client.get("/day/2024-04-06").text
    changed = PaperRecord(
        id=nasty.id,
        version=2,  # a newer version replaces the catalog fields
        title="Renamed & improved",
        abstract=nasty.abstract,
        authors=["Carol Changed"],
        categories=["cs.CR"],
        listed_on=date(2024, 4, 6),
        external_upvotes=1,
    ).normalise()
    upsert_records(sample_client.app.state.db, [changed])
    sample_client.app.state.page_cache.clear()
    for path in ("/day/2024-04-06", f"/papers/{nasty.id}"):
        html = sample_client.get(path).text
        assert "Renamed &amp; improved" in html and "Carol Changed" in html, path
        assert "Mallory" not in html, path
    assert f"arXiv:{nasty.id}v2" in sample_client.get(f"/papers/{nasty.id}").text


def test_search_form_lists_categories_with_the_chosen_ones_selected(sample_client, nasty):
    """The category filter: known categories with counts, mine selected, unknown ones kept."""
    options = re.compile(r'<option value="([^"]*)"( selected)?>([^<]*)</option>')

    def shown(path: str) -> dict[str, tuple[bool, str]]:
        select = sample_client.get(path).text.split('name="category"')[1].split("</select>")[0]
        return {value: (bool(chosen), label) for value, chosen, label in options.findall(select)}

    plain = shown("/search")
    assert plain[""] == (False, "Any category")
    assert plain["cs.CR"] == (False, "cs.CR (1)")  # the nasty paper's only category
    assert not any(chosen for chosen, _ in plain.values())
    picked = shown("/search?q=x&category=cs.CR&category=%3Cb%3Ex%26y")
    assert picked["cs.CR"] == (True, "cs.CR (1)")
    assert picked["&lt;b&gt;x&amp;y"] == (True, "&lt;b&gt;x&amp;y")  # unknown: kept, escaped
    assert sum(chosen for chosen, _ in picked.values()) == 2
    assert set(picked) == set(plain) | {"&lt;b&gt;x&amp;y"}


def test_unexpected_errors_are_a_plain_500(sample_client, monkeypatch):
    from starlette.testclient import TestClient

    from paperwire import feed

    def boom(*a, **k):
        raise RuntimeError("secret detail")

    monkeypatch.setattr(feed, "latest_day", boom)
    sample_client.app.state.page_cache.clear()
    with TestClient(sample_client.app, raise_server_exceptions=False) as client:
        page = client.get("/")
        assert page.status_code == 500
        assert "secret detail" not in page.text and "Something went wrong" in page.text
        api = client.get("/api/daily_papers")
        assert api.status_code == 500
        assert api.json()["error"] == "internal_error"
        assert "secret" not in api.text


def test_empty_catalog_home(home):
    from starlette.testclient import TestClient

    from paperwire.config import load_settings
    from paperwire.web.app import create_app

    with TestClient(create_app(load_settings())) as client:
        r = client.get("/")
        assert r.status_code == 200 and "No papers yet" in r.text
        assert client.get("/api/daily_papers").json() == []
        assert client.get("/trending").status_code == 200
        assert client.get("/week").headers.get("location") is None  # followed to /
        assert client.get("/rss.xml").status_code == 200


def test_absolute_links_use_the_configured_public_address(fresh_sample_home, monkeypatch):
    from starlette.testclient import TestClient

    from paperwire.config import load_settings
    from paperwire.web.app import create_app

    monkeypatch.setenv("PAPERWIRE_HOME", str(fresh_sample_home))
    with TestClient(create_app(load_settings())) as client:  # default: this request's host
        assert client.get("/api/papers/2401.10241").json()["url"] == (
            "http://testserver/papers/2401.10241"
        )
    monkeypatch.setenv("PAPERWIRE_BASE_URL", "https://papers.example.org/")
    with TestClient(create_app(load_settings())) as client:
        assert "<link>https://papers.example.org/papers/" in client.get("/rss.xml").text
        page = client.get("/papers/2401.10241").text
        assert 'rel="canonical" href="https://papers.example.org/papers/2401.10241"' in page
