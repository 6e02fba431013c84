"""Routes: the HTML pages (feeds by day/week/month, trending, paper pages, search).

Thin by rule: parse the request, call :mod:`paperwire.feed` or the search
adapter, render.  Anonymous pages are shared through the page cache (see
:func:`paperwire.web.views.cached_page`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ... import feed
from ...catalog.ids import parse_arxiv_id
from ...feed import Period, PeriodError
from ...feed import for_you as personal
from ...feed.markdown import paper_markdown
from ...search.backend import get_backend
from .. import searching
from ..cache import PageCache
from ..templating import public_base
from ..views import PageError, cached_page
from .common import login_redirect, moderator_viewer, page_viewer, trending_page_data

router = APIRouter(include_in_schema=False)

PER_PAGE = 30
SEARCH_PER_PAGE = 20
FACETS = 12  # categories listed beside search results
MAX_PAGE = 1000
MAX_QUERY = 500
SIMILAR = 6

PageParam = Annotated[int, Query(ge=1, le=MAX_PAGE, description="1-based page number")]
# "My topics": only my followed categories and topics.  Such a page is the viewer's
# own, so it is built per request and never enters the shared page cache.
MineParam = Annotated[bool, Query(description="only my categories and topics")]


async def _mine(request: Request, mine: bool) -> Any:
    """The viewer a "my topics" page is for (None: not asked), or the login redirect."""
    if not mine:
        return None
    user = await run_in_threadpool(page_viewer, request)
    if user is None:
        return login_redirect(request, request.url.path + "?" + request.url.query)
    return user


def _db(request: Request) -> Any:
    return request.app.state.db


def _settings(request: Request) -> Any:
    return request.app.state.settings


def _bad_period(exc: PeriodError) -> PageError:
    return PageError(400, "That is not a date we understand", str(exc))


def _period_context(
    request: Request, period: Period, page: int, viewer: Any = None
) -> dict[str, Any]:
    db = _db(request)
    offset = (page - 1) * PER_PAGE
    if viewer is not None:  # my topics: never shared (see MineParam)
        backend = get_backend(_settings(request))
        result = personal.my_period(
            db, backend, viewer.id, period.start, period.end, limit=PER_PAGE, offset=offset
        )
    else:
        result = feed.ranked(db, period.start, period.end, limit=PER_PAGE, offset=offset)
    context: dict[str, Any] = {
        "mine": viewer is not None,
        "period": period,
        "cards": result.items,
        "total": result.total,
        "page": page,
        "pages": max(1, -(-result.total // PER_PAGE)),
        "rank_offset": offset,
    }
    if period.kind == "day":
        around = feed.neighbours(db, period.start)
        context["prev_url"] = f"/day/{around.previous}" if around.previous else None
        context["next_url"] = f"/day/{around.next}" if around.next else None
        context["week_url"] = f"/week/{_week_of(period.start)}"
        context["month_url"] = f"/month/{period.start:%Y-%m}"
    else:
        prev, nxt = period.shifted(-1), period.shifted(1)
        context["prev_url"] = f"/{period.kind}/{prev.label}"
        context["next_url"] = f"/{period.kind}/{nxt.label}"
        context["prev_label"], context["next_label"] = prev.label, nxt.label
    return context


def _week_of(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


@router.get("/")
async def home(request: Request, page: PageParam = 1, mine: MineParam = False) -> Response:
    """The latest day with papers, ranked by upvotes then recency."""
    viewer = await _mine(request, mine)
    if isinstance(viewer, Response):
        return viewer

    def build() -> dict[str, Any]:
        latest = feed.latest_day(_db(request))
        if latest is None:
            return {"empty_catalog": True, "cards": [], "total": 0, "page": 1, "pages": 1}
        context = _period_context(request, feed.day_period(latest), page, viewer)
        context["is_home"] = True
        return context

    return await cached_page(request, "feed.html", build, cache=viewer is None)


@router.get("/day/{day}")
async def day_page(
    request: Request, day: str, page: PageParam = 1, mine: MineParam = False
) -> Response:
    """One day's feed with links to the nearest days that have papers."""
    viewer = await _mine(request, mine)
    if isinstance(viewer, Response):
        return viewer

    def build() -> dict[str, Any]:
        try:
            period = feed.parse_day(day)
        except PeriodError as exc:
            raise _bad_period(exc) from None
        return _period_context(request, period, page, viewer)

    return await cached_page(request, "feed.html", build, cache=viewer is None)


@router.get("/week/{week}")
async def week_page(
    request: Request, week: str, page: PageParam = 1, mine: MineParam = False
) -> Response:
    """An ISO week's feed (``2026-W47``), ranked across the whole week."""
    viewer = await _mine(request, mine)
    if isinstance(viewer, Response):
        return viewer

    def build() -> dict[str, Any] | Response:
        try:
            period = feed.parse_week(week)
        except PeriodError as exc:
            raise _bad_period(exc) from None
        if period.label != week:
            return RedirectResponse(f"/week/{period.label}", status_code=301)
        return _period_context(request, period, page, viewer)

    return await cached_page(request, "feed.html", build, cache=viewer is None)


