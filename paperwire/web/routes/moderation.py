"""Routes: the moderators' pages (hide papers, remove submissions, ban users, the audit log).

Anonymous viewers are sent to the login page; logged-in users who are not
moderators get a 403.  Every action is a CSRF-checked POST recorded in the
moderation log (by :mod:`paperwire.accounts.moderation`).  Afterwards search
hears of it: a hidden paper leaves the index (``papers_changed``), a ban or
unban changes upvote counts (``votes_changed``).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.background import BackgroundTask

from ...accounts import moderation, users
from ...accounts.clock import utcnow
from ...accounts.errors import Forbidden, NotFound, ValidationError
from ...accounts.users import User
from ..security import current_user
from . import common as c

router = APIRouter(include_in_schema=False)

LOG_PAGE = 50


async def _moderator(request: Request, path: str = "/moderation") -> User | Response:
    user = current_user(request)
    if user is None:
        return c.login_redirect(request, path)
    if not user.is_moderator:
        return c.error(request, 403, "This page is for moderators.")
    return user


async def _acting(request: Request) -> tuple[User, dict[str, str]] | Response:
    """The moderator behind a POST and its form, or the response refusing it."""
    user = await _moderator(request)
    if isinstance(user, Response):
        return user
    refused = await c.csrf_or_error(request)
    if refused:
        return refused
    return user, await c.form(request)


def _back(request: Request, form: dict[str, str]) -> Response:
    return c.redirect(request, c.safe_next(form.get("next"), "/moderation"))


@router.get("/moderation")
async def moderation_page(request: Request) -> Response:
    user = await _moderator(request)
    if isinstance(user, Response):
        return user
    db = c.db(request)
    context = {
        "submissions": await c.run(moderation.recent_submissions, db, limit=50),
        "hidden": await c.run(moderation.hidden_papers, db, limit=100),
        "people": await c.run(users.list_users, db, limit=200),
        "log": await c.run(moderation.log_entries, db, limit=10),
        "moderator": user,
    }
    return c.render(request, "moderation.html", context)


@router.get("/moderation/log")
async def log_page(request: Request, page: int = 1) -> Response:
    user = await _moderator(request, "/moderation/log")
    if isinstance(user, Response):
        return user
    page = max(1, min(page, 10_000))
    db = c.db(request)
    entries = await c.run(moderation.log_entries, db, limit=LOG_PAGE, offset=(page - 1) * LOG_PAGE)
    total = await c.run(moderation.count_log, db)
    pages = max(1, -(-total // LOG_PAGE))
    return c.render(
        request, "moderation_log.html", {"entries": entries, "page": page, "pages": pages}
    )


async def _set_hidden(request: Request, paper_id: str, hidden: bool) -> Response:
    acting = await _acting(request)
    if isinstance(acting, Response):
        return acting
    user, form = acting
    paper_id = c.canonical(paper_id)
    db, settings = c.db(request), c.settings(request)
    try:
        changed = await c.run(
            moderation.set_hidden, db, user, paper_id, hidden, now=utcnow(), note=form.get("note")
        )
    except NotFound as exc:
        return c.error(request, 404, str(exc))
    response = _back(request, form)
    if changed:
        response.background = BackgroundTask(c.papers_changed, settings, db, [paper_id])
    return response


@router.post("/moderation/papers/{paper_id:path}/hide")
async def hide_paper(request: Request, paper_id: str) -> Response:
    return await _set_hidden(request, paper_id, True)


@router.post("/moderation/papers/{paper_id:path}/unhide")
async def unhide_paper(request: Request, paper_id: str) -> Response:
    return await _set_hidden(request, paper_id, False)


@router.post("/moderation/hide")
async def hide_by_id(request: Request) -> Response:
    """The dashboard's "hide a paper" box (an id or arXiv URL)."""
    acting = await _acting(request)
    if isinstance(acting, Response):
        return acting
    _user, form = acting
    return await _set_hidden(request, form.get("paper_id", "").strip()[:300], True)


@router.post("/moderation/submissions/{paper_id:path}/remove")
async def remove_submission(request: Request, paper_id: str) -> Response:
    acting = await _acting(request)
    if isinstance(acting, Response):
        return acting
    user, form = acting
    try:
        await c.run(
            moderation.remove_submission,
            c.db(request),
            user,
            c.canonical(paper_id),
            now=utcnow(),
            note=form.get("note"),
        )
    except NotFound as exc:
        return c.error(request, 404, str(exc))
    return _back(request, form)


async def _set_banned(request: Request, user_id: int, banned: bool) -> Response:
    acting = await _acting(request)
    if isinstance(acting, Response):
        return acting
    user, form = acting
    try:
        changed = await c.run(
            moderation.set_banned,
            c.db(request),
            user,
            user_id,
            banned,
            now=utcnow(),
            note=form.get("note"),
        )
    except NotFound as exc:
        return c.error(request, 404, str(exc))
    except Forbidden as exc:
        return c.error(request, 403, str(exc))
    return c.refresh_counts(request, _back(request, form), changed)


@router.post("/moderation/users/{user_id}/ban")
async def ban_user(request: Request, user_id: int) -> Response:
    return await _set_banned(request, user_id, True)


@router.post("/moderation/users/{user_id}/unban")
async def unban_user(request: Request, user_id: int) -> Response:
    return await _set_banned(request, user_id, False)


@router.post("/moderation/users/{user_id}/role")
async def set_role(request: Request, user_id: int) -> Response:
    """Admins only: make a user a moderator, an admin, or a user again."""
    acting = await _acting(request)
    if isinstance(acting, Response):
        return acting
    user, form = acting
    try:
        await c.run(
            moderation.set_role, c.db(request), user, user_id, form.get("role", ""), now=utcnow()
        )
    except NotFound as exc:
        return c.error(request, 404, str(exc))
    except Forbidden as exc:
        return c.error(request, 403, str(exc))
    except ValidationError as exc:
        return c.error(request, 400, str(exc))
    return _back(request, form)
