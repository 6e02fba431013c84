"""Routes: following authors and categories, "For you", my topics and the private feed.

- ``/following``: what I follow (unfollow each), and the Following feed;
  ``POST /following/follow`` and ``/following/unfollow`` (the paper page's buttons);
- ``/for-you``: my personal feed, each paper with the reason it is there; my topics
  are added and removed there (``POST /for-you/topics``, ``/for-you/topics/remove``);
- ``/account/feed``: the private Atom feed's secret URL (create, rotate, revoke);
  ``/feeds/for-you/SECRET.atom`` is the feed (404 once the secret is rotated or revoked);
- ``GET /api/for-you`` and ``GET /api/following`` (session or API token).

Every page here is personal: rendered per request, never through the shared page
cache, and answered ``no-store``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ...accounts import feed_tokens
from ...accounts import follows as follow_store
from ...accounts import topics as topic_store
from ...accounts.clock import utcnow
from ...accounts.errors import ValidationError
from ...accounts.users import User
from ...feed import for_you as personal
from ...search.backend import get_backend
from ..hf_shape import HFDailyItem, daily_item
from ..security import current_user
from ..syndication import FeedContent, atom
from ..templating import public_base
from ..views import cached_page
from . import common as c
from .common import page_viewer

router = APIRouter()

PER_PAGE = 30
FEED_ITEMS = 50
PageParam = Annotated[int, Query(ge=1, le=1000)]


def _backend(request: Request) -> Any | None:
    try:
        return get_backend(c.settings(request))
    except Exception:  # no index yet: follows still work
        return None


def _pages(total: int) -> int:
    return max(1, -(-total // PER_PAGE))


# -- following --------------------------------------------------------------------------------


@router.get("/following", include_in_schema=False)
async def following_page(request: Request, page: PageParam = 1) -> Response:
    """What I follow, and the Following feed (a personal page: never shared)."""
    user = page_viewer(request)
    if user is None:
        return c.login_redirect(request, "/following")
    db, offset = c.db(request), (page - 1) * PER_PAGE

    def build() -> dict[str, Any]:
        result = personal.following_feed(db, user.id, limit=PER_PAGE, offset=offset)
        return {
            "follows": follow_store.list_follows(db, user.id),
            "cards": result.items,
            "total": result.total,
            "page": page,
            "pages": _pages(result.total),
            "rank_offset": offset,
            "window_days": personal.FOLLOW_WINDOW_DAYS,
        }

    return await cached_page(request, "following.html", build, cache=False)


async def _follow_action(request: Request, action: str) -> Response:
    form = await c.form(request)
    back = c.safe_next(form.get("next"), "/following")
    user = await c.form_user(request, back)
    if isinstance(user, Response):
        return user
    kind, value = form.get("kind", ""), form.get("value", "")[:300]
    try:
        if action == "follow":
            await c.run(follow_store.follow, c.db(request), user.id, kind, value, now=utcnow())
        else:
            await c.run(follow_store.unfollow, c.db(request), user.id, kind, value)
    except ValidationError as exc:
        return c.error(request, 400, str(exc))
    return c.redirect(request, back)


@router.post("/following/follow", include_in_schema=False)
async def follow(request: Request) -> Response:
    return await _follow_action(request, "follow")


@router.post("/following/unfollow", include_in_schema=False)
async def unfollow(request: Request) -> Response:
    return await _follow_action(request, "unfollow")


# -- for you ----------------------------------------------------------------------------------


def _for_you(request: Request, user: User, limit: int, offset: int) -> personal.ForYouPage:
    return personal.for_you(c.db(request), _backend(request), user.id, limit=limit, offset=offset)


@router.get("/for-you", include_in_schema=False)
async def for_you_page(request: Request, page: PageParam = 1) -> Response:
    """My personal feed, each paper with its reason (a personal page: never shared)."""
    user = page_viewer(request)
    if user is None:
        return c.login_redirect(request, "/for-you")
    offset = (page - 1) * PER_PAGE

    def build() -> dict[str, Any]:
        result = _for_you(request, user, PER_PAGE, offset)
        return {
            "picks": result.items,
            "empty": result.empty,
            "total": result.total,
            "page": page,
            "pages": _pages(result.total),
            "rank_offset": offset,
            "topics": topic_store.list_topics(c.db(request), user.id),
        }

    return await cached_page(request, "for_you.html", build, cache=False)


async def _topic_action(request: Request, action: str) -> Response:
    user = await c.form_user(request, "/for-you")
    if isinstance(user, Response):
        return user
    form = await c.form(request)
    back = c.safe_next(form.get("next"), "/for-you")
    text = form.get("topic", "")[:300]
    try:
        if action == "add":
            await c.run(topic_store.add_topic, c.db(request), user.id, text, now=utcnow())
        else:
            await c.run(topic_store.remove_topic, c.db(request), user.id, text)
    except ValidationError as exc:
        return c.error(request, 400, str(exc))
    return c.redirect(request, back)


@router.post("/for-you/topics", include_in_schema=False)
async def add_topic(request: Request) -> Response:
    return await _topic_action(request, "add")


@router.post("/for-you/topics/remove", include_in_schema=False)
async def remove_topic(request: Request) -> Response:
    return await _topic_action(request, "remove")


# -- the private feed -------------------------------------------------------------------------


@router.get("/account/feed", include_in_schema=False)
async def private_feed_page(request: Request) -> Response:
    user = current_user(request)
    if user is None:
        return c.login_redirect(request, "/account/feed")
    made = await c.run(feed_tokens.created_at, c.db(request), user.id)
    return c.render(request, "private_feed.html", {"account": user, "created_at": made})


@router.post("/account/feed/{action}", include_in_schema=False)
async def private_feed_action(request: Request, action: str) -> Response:
    user = await c.form_user(request, "/account/feed")
    if isinstance(user, Response):
        return user
    if action not in ("rotate", "revoke"):
        return c.error(request, 404, "Nothing to do here.")
    if c.by_token(request):
        return c.error(request, 403, "Manage the private feed on the site, not with a token.")
    db = c.db(request)
    if action == "revoke":
        await c.run(feed_tokens.revoke, db, user.id)
        return c.redirect(request, "/account/feed")
    secret = await c.run(feed_tokens.rotate, db, user.id, now=utcnow())
    url = f"{public_base(request)}/feeds/for-you/{secret}.atom"
    made = await c.run(feed_tokens.created_at, db, user.id)
    ctx = {"account": user, "created_at": made, "feed_url": url}
    return c.render(request, "private_feed.html", ctx, status_code=201)


def _private_atom(request: Request, secret: str) -> bytes | None:
    db = c.db(request)
    user_id = feed_tokens.user_for_secret(db, secret)
    if user_id is None:
        return None
    result = personal.for_you(db, _backend(request), user_id, limit=FEED_ITEMS)
    base = public_base(request)
    content = FeedContent(
        title="Paperwire: for you",
        description="Papers close to what you upvoted, saved, follow and your topics.",
        page_path="/for-you",
        cards=[p.card for p in result.items],
    )
    # The feed's id must not be its URL: the URL is the secret.
    return atom(content, base, f"{base}/for-you")


@router.get("/feeds/for-you/{secret}.atom", include_in_schema=False)
async def private_feed(request: Request, secret: str) -> Response:
    """The private "For you" feed; an unknown, rotated or revoked secret is 404."""
    body = await c.run(_private_atom, request, secret[:200])
    if body is None:
        return c.error(request, 404, "No such feed.")
    return Response(
        body,
        media_type="application/atom+xml; charset=utf-8",
        headers={"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer"},
    )


# -- the JSON API -----------------------------------------------------------------------------


class Reason(BaseModel):
    kind: str = Field(description="saved | upvoted | author | category | topic")
    label: str = Field(description="the seed paper's title, the name, category or topic")
    paper_id: str | None = Field(None, description="the seed paper (saved, upvoted)")
    text: str = Field(description="e.g. “because you upvoted …”")


class ForYouItem(HFDailyItem):
    score: float
    reason: Reason


class Follow(BaseModel):
    kind: str
    value: str
    since: str


@router.get(
    "/api/for-you",
    tags=["accounts"],
    response_model=list[ForYouItem],
    summary="My For you list",
    responses=c.responses(401),
    openapi_extra=c.auth_doc("read"),
)
async def api_for_you(
    request: Request,
    p: Annotated[int, Query(ge=0, le=100, description="page number, from 0")] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    """Papers ranked for the caller, each in the daily_papers item shape plus ``reason``.

    ``X-Total-Count`` is the size of the whole list; ``empty: true`` in
    ``X-For-You-Empty`` says there is nothing to go on yet (no votes, saves,
    follows or topics).
    """
    user = await c.api_user(request, write=False)
    if isinstance(user, Response):
        return user
    result = await c.run(_for_you, request, user, limit, p * limit)
    body = [
        {
            **daily_item(pick.card),
            "score": round(pick.score, 4),
            "reason": {
                "kind": pick.reason.kind,
                "label": pick.reason.label,
                "paper_id": pick.reason.paper_id,
                "text": pick.reason.text,
            },
        }
        for pick in result.items
    ]
    response = c.json(body)
    response.headers["X-Total-Count"] = str(result.total)
    response.headers["X-For-You-Empty"] = "true" if result.empty else "false"
    return response


@router.get(
    "/api/following",
    tags=["accounts"],
    response_model=list[Follow],
    summary="What I follow",
    responses=c.responses(401),
    openapi_extra=c.auth_doc("read"),
)
async def api_following(request: Request) -> Response:
    user = await c.api_user(request, write=False)
    if isinstance(user, Response):
        return user
    items = await c.run(follow_store.list_follows, c.db(request), user.id)
    return c.json(
        [{"kind": f.kind, "value": f.value, "since": f.created_at.isoformat()} for f in items]
    )


async def on_startup(app: Any) -> None:
    """Put "For you" and "Following" in the header's navigation."""
    nav = getattr(app.state, "nav_links", None)
    links = [("For you", "/for-you"), ("Following", "/following")]
    if nav is None:
        app.state.nav_links = links
    else:
        nav.extend(link for link in links if link not in nav)