@router.get("/month/{month}")
async def month_page(
    request: Request, month: str, page: PageParam = 1, mine: MineParam = False
) -> Response:
    """A month's feed (``2026-11``)."""
    viewer = await _mine(request, mine)
    if isinstance(viewer, Response):
        return viewer

    def build() -> dict[str, Any]:
        try:
            period = feed.parse_month(month)
        except PeriodError as exc:
            raise _bad_period(exc) from None
        return _period_context(request, period, page, viewer)

    return await cached_page(request, "feed.html", build, cache=viewer is None)


def _latest_or_home(request: Request, target: Any) -> Response:
    latest = feed.latest_day(_db(request))
    if latest is None:
        return RedirectResponse("/", status_code=302)
    return RedirectResponse(target(latest), status_code=302)


@router.get("/week")
def latest_week(request: Request) -> Response:
    """The week of the latest day with papers."""
    return _latest_or_home(request, lambda d: f"/week/{_week_of(d)}")


@router.get("/month")
def latest_month(request: Request) -> Response:
    """The month of the latest day with papers."""
    return _latest_or_home(request, lambda d: f"/month/{d:%Y-%m}")


@router.get("/trending")
async def trending_page(request: Request, page: PageParam = 1, mine: MineParam = False) -> Response:
    """Papers of the last week ranked by time-decayed upvotes."""
    viewer = await _mine(request, mine)
    if isinstance(viewer, Response):
        return viewer

    def build() -> dict[str, Any]:
        offset = (page - 1) * PER_PAGE
        now = datetime.now(UTC)
        result, anchor = trending_page_data(_db(request), now, PER_PAGE, offset)
        if viewer is not None:  # my topics: never shared (see MineParam)
            at = datetime.combine(anchor, time(23, 59, 59), tzinfo=UTC) if anchor else now
            backend = get_backend(_settings(request))
            result = personal.my_trending(
                _db(request), backend, viewer.id, at, limit=PER_PAGE, offset=offset
            )
        return {
            "mine": viewer is not None,
            "trending": True,
            "anchor": anchor,
            "cards": result.items,
            "total": result.total,
            "page": page,
            "pages": max(1, -(-result.total // PER_PAGE)),
            "rank_offset": offset,
            "window_days": feed.ranking.TRENDING_WINDOW_DAYS,
        }

    return await cached_page(request, "feed.html", build, cache=viewer is None)


def _not_found(raw: str, ident: str | None) -> PageError:
    if ident is None:
        return PageError(
            404,
            "Not an arXiv identifier",
            f"“{raw[:80]}” does not look like an arXiv id (e.g. 2401.10241).",
            query=raw[:80],
        )
    return PageError(
        404,
        "Paper not in this catalog",
        f"arXiv:{ident} is not in this catalog yet.",
        arxiv_id=ident,
        query=ident,
    )


@router.get("/papers/{paper_id:path}.md")
async def paper_markdown_page(request: Request, paper_id: str) -> Response:
    """The paper as Markdown (``HfApi().read_paper`` asks for this); before the page's
    catch-all route, which would otherwise take ``ID.md`` for an id."""
    parsed = parse_arxiv_id(paper_id)
    ident = parsed[0] if parsed else None
    if ident is not None and ident != paper_id:
        return RedirectResponse(f"/papers/{ident}.md", status_code=301)
    detail = await run_in_threadpool(feed.get_paper, _db(request), ident) if ident else None
    if detail is None:
        return Response("Not found\n", status_code=404, media_type="text/plain; charset=utf-8")
    page_url = f"{public_base(request)}/papers/{ident}"
    return Response(
        paper_markdown(detail, page_url),
        media_type="text/markdown; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300"},
    )


@router.get("/papers/{paper_id:path}")
async def paper_page(
    request: Request,
    paper_id: str,
    similar: Annotated[str, Query(pattern="^(similarity|newest|upvotes)$")] = "similarity",
) -> Response:
    """A paper: abstract, links, BibTeX and similar papers.

    Also ``/papers/ID.bib`` and ``/papers/ID/bibtex`` (the BibTeX file);
    versioned ids and arXiv URLs redirect to the canonical address.
    """
    raw, as_bib = paper_id, False
    for suffix in (".bib", "/bibtex"):
        if raw.endswith(suffix):
            raw, as_bib = raw[: -len(suffix)], True
    parsed = parse_arxiv_id(raw)
    ident = parsed[0] if parsed else None
    if ident is not None and ident != raw:
        target = f"/papers/{ident}" + (".bib" if as_bib else "")
        return RedirectResponse(target, status_code=301)
    if as_bib:
        return await run_in_threadpool(_bibtex_response, request, raw, ident)

    moderator = await moderator_viewer(request)

    def build() -> dict[str, Any]:
        # A hidden paper is absent for everyone but moderators, whose page is never shared.
        detail = feed.get_paper(_db(request), ident, include_hidden=moderator) if ident else None
        if detail is None:
            raise _not_found(raw, ident)
        return {
            "paper": detail,
            "card": detail.card,
            "bibtex": feed.bibtex(detail.card),
            "similar": searching.similar(
                _settings(request), _db(request), detail.card.id, SIMILAR, similar
            ),
            "similar_sort": similar,
            "moderator_view": moderator,
        }

    return await cached_page(request, "paper.html", build, cache=not moderator)


def _bibtex_response(request: Request, raw: str, ident: str | None) -> Response:
    from ..views import error_page

    detail = feed.get_paper(_db(request), ident) if ident else None
    if detail is None:
        return error_page(request, _not_found(raw, ident))
    filename = ident.replace("/", "_") + ".bib"
    return Response(
        feed.bibtex(detail.card),
        media_type="application/x-bibtex; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "public, max-age=300",
        },
    )


