"""Routes: the JSON API (OpenAPI docs at ``/api/docs``).

``GET /api/daily_papers`` answers in the Hugging Face shape, with the same
parameters, so clients written for huggingface.co work against Paperwire.
Bad parameters get a 4xx with a JSON body naming the parameter; never a 500.
Answers are public and shared for a few seconds through the page cache.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ... import feed
from ...catalog.ids import parse_arxiv_id
from ...feed import Period, PeriodError
from .. import searching
from ..hf_shape import HFDailyItem, HFPaper, daily_item, hf_paper, web_links
from ..templating import public_base
from .common import ErrorBody, trending_page_data

router = APIRouter(prefix="/api", tags=["papers"])

API_CACHE_CONTROL = "public, max-age=30"
MAX_LIMIT = 100


class PaperOut(HFPaper):
    """A paper: the Hugging Face paper object plus what the catalog knows beyond it."""

    categories: list[str]
    listedOn: str | None
    links: dict[str, str]
    codeLinks: list[str]
    comment: str | None
    journalRef: str | None
    doi: str | None
    version: int | None
    url: str
    bibtex: str


ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such paper"},
    422: {"model": ErrorBody, "description": "A parameter is invalid (see message)"},
}


def _db(request: Request) -> Any:
    return request.app.state.db


def _bad(param: str, message: str) -> HTTPException:
    return HTTPException(status_code=422, detail=f"{param}: {message}")


async def _json(request: Request, build: Callable[[], tuple[Any, dict[str, str]]]) -> Response:
    """Serve ``build()`` as JSON, shared between identical requests for a few seconds.

    A cache hit is answered on the event loop; ``build`` runs in the thread pool.
    """
    body, headers = await request.app.state.page_cache.shared(
        ("api", str(request.url)), lambda: run_in_threadpool(_encode, build)
    )
    return Response(
        body,
        media_type="application/json",
        headers={"Cache-Control": API_CACHE_CONTROL, **headers},
    )


def _encode(build: Callable[[], tuple[Any, dict[str, str]]]) -> tuple[bytes, dict[str, str]]:
    data, headers = build()
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode(), headers


def _period(date_: str | None, week: str | None, month: str | None) -> Period | None:
    given = [(n, v) for n, v in (("date", date_), ("week", week), ("month", month)) if v]
    if len(given) > 1:
        raise _bad("date", "give at most one of date, week and month")
    if not given:
        return None
    name, value = given[0]
    parse = {"date": feed.parse_day, "week": feed.parse_week, "month": feed.parse_month}[name]
    try:
        return parse(value)
    except PeriodError as exc:
        raise _bad(name, str(exc)) from None


@router.get(
    "/daily_papers",
    response_model=list[HFDailyItem],
    responses=ERRORS,
    summary="Daily papers (Hugging Face compatible)",
)
async def daily_papers(
    request: Request,
    date_: Annotated[
        str | None,
        Query(
            alias="date", max_length=10, description="a day, YYYY-MM-DD", examples=["2024-04-04"]
        ),
    ] = None,
    week: Annotated[
        str | None, Query(max_length=8, description="an ISO week, YYYY-Www (2026-W47)")
    ] = None,
    month: Annotated[str | None, Query(max_length=7, description="a month, YYYY-MM")] = None,
    submitter: Annotated[
        str | None, Query(max_length=255, description="only papers this user put on the feed")
    ] = None,
    sort: Annotated[
        str | None,
        Query(
            pattern="^(publishedAt|trending)$",
            description="publishedAt: newest first; trending: time-decayed upvotes. "
            "Default: upvotes, then recency.",
        ),
    ] = None,
    p: Annotated[int, Query(ge=0, le=10_000, description="page number, from 0")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")] = 50,
) -> Response:
    """Papers on the feed for a day, week or month (default: the latest day with papers)."""
    period = _period(date_, week, month)

    def build() -> tuple[Any, dict[str, str]]:
        db = _db(request)
        offset = p * limit
        chosen = period
        if chosen is None and submitter is None:
            latest = feed.latest_day(db)
            if latest is None:
                return [], {"X-Total-Count": "0"}
            chosen = feed.day_period(latest)
        if sort == "trending":
            if chosen is None:
                result, _ = trending_page_data(db, datetime.now(UTC), limit, offset)
            else:
                end = datetime.combine(chosen.end, time(23, 59, 59), tzinfo=UTC)
                now = min(datetime.now(UTC), end)
                window = (now.date() - chosen.start).days
                result = feed.trending(db, now, window_days=window, limit=limit, offset=offset)
        else:
            result = feed.ranked(
                db,
                chosen.start if chosen else None,
                chosen.end if chosen else None,
                submitter=submitter,
                sort="newest" if sort == "publishedAt" else "rank",
                limit=limit,
                offset=offset,
            )
        headers = {"X-Total-Count": str(result.total)}
        if chosen is not None:
            headers["X-Paperwire-Period"] = chosen.label
        return [daily_item(c) for c in result.items], headers

    return await _json(request, build)


@router.get(
    "/papers/search",
    response_model=list[HFDailyItem],
    responses=ERRORS,
    summary="Search papers",
)
async def search_papers(
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=500, description="the query")],
    category: Annotated[
        list[str] | None, Query(max_length=10, description="arXiv categories (any of)")
    ] = None,
    since: Annotated[date | None, Query(description="listed on or after (YYYY-MM-DD)")] = None,
    until: Annotated[date | None, Query(description="listed on or before (YYYY-MM-DD)")] = None,
    min_upvotes: Annotated[int | None, Query(ge=0, le=1_000_000)] = None,
    code: Annotated[bool, Query(description="only papers with a code link")] = False,
    sort: Annotated[str, Query(pattern="^(relevance|newest|upvotes)$")] = "relevance",
    p: Annotated[int, Query(ge=0, le=1000, description="page number, from 0")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
) -> Response:
    """Papers matching ``q`` (keywords and meaning), in the daily_papers item shape.

    A query defines one result set, the same on every page: ``X-Total-Count``
    is its size, and ``X-Total-Capped: true`` says that more papers would match
    than the service ranks (the first 1,000 can be paged through).  Papers are
    in the set only when they are likely to be relevant, so a query that
    nothing in the catalog is about returns an empty list.
    """
    query = " ".join(q.split())
    if searching.is_empty_query(query):
        raise _bad("q", "the query is empty (or only punctuation)")
    categories = [c.strip()[:32] for c in category or [] if c.strip()]

    def build() -> tuple[Any, dict[str, str]]:
        outcome = searching.search(
            request.app.state.settings,
            _db(request),
            query,
            categories=categories or None,
            since=since,
            until=until,
            min_upvotes=min_upvotes,
            has_code=code,
            sort=sort,
            limit=limit,
            offset=p * limit,
        )
        headers = {"X-Total-Count": str(outcome.total)}
        if outcome.capped:
            headers["X-Total-Capped"] = "true"
        if outcome.message:
            headers["X-Search-Note"] = outcome.message.encode("ascii", "replace").decode()
        return [daily_item(c) for c in outcome.cards], headers

    return await _json(request, build)


def _resolve(paper_id: str) -> str:
    parsed = parse_arxiv_id(paper_id)
    if parsed is None:
        raise HTTPException(404, f"not an arXiv id: {paper_id[:80]!r}")
    return parsed[0]


@router.get(
    "/papers/{paper_id:path}/similar",
    response_model=list[HFDailyItem],
    responses=ERRORS,
    summary="Similar papers",
)
async def similar_papers(
    request: Request,
    paper_id: str,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
    sort: Annotated[
        str,
        Query(
            pattern="^(similarity|newest|upvotes)$",
            description="similarity, or the closest papers re-ordered by date or upvotes",
        ),
    ] = "similarity",
) -> Response:
    """Papers closest in meaning to this one (empty until the search index is built)."""
    ident = _resolve(paper_id)

    def build() -> tuple[Any, dict[str, str]]:
        if feed.get_paper(_db(request), ident) is None:
            raise HTTPException(404, f"arXiv:{ident} is not in this catalog")
        cards = searching.similar(request.app.state.settings, _db(request), ident, limit, sort)
        return [daily_item(c) for c in cards], {}

    return await _json(request, build)


@router.get(
    "/papers/{paper_id:path}",
    response_model=PaperOut,
    responses=ERRORS,
    summary="One paper",
)
async def get_paper(request: Request, paper_id: str) -> Response:
    """A paper by arXiv id (a version suffix or an arXiv URL is accepted too)."""
    ident = _resolve(paper_id)
    if ident != paper_id:
        return RedirectResponse(f"/api/papers/{ident}", status_code=301)

    def build() -> tuple[Any, dict[str, str]]:
        detail = feed.get_paper(_db(request), ident)
        if detail is None:
            raise HTTPException(404, f"arXiv:{ident} is not in this catalog")
        card = detail.card
        data = hf_paper(card)
        data.update(
            categories=list(card.categories),
            listedOn=card.listed_on.isoformat() if card.listed_on else None,
            links={"abs": card.abs_url, "pdf": card.pdf_url},
            codeLinks=web_links(card.code_links),
            comment=detail.comment,
            journalRef=detail.journal_ref,
            doi=detail.doi,
            version=card.version,
            url=f"{public_base(request)}/papers/{card.id}",
            bibtex=feed.bibtex(card),
        )
        return data, {}

    return await _json(request, build)
