"""The HTML pages over HTTP against a real server on the bundled sample."""

from __future__ import annotations

import re
from html import unescape

import httpx
import pytest

CARD_TITLE = r'<h[23] class="card-title[^"]*" id="t-[^"]+"><a href="/papers/([^"]+)">'


def card_ids(html: str) -> list[str]:
    return re.findall(CARD_TITLE, html)


def upvotes(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<span class="count" data-count>(\d+)</span>', html)]


def test_home_is_the_latest_day_ranked_by_upvotes(web: httpx.Client):
    r = web.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "Friday, 5 April 2024" in html
    ids = card_ids(html)
    assert len(ids) == 4
    counts = upvotes(html)
    assert counts == sorted(counts, reverse=True)
    assert 'href="/day/2024-04-04"' in html  # previous day with papers
    assert "Next day" not in html
    assert r.headers["cache-control"] == "private, no-cache"


def test_day_navigation(web: httpx.Client):
    html = web.get("/day/2024-04-04").text
    assert len(card_ids(html)) == 12
    assert 'href="/day/2024-04-03"' in html and 'href="/day/2024-04-05"' in html
    assert 'href="/week/2024-W14"' in html and 'href="/month/2024-04"' in html


def test_a_day_without_papers_links_to_the_nearest_days(web: httpx.Client):
    r = web.get("/day/2023-12-25")
    assert r.status_code == 200
    assert "No papers on this day" in r.text
    prev = re.search(r'href="/day/(2023-12-\d\d)"', r.text)
    assert prev and prev.group(1) < "2023-12-25"


@pytest.mark.parametrize(
    "path",
    [
        "/day/2024-13-01",
        "/day/yesterday",
        "/week/2024-W60",
        "/month/2024-00",
        "/day/2024-04-04?page=0",
    ],
)
def test_bad_periods_are_400_with_a_message(web: httpx.Client, path: str):
    r = web.get(path)
    assert r.status_code == 400
    assert "text/html" in r.headers["content-type"]
    assert "Back to the latest papers" in r.text


def test_week_and_month_views(web: httpx.Client):
    week = web.get("/week/2024-W10")
    assert week.status_code == 200
    assert "Week 10, 2024" in week.text
    assert 'href="/week/2024-W09"' in week.text and 'href="/week/2024-W11"' in week.text
    counts = upvotes(week.text)
    assert counts == sorted(counts, reverse=True) and len(counts) == 30
    assert web.get("/week/2024-w10").headers["location"] == "/week/2024-W10"
    assert web.get("/week").headers["location"] == "/week/2024-W14"
    assert web.get("/month").headers["location"] == "/month/2024-04"
    month = web.get("/month/2024-03")
    assert "March 2024" in month.text and "Page 1 of" in month.text
    page2 = web.get("/month/2024-03?page=2")
    assert page2.status_code == 200
    assert set(card_ids(page2.text)).isdisjoint(card_ids(month.text))
    assert 'rel="prev" href="/month/2024-03"' in page2.text
    far = web.get("/month/2024-03?page=999")
    assert far.status_code == 200 and "No more papers" in far.text


def test_trending_falls_back_to_the_latest_week_of_an_old_catalog(web: httpx.Client):
    r = web.get("/trending")
    assert r.status_code == 200
    assert "this is what was trending on 5 Apr 2024" in r.text
    assert len(card_ids(r.text)) > 5


def test_cards_have_upvote_forms_with_csrf(web: httpx.Client):
    html = web.get("/day/2024-04-04").text
    forms = re.findall(
        r'<form class="upvote[^"]*" method="post" action="/papers/([^"]+)/upvote" data-upvote>\s*'
        r'<input type="hidden" name="csrf_token" value="([^"]*)">',
        html,
    )
    assert len(forms) == 12
    tokens = {t for _, t in forms}
    assert len(tokens) == 1 and len(tokens.pop()) > 20
    assert "__paperwire_csrf_slot__" not in html


def test_cached_pages_still_get_a_token_per_visitor(web_server):
    tokens = []
    for _ in range(2):
        with httpx.Client(base_url=web_server.url) as fresh:
            html = fresh.get("/").text
            tokens.append(re.search(r'name="csrf_token" value="([^"]+)"', html).group(1))
    assert tokens[0] != tokens[1]


def test_paper_page(web: httpx.Client):
    r = web.get("/papers/2401.10241")
    assert r.status_code == 200
    html = r.text
    assert '<meta name="citation_title" content="Zero Bubble Pipeline Parallelism">' in html
    authors = re.findall(r'<meta name="citation_author" content="([^"]+)">', html)
    assert authors == ["Penghui Qi", "Xinyi Wan", "Guangxing Huang", "Min Lin"]
    assert '<meta name="citation_publication_date" content="2023/11/30">' in html
    assert '<meta name="citation_arxiv_id" content="2401.10241">' in html
    assert '<meta name="citation_pdf_url" content="https://arxiv.org/pdf/2401.10241">' in html
    assert 'href="https://arxiv.org/abs/2401.10241"' in html
    assert 'href="https://github.com/sail-sg/zero-bubble-pipeline-parallelism"' in html
    assert "@misc{qi2023zero," in unescape(html)
    assert 'href="/papers/2401.10241.bib"' in html
    assert 'action="/papers/2401.10241/upvote"' in html


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("/papers/2401.10241v2", "/papers/2401.10241"),
        ("/papers/arXiv:2401.10241", "/papers/2401.10241"),
        ("/papers/https://arxiv.org/abs/2401.10241v1", "/papers/2401.10241"),
        ("/papers/2401.10241v2.bib", "/papers/2401.10241.bib"),
    ],
)
def test_versioned_ids_redirect(web: httpx.Client, path: str, target: str):
    r = web.get(path)
    assert r.status_code == 301
    assert r.headers["location"] == target


