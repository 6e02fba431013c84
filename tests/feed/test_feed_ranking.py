"""The feed domain: which papers are on a day, week, month; ranking; trending; lookup."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from paperwire import feed
from paperwire.catalog.record import FeedSubmission, PaperRecord
from paperwire.catalog.store import upsert_records
from paperwire.feed.simple_search import simple_search


def rec(
    pid: str,
    listed: date | None,
    upvotes: int = 0,
    *,
    title: str | None = None,
    abstract: str = "An abstract.",
    categories: tuple[str, ...] = ("cs.LG",),
    submitted_on: date | None = None,
) -> PaperRecord:
    return PaperRecord(
        id=pid,
        title=title or f"Paper {pid}",
        abstract=abstract,
        authors=["Ada Lovelace", "Alan Turing"],
        categories=list(categories),
        listed_on=listed,
        external_upvotes=upvotes,
        feed_submission=FeedSubmission(day=submitted_on, submitter="someone", source="local")
        if submitted_on
        else None,
    ).normalise()


MON, TUE, WED = date(2026, 11, 16), date(2026, 11, 17), date(2026, 11, 18)


@pytest.fixture
def catalog(db):
    upsert_records(
        db,
        [
            rec("2611.00001", MON, 5),
            rec("2611.00002", MON, 9),
            rec("2611.00003", MON, 5),  # ties with 00001: the later id (more recent) first
            rec("2611.00004", WED, 1),
            rec("2501.00001", date(2025, 1, 3), 2, submitted_on=MON),  # old, put on Monday
            rec("2611.00009", date(2026, 12, 1), 0),
        ],
    )
    return db


def test_day_feed_includes_submissions_and_ranks_by_upvotes_then_recency(catalog):
    page = feed.day_feed(catalog, MON)
    assert [c.id for c in page.items] == [
        "2611.00002",
        "2611.00003",
        "2611.00001",
        "2501.00001",
    ]
    assert page.total == 4
    assert page.items[-1].day == MON  # shown on the day it was submitted
    assert page.items[-1].submitter == "someone"


def test_pagination_is_stable_and_counts_all(catalog):
    first = feed.day_feed(catalog, MON, limit=2)
    second = feed.day_feed(catalog, MON, limit=2, offset=2)
    assert first.total == second.total == 4
    assert first.has_more and not second.has_more
    assert {c.id for c in first.items}.isdisjoint({c.id for c in second.items})
    assert feed.day_feed(catalog, MON, offset=100).items == []


def test_latest_day_and_neighbours_skip_empty_days(catalog):
    assert feed.latest_day(catalog) == date(2026, 12, 1)
    assert feed.latest_day(catalog, until=WED) == WED
    around = feed.neighbours(catalog, MON)
    assert around.previous == date(2025, 1, 3)
    assert around.next == WED  # Tuesday has no papers
    assert feed.neighbours(catalog, TUE) == feed.Neighbours(MON, WED)
    assert feed.neighbours(catalog, date(2026, 12, 1)).next is None


def test_empty_catalog(db):
    assert feed.latest_day(db) is None
    assert feed.day_feed(db, MON).items == []
    assert feed.neighbours(db, MON) == feed.Neighbours(None, None)
    assert feed.trending(db, datetime(2026, 11, 22, tzinfo=UTC)).total == 0


def test_week_and_month_ranges(catalog):
    week = feed.parse_week("2026-W47")
    assert (week.start, week.end) == (MON, date(2026, 11, 22))
    page = feed.ranked(catalog, week.start, week.end)
    assert [c.id for c in page.items][:2] == ["2611.00002", "2611.00003"]
    assert page.total == 5
    month = feed.parse_month("2026-11")
    assert feed.ranked(catalog, month.start, month.end).total == 5
    assert feed.ranked(catalog, month.start, month.end, sort="newest").items[0].id == "2611.00004"


def test_submitter_filter(catalog):
    page = feed.ranked(catalog, submitter="someone")
    assert [c.id for c in page.items] == ["2501.00001"]


def test_trending_decays_with_age_and_takes_now_as_a_parameter(db):
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    upsert_records(
        db,
        [
            rec("2611.00100", date(2026, 11, 20), 10),  # 12 h old
            rec("2611.00101", date(2026, 11, 14), 40),  # 6.5 days old
            rec("2611.00102", date(2026, 11, 1), 500),  # outside the 7-day window
            rec("2611.00103", date(2026, 11, 21), 999),  # after now: not yet listed
        ],
    )
    page = feed.trending(db, now)
    assert [c.id for c in page.items] == ["2611.00100", "2611.00101"]
    fresh = feed.trending_score(10, date(2026, 11, 20), now, 1.8)
    assert fresh == pytest.approx(10 / (12 + 2) ** 1.8)
    # Same data, a week later: the window has moved on.
    assert feed.trending(db, now + timedelta(days=8)).total == 1  # only 2611.00103
    # A naive datetime is taken as UTC.
    assert feed.trending(db, now.replace(tzinfo=None)).total == 2


def test_lookup(catalog):
    detail = feed.get_paper(catalog, "2611.00002")
    assert detail is not None
    assert detail.card.authors == ("Ada Lovelace", "Alan Turing")
    assert detail.card.categories == ("cs.LG",)
    assert detail.card.abs_url == "https://arxiv.org/abs/2611.00002"
    assert feed.get_paper(catalog, "0000.00000") is None
    cards = feed.cards_by_ids(catalog, ["2611.00004", "nope", "2611.00001"])
    assert [c.id for c in cards] == ["2611.00004", "2611.00001"]
    assert feed.known_categories(catalog)[0] == ("cs.LG", 6)


def test_bad_sort_is_refused(catalog):
    with pytest.raises(ValueError):
        feed.ranked(catalog, MON, MON, sort="random")


def test_simple_search_escapes_like_wildcards(db):
    upsert_records(
        db,
        [
            rec("2611.00201", MON, 3, title="Scaling to 100% accuracy"),
            rec("2611.00202", MON, 1, title="Scaling to 100 percent", abstract="snake_case"),
            rec("2611.00203", TUE, 7, title="Other", categories=("cs.CV",)),
        ],
    )
    assert simple_search(db, "100%") == (["2611.00201"], 1)
    assert simple_search(db, "_")[0] == ["2611.00202"]
    assert simple_search(db, "scaling")[0] == ["2611.00201", "2611.00202"]
    assert simple_search(db, "scaling", sort="newest", min_upvotes=2)[0] == ["2611.00201"]
    assert simple_search(db, "other", categories=["cs.LG"]) == ([], 0)
    assert simple_search(db, "other", categories=["cs.CV"], since=TUE, until=TUE)[1] == 1
