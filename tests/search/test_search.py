"""Keyword search through the CLI and the Python API on the bundled sample."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from .conftest import cli, is_postgres, service_for, settings_for


def search_json(home: Path, *args: str) -> list[dict]:
    proc = cli(home, "search", *args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def service(sample_home: Path):
    return service_for(sample_home)


def test_cli_json_items(sample_home: Path) -> None:
    items = search_json(sample_home, "zero bubble pipeline parallelism", "--limit", "5")
    assert items[0]["id"] == "2401.10241"
    assert items[0]["title"] == "Zero Bubble Pipeline Parallelism"
    assert {"id", "title", "score", "authors", "date", "upvotes"} <= set(items[0])
    assert len(items) <= 5


def test_cli_readable_output(sample_home: Path) -> None:
    proc = cli(sample_home, "search", "Lumiere space-time diffusion", "--limit", "3")
    assert proc.returncode == 0, proc.stderr
    assert "Lumiere" in proc.stdout and "2401.12945" in proc.stdout


def test_title_is_boosted(service) -> None:
    hits = service.search("pipeline parallelism", limit=5).hits
    assert hits[0].id == "2401.10241"


def test_phrase_author_and_exclusion(service, sample_home) -> None:
    ids = {h.id for h in service.search('author:"Tri Dao"', limit=50).hits}
    assert {"2402.10193", "2401.10774"} <= ids
    without = {h.id for h in service.search('author:"Tri Dao" -medusa', limit=50).hits}
    assert "2401.10774" not in without and "2402.10193" in without
    phrase = service.search('"video generation"', limit=50).hits
    assert phrase
    from paperwire.catalog.store import get_paper
    from paperwire.db import open_database

    db = open_database(settings_for(sample_home))
    for hit in phrase:
        row = get_paper(db, hit.id)
        words = re.findall(r"[a-z0-9]+", f"{row['title']} {row['abstract']}".lower())
        assert "video generat" in " ".join(words)


def test_direct_lookup(service) -> None:
    for text in (
        "2401.10241",
        "arXiv:2401.10241v2",
        "https://arxiv.org/abs/2401.10241",
        "https://huggingface.co/papers/2401.10241",
    ):
        result = service.search(text)
        assert result.direct == "2401.10241", text
        assert [h.id for h in result.hits] == ["2401.10241"]
    missing = service.search("2101.00001")
    assert (
        missing.direct is None and missing.hits == [] and "not in this catalog" in missing.message
    )


def test_category_filters(service) -> None:
    cv = service.search("model", categories=["cs.CV"], limit=100)
    assert cv.hits
    by_query = service.search("model cat:cs.CV", limit=100)
    assert [h.id for h in by_query.hits] == [h.id for h in cv.hits]
    archive = service.search("model", categories=["eess"], limit=100)
    assert archive.hits and not ({h.id for h in archive.hits} & {h.id for h in cv.hits})
    cl = service.search("model", categories=["cs.CL"], limit=100).hits
    assert cl and not ({h.id for h in cl} & {h.id for h in cv.hits})  # cs.CL is not all of cs
    everything_cs = service.search("model", categories=["cs"], limit=100).hits
    assert {h.id for h in cv.hits} & {h.id for h in everything_cs}
    bad = service.search("model", categories=["not a category!"])
    assert bad.hits == [] and "not a category" in bad.message


def test_date_and_upvote_filters(service, sample_home) -> None:
    from paperwire.catalog.store import get_paper
    from paperwire.db import open_database

    db = open_database(settings_for(sample_home))
    res = service.search(
        "language model", since=date(2024, 2, 1), until=date(2024, 2, 29), min_upvotes=20, limit=100
    )
    assert res.hits
    for h in res.hits:
        row = get_paper(db, h.id)
        assert date(2024, 2, 1) <= row["listed_on"] <= date(2024, 2, 29)
        assert row["upvotes"] >= 20
    assert service.search("language model", since=date(2030, 1, 1)).hits == []


def test_sorts(sample_home: Path) -> None:
    newest = search_json(sample_home, "language model", "--sort", "newest", "--limit", "30")
    dates = [i["date"] for i in newest]
    assert dates == sorted(dates, reverse=True)
    top = search_json(sample_home, "", "--sort", "upvotes", "--limit", "5")
    assert top[0]["id"] == "2402.17764"  # 553 upvotes, the sample's maximum
    votes = [i["upvotes"] for i in top]
    assert votes == sorted(votes, reverse=True)
    listing = search_json(sample_home, "", "--limit", "10", "--since", "2024-04-01")
    assert listing and all(i["date"] >= "2024-04-01" for i in listing)


def test_cli_filters(sample_home: Path) -> None:
    items = search_json(
        sample_home, "video", "--category", "cs.CV", "--min-upvotes", "50", "--limit", "50"
    )
    assert items and all(i["upvotes"] >= 50 and "cs.CV" in i["categories"] for i in items)


def test_pagination_is_consistent(service) -> None:
    full = [h.id for h in service.search("language model", limit=30).hits]
    pages = [
        h.id
        for off in (0, 10, 20)
        for h in service.search("language model", limit=10, offset=off).hits
    ]
    assert pages == full


def test_messages_for_repairs(service) -> None:
    res = service.search('"large language')
    assert res.hits and "unbalanced quote" in res.message
    assert "unknown sort" in service.search("x", sort="sideways").message


def test_papers_without_vectors_are_found(service) -> None:
    # This home has no embeddings at all: keyword search alone must work.
    assert service.search("zero bubble").hits[0].id == "2401.10241"
    assert service.similar("2401.10241") == []


search_text = st.one_of(
    st.text(max_size=200),
    st.lists(
        st.sampled_from(
            [
                '"',
                "-",
                "author:",
                "cat:",
                "ti:",
                "cs.CV",
                "video",
                "é",
                "\x00",
                "*",
                ":",
                "(",
                "2401.10241",
                "https://arxiv.org/abs/",
                " ",
            ]
        ),
        max_size=20,
    ).map("".join),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=search_text,
    cats=st.one_of(st.none(), st.lists(st.text(max_size=12), max_size=3)),
    since=st.one_of(st.none(), st.dates()),
    until=st.one_of(st.none(), st.dates()),
    min_up=st.one_of(st.none(), st.integers(-(10**12), 10**12)),
    sort=st.sampled_from(["relevance", "newest", "upvotes", "???"]),
    limit=st.integers(-5, 2000),
    offset=st.integers(-5, 2000),
)
@example(  # found by hypothesis in CI: a direct id lookup ignored limit=0
    text="2401.10241",
    cats=None,
    since=None,
    until=None,
    min_up=None,
    sort="relevance",
    limit=0,
    offset=0,
)
def test_search_never_raises(
    service, text, cats, since, until, min_up, sort, limit, offset
) -> None:
    result = service.search(
        text,
        categories=cats,
        since=since,
        until=until,
        min_upvotes=min_up,
        sort=sort,
        limit=limit,
        offset=offset,
    )
    assert result.message != "search failed; please try a simpler query"
    assert len(result.hits) <= max(limit, 0)
    assert all(isinstance(h.id, str) and h.id for h in result.hits)


def test_common_words_rank_but_do_not_match(sample_home: Path, monkeypatch) -> None:
    """A word in most papers ("model": 93% of the sample) adds to the score of a
    paper with another query word, but makes no keyword match by itself."""
    from paperwire.search import keyword
    from paperwire.search.fusion import DEFAULT

    from .conftest import sample_items

    text = {p["id"]: f"{p['title']} {p['summary']}".lower() for p in sample_items()}
    every = service_for(sample_home, ranking=DEFAULT.unfloored())  # each candidate matches
    # The sample is too small for the rule (COMMON_MIN_DOCS): "model" papers match.
    before = every.search("diffusion models", limit=1000)
    assert any("diffus" not in text[h.id] for h in before.hits)

    monkeypatch.setattr(keyword, "COMMON_MIN_DOCS", 0)
    fresh = service_for(sample_home, ranking=DEFAULT.unfloored())
    after = fresh.search("diffusion models", limit=1000)
    assert after.hits and all("diffus" in text[h.id] for h in after.hits)
    assert after.total < before.total
    # "model" still ranks: the same papers as "diffusion" alone, in another order.
    alone = fresh.search("diffusion", limit=1000).hits
    assert {h.id for h in alone} == {h.id for h in after.hits}
    assert [h.id for h in alone] != [h.id for h in after.hits]
    # Every word common: the query still matches what it says.
    assert fresh.search("models", limit=5).hits


def test_flat_query_lists_what_the_exact_query_lists(sample_home: Path, monkeypatch) -> None:
    """The cheaper flat disjunction (``RankedTerms.flat_first``) gives the same result
    sets as requiring a matching word, both when its list is trusted and when a
    paper with nothing but common words could be on it (then the exact query runs)."""
    if is_postgres(sample_home):
        pytest.skip("tantivy's query shapes (server mode scores common words in SQL)")
    from paperwire.search import engine, keyword
    from paperwire.search.fusion import DEFAULT

    monkeypatch.setattr(keyword, "COMMON_MIN_DOCS", 0)
    monkeypatch.setattr(engine, "KEYWORD_DEPTH", 40)  # lists cut short on the sample
    searches: list[int] = []
    plain_search = keyword.KeywordIndex.search

    def counted(self, query, limit, *, count=True):
        searches.append(limit)
        return plain_search(self, query, limit, count=count)

    monkeypatch.setattr(keyword.KeywordIndex, "search", counted)
    queries = ["video diffusion models", "diffusion models", "polycrystalline models", "model"]

    def answers(ratio: float) -> tuple[list[tuple[int, list[str]]], list[int]]:
        monkeypatch.setattr(keyword, "FLAT_RATIO", ratio)
        service = service_for(sample_home, ranking=DEFAULT.unfloored())
        out, calls = [], []
        for q in queries:
            searches.clear()
            result = service.search(q, limit=100)
            out.append((result.total, [h.id for h in result.hits]))
            calls.append(searches.count(41))  # keyword-list searches (depth + 1)
        return out, calls

    exact, exact_calls = answers(float("inf"))
    flat, flat_calls = answers(0.0)
    assert flat == exact
    assert exact_calls == [1, 1, 1, 1]
    # With "model" (in 93% of the sample) beside other words, the flat list is tried
    # first.  It is trusted for the first two; for "polycrystalline models" papers
    # with only "model" could be on it, so the exact query runs too.  "model" alone
    # has no common word (every word common: none is).
    assert flat_calls == [1, 1, 2, 1]


def test_vector_candidates_get_the_keyword_lists_scores(sample_home: Path, monkeypatch) -> None:
    """The BM25 looked up for given papers (vector candidates) is the keyword list's,
    and a paper with nothing but common words gets none: it is no keyword match."""
    if is_postgres(sample_home):
        pytest.skip("the embedded view's lookups (server mode: test_postgres_index)")
    from paperwire.search import keyword
    from paperwire.search.keyword import Filters
    from paperwire.search.query import parse_query

    from .conftest import sample_items

    monkeypatch.setattr(keyword, "COMMON_MIN_DOCS", 0)
    text = {p["id"]: f"{p['title']} {p['summary']}".lower() for p in sample_items()}
    view = service_for(sample_home)._snapshot()
    assert view is not None
    for query in ("diffusion models", "video reasoning models", "robot learning models"):
        parsed = parse_query(query)
        terms = view.ranked_terms(parsed)
        assert terms.common == ("model",)
        listed = dict(view.keyword_top(parsed, Filters(), terms, 1000, count=False)[0])
        keys = [view.key_of(pid) for pid in text]
        looked_up = view.keyword_scores(parsed, Filters(), terms, keys)
        assert looked_up.keys() == listed.keys()
        assert all(abs(looked_up[k] - listed[k]) <= 1e-4 * listed[k] for k in listed)
        names = dict(zip(keys, text, strict=True))
        assert any("model" in text[names[k]] for k in keys if k not in looked_up)


def test_which_words_are_common() -> None:
    from paperwire.search.keyword import COMMON_MIN_DOCS, common_tokens

    n = COMMON_MIN_DOCS
    assert common_tokens(["diffus", "model"], [n // 10, n * 8 // 10], n) == ("model",)
    # Every word common: none is (the query must still match what it says) ...
    assert common_tokens(["languag", "model"], [n * 6 // 10, n * 8 // 10], n) == ()
    # ... unless an author name matches.
    assert common_tokens(["model"], [n * 8 // 10], n, names=1) == ("model",)
    # Too few papers to tell.
    assert common_tokens(["diffus", "model"], [1, 80], 100) == ()