def test_bibtex_download(web: httpx.Client):
    for path in ("/papers/2401.10241.bib", "/papers/2401.10241/bibtex"):
        r = web.get(path)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/x-bibtex")
        assert 'filename="2401.10241.bib"' in r.headers["content-disposition"]
        assert r.text.startswith("@misc{qi2023zero,")
    assert web.get("/papers/9999.99999.bib").status_code == 404


def test_unknown_paper_is_a_helpful_404(web: httpx.Client):
    r = web.get("/papers/2612.99999")
    assert r.status_code == 404
    assert "arXiv:2612.99999 is not in this catalog" in r.text
    assert 'href="https://arxiv.org/abs/2612.99999"' in r.text
    bad = web.get("/papers/not-a-paper")
    assert bad.status_code == 404 and "does not look like an arXiv id" in bad.text


def test_search(web: httpx.Client):
    r = web.get("/search", params={"q": "diffusion"})
    assert r.status_code == 200
    assert len(card_ids(r.text)) == 20
    assert re.search(r"\d+ results", r.text)
    page2 = web.get("/search", params={"q": "diffusion", "page": 2})
    assert set(card_ids(page2.text)).isdisjoint(card_ids(r.text))
    top = web.get("/search", params={"q": "diffusion", "sort": "upvotes", "min_upvotes": 50})
    counts = upvotes(top.text)
    assert counts and min(counts) >= 50 and counts == sorted(counts, reverse=True)
    category = web.get("/search", params={"category": "cs.CL", "sort": "newest"})
    assert category.status_code == 200 and "Search the catalog" not in category.text


def test_search_empty_state_and_no_results(web: httpx.Client):
    r = web.get("/search")
    assert r.status_code == 200 and "Search the catalog" in r.text
    none = web.get("/search", params={"q": "zzqqxxnonexistentword", "min_upvotes": 100_000})
    assert none.status_code == 200 and "No papers match" in none.text


def test_search_by_arxiv_id_goes_to_the_paper(web: httpx.Client):
    r = web.get("/search", params={"q": "https://arxiv.org/abs/2401.10241v2"})
    assert r.status_code == 303 and r.headers["location"] == "/papers/2401.10241"


@pytest.mark.parametrize(
    "q",
    [
        '"unbalanced',
        "(((",
        "AND OR NOT",
        "title:",
        "-",
        "*",
        "a" * 3000,
        "\u202e\ufeff\U0001f600 ∑ $x$",
        "%00",
        "<script>alert(1)</script>",
        "\\",
        "NEAR/3 ~2 ^4",
    ],
)
def test_weird_queries_never_fail(web: httpx.Client, q: str):
    r = web.get("/search", params={"q": q, "category": "cs.CL", "sort": "newest"})
    assert r.status_code == 200, r.text[:500]
    assert "<script>alert(1)</script>" not in r.text


@pytest.mark.parametrize(
    "params",
    [
        {"q": "x", "since": "yesterday"},
        {"q": "x", "until": "2024-02-30"},
        {"q": "x", "sort": "best"},
    ],
)
def test_bad_search_filters_are_400(web: httpx.Client, params: dict):
    r = web.get("/search", params=params)
    assert r.status_code == 400
    assert "text/html" in r.headers["content-type"]


def test_not_found_pages(web: httpx.Client):
    r = web.get("/no/such/page")
    assert r.status_code == 404 and "text/html" in r.headers["content-type"]
    assert "Search the papers instead" in r.text
    api = web.get("/api/no/such")
    assert api.status_code == 404 and api.json()["error"] == "not_found"


def test_head_static_and_security_headers(web: httpx.Client):
    head = web.head("/")
    assert head.status_code == 200 and head.content == b""
    home = web.get("/")
    assert home.headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self'" in home.headers["content-security-policy"]
    css = re.search(r'href="(/static/css/site\.css\?v=[0-9a-f]+)"', home.text).group(1)
    static = web.get(css)
    assert static.status_code == 200
    assert static.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "hour" not in static.text
    assert web.get("/static/css/site.css").headers["cache-control"] == "public, max-age=3600"
    assert static.headers["content-type"].startswith("text/css")
    assert int(static.headers["content-length"]) == len(static.content)
    again = web.get(css, headers={"If-None-Match": static.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    for asset in ("vendor/katex/katex.min.js", "vendor/katex/contrib/auto-render.min.js"):
        assert web.get(f"/static/{asset}").status_code == 200
    fonts = re.findall(r"url\((fonts/[^)]+)\)", web.get("/static/vendor/katex/katex.min.css").text)
    assert fonts and all(f.endswith(".woff2") for f in fonts)
    assert all(web.get(f"/static/vendor/katex/{f}").status_code == 200 for f in set(fonts))
    assert web.get("/static/../paperwire.db").status_code == 404