def _parse_optional_day(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise PageError(400, "Check the dates", f"{name} must be a date like 2024-03-01.") from None


@router.get("/search")
async def search_page(
    request: Request,
    q: Annotated[str, Query(max_length=10_000)] = "",
    category: Annotated[list[str] | None, Query(max_length=64)] = None,
    since: Annotated[str | None, Query(max_length=32)] = None,
    until: Annotated[str | None, Query(max_length=32)] = None,
    min_upvotes: Annotated[int | None, Query(ge=0, le=1_000_000)] = None,
    code: Annotated[bool, Query(description="only papers with a code link")] = False,
    sort: Annotated[str, Query(pattern="^(relevance|newest|upvotes)$")] = "relevance",
    page: PageParam = 1,
) -> Response:
    """Search with filters (categories, dates, upvotes, has code), sorting and pagination."""
    query = " ".join(q.split())[:MAX_QUERY]
    categories = [c.strip() for c in category or [] if c.strip()][:10]

    def build() -> dict[str, Any] | Response:
        db = _db(request)
        cats = page_categories(request)
        context: dict[str, Any] = {
            "q": query,
            "categories": categories,
            "since": since or "",
            "until": until or "",
            "min_upvotes": min_upvotes,
            "code": code,
            "sort": sort,
            "page": page,
            "all_categories": cats,
            "cards": [],
            "total": 0,
            "pages": 1,
            "capped": False,
            "facets": [],
        }
        filtered = bool(categories or since or until or min_upvotes is not None or code)
        context["filtered"] = filtered
        if searching.is_empty_query(query) and not filtered:
            context["q"] = ""  # punctuation alone is no query: show the prompt
            return context
        start = _parse_optional_day(since, "“From”")
        end = _parse_optional_day(until, "“To”")
        offset = (page - 1) * SEARCH_PER_PAGE
        outcome = searching.search(
            _settings(request),
            db,
            query,
            categories=categories or None,
            since=start,
            until=end,
            min_upvotes=min_upvotes,
            has_code=code,
            sort=sort,
            limit=SEARCH_PER_PAGE,
            offset=offset,
        )
        if outcome.direct and page == 1 and feed.get_paper(db, outcome.direct):
            return RedirectResponse(f"/papers/{outcome.direct}", status_code=303)
        reachable = min(outcome.total, searching.MAX_RESULTS)
        facets = sorted(outcome.categories.items(), key=lambda kv: (-kv[1], kv[0]))
        context.update(
            cards=outcome.cards,
            total=outcome.total,
            capped=outcome.capped,
            pages=max(1, -(-reachable // SEARCH_PER_PAGE)),
            message=outcome.message,
            rank_offset=offset,
            facets=facets[:FACETS],
        )
        return context

    return await cached_page(request, "search.html", build)


async def on_shutdown(app: Any) -> None:
    """Stop the page cache's database watcher (a LISTEN connection on PostgreSQL)."""
    app.state.page_cache.close()


# The search form's category list is a group-by over the whole catalog (tens of
# ms at 80k papers) whose counts only imports move: kept a minute, votes or not.
CATEGORIES_SECONDS = 60.0


def page_categories(request: Request) -> list[tuple[str, int]]:
    """The most common categories, for the search form's filter."""
    cache = getattr(request.app.state, "categories_cache", None)
    if cache is None:
        cache = request.app.state.categories_cache = PageCache(ttl=CATEGORIES_SECONDS)
    return cache.get_or_build(
        ("categories",), lambda: feed.known_categories(_db(request), limit=60)
    )
