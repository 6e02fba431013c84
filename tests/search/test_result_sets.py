"""A query defines one result set: the same total and order on every page, nothing else.

These run the production service with the real encoder over the bundled sample
(753 papers with their real embeddings), so the relevance floors are the ones
the site uses; on both backends (``real_home`` is parametrised).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from .conftest import SAMPLE_NPZ, service_for

pytestmark = pytest.mark.skipif(not SAMPLE_NPZ.exists(), reason="sample embeddings not built")

MAX_DEPTH = 1000
GIBBERISH = ["zzzzqqqxxyy", "qwrtpl vbnmx", "blorptangle frimwix", "xkcdjq wpfzz"]
OUT_OF_FIELD = [
    "sourdough starter feeding schedule",
    "adverse possession in property law",
    "salamander limb regeneration",
]


@pytest.fixture(scope="module")
def service(real_home: Path):
    return service_for(real_home)


def page_through(service, query: str, limit: int, **kw) -> tuple[int, list[str]]:
    """Every page of ``query``: checks each page's total, returns (total, ids in order)."""
    first = service.search(query, limit=limit, **kw)
    total, ids, offset = first.total, [], 0
    while offset < min(total, MAX_DEPTH):
        page = first if offset == 0 else service.search(query, limit=limit, offset=offset, **kw)
        assert page.total == total, (query, offset)
        assert page.hits, (query, offset, total)
        ids.extend(h.id for h in page.hits)
        offset += limit
    assert service.search(query, limit=limit, offset=offset, **kw).hits == [] or (
        offset >= MAX_DEPTH
    )
    return total, ids


words = st.sampled_from(
    [
        "diffusion",
        "language",
        "models",
        "video",
        "generation",
        "robot",
        "reasoning",
        "agents",
        "efficient",
        "attention",
        "zzzzqqqxxyy",
        "((((",
        "*",
        "\\",
        '"video generation"',
        "-video",
        "author:Dao",
        "title:diffusion",
        "like:2401.10241",
        "the",
    ]
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    terms=st.lists(words, min_size=1, max_size=5),
    limit=st.integers(20, 100),
    sort=st.sampled_from(["relevance", "newest", "upvotes"]),
    min_upvotes=st.one_of(st.none(), st.integers(0, 30)),
)
@example(terms=["(((("], limit=100, sort="relevance", min_upvotes=None)
@example(terms=["diffusion"], limit=20, sort="relevance", min_upvotes=None)
def test_paging_never_repeats_or_skips(service, terms, limit, sort, min_upvotes) -> None:
    query = " ".join(terms)
    total, ids = page_through(service, query, limit, sort=sort, min_upvotes=min_upvotes)
    assert len(ids) == len(set(ids)), query  # nothing twice
    assert len(ids) == min(total, MAX_DEPTH), query  # nothing skipped


@pytest.mark.parametrize("query", ["diffusion models", "efficient attention for long context"])
def test_sorts_reorder_the_same_set(service, query: str) -> None:
    from paperwire.catalog.store import get_paper
    from paperwire.db import open_database

    total, by_relevance = page_through(service, query, 50)
    assert total > 0
    db = open_database(service.settings)
    for sort, column in (("newest", "listed_on"), ("upvotes", "upvotes")):
        again, ids = page_through(service, query, 50, sort=sort)
        assert again == total and set(ids) == set(by_relevance)
        values = [get_paper(db, pid)[column] for pid in ids]
        assert values == sorted(values, reverse=True)


@pytest.mark.parametrize("query", GIBBERISH + OUT_OF_FIELD)
def test_nothing_matches_gibberish_or_other_fields(service, query: str) -> None:
    result = service.search(query)
    assert result.total == 0 and result.hits == [], [h.id for h in result.hits]


@pytest.mark.parametrize("query", ["((((", "*", "\\", '"((("', "- ( ) *"])
def test_punctuation_is_an_empty_query(query: str) -> None:
    from paperwire.search.query import parse_query

    assert parse_query(query).is_empty


def test_relevant_queries_still_match(service) -> None:
    # The floors must not cost recall on queries the catalog is about.
    assert service.search("zero bubble pipeline parallelism").hits[0].id == "2401.10241"
    meaning = service.search("making language models use fewer bits per weight", limit=5)
    assert "2402.17764" in [h.id for h in meaning.hits]  # The Era of 1-bit LLMs


def test_more_like_this(service) -> None:
    result = service.search("like:2401.10241", limit=10)
    ids = [h.id for h in result.hits]
    assert ids and "2401.10241" not in ids
    assert ids[:3] == [h.id for h in service.similar("2401.10241", limit=3)]
    assert "needs an arXiv id" in service.search("like:nothing").message


def test_similar_sorted_by_date_or_votes(service) -> None:
    from paperwire.catalog.store import get_paper
    from paperwire.db import open_database

    db = open_database(service.settings)
    closest = {h.id for h in service.similar("2401.10241", limit=30)}
    for sort, column in (("newest", "listed_on"), ("upvotes", "upvotes")):
        hits = service.similar("2401.10241", limit=8, sort=sort)
        assert len(hits) == 8 and {h.id for h in hits} <= closest
        values = [get_paper(db, h.id)[column] for h in hits]
        assert values == sorted(values, reverse=True)


def test_has_code_and_category_counts(service) -> None:
    from paperwire.catalog.store import get_paper
    from paperwire.db import open_database

    db = open_database(service.settings)
    everything = service.search("language models", limit=100)
    with_code = service.search("language models", has_code=True, limit=100)
    assert 0 < with_code.total < everything.total
    assert all(get_paper(db, h.id)["code_links"] for h in with_code.hits)
    assert set(with_code.categories) <= set(everything.categories)
    assert all(n <= everything.total for n in everything.categories.values())
