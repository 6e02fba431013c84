"""Routes: the discussion of a paper (forms on the paper page, and the JSON API).

- ``POST /papers/ID/comments`` (``body``, optional ``parent_id``): comment or reply;
- ``POST /comments/N/edit`` (``body``), ``/comments/N/delete``: the author's own;
- ``POST /comments/N/remove``: a moderator's (logged);
- ``POST /account/reply-mail`` (``notify_replies``): the opt-in reply email;
- ``GET /api/papers/ID/comments`` (threaded) and ``POST`` (a write token, or a
  session with ``X-CSRF-Token``).

Every form checks the CSRF token and origin; the rules themselves (who may
comment, limits, tombstones) live in :mod:`paperwire.discussion.comments`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ... import feed
from ...accounts.clock import utcnow
from ...accounts.errors import AccountError, Forbidden, NotFound, RateLimited
from ...accounts.users import User
from ...discussion import comments as talk
from ...discussion.mail import send_reply
from ..errors import wants_json
from ..markdown import render as render_markdown
from ..security import current_user
from . import common as c

router = APIRouter()


def _status(exc: AccountError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Forbidden):
        return 403
    if isinstance(exc, RateLimited):
        return 429
    return 400


def _refusal(request: Request, exc: AccountError) -> Response:
    headers = c.retry_after(exc) if isinstance(exc, RateLimited) else None
    return c.error(request, _status(exc), str(exc), headers=headers)


def _parent(raw: Any) -> int | None:
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        return -1  # no comment has it: answered as "not on this paper"


async def _post(
    request: Request, user: User, paper_id: str, body: str, parent_id: int | None
) -> talk.Posted:
    """Post, then queue the reply mail (if any) and wake the sender."""
    db, settings, now = c.db(request), c.settings(request), utcnow()
    posted = await c.run(
        talk.post, db, settings, user, paper_id, body, parent_id=parent_id, now=now
    )
    if posted.notify is not None:
        await c.run(send_reply, db, settings, posted, user.name, now=now)
        c.kick_mail(request)
    return posted


async def _form_user(request: Request, back: str) -> User | Response:
    """The logged-in user of a form post whose token checks out, else the answer."""
    user = current_user(request)
    if user is None:
        if wants_json(request):
            return c.error(request, 401, "Log in to join the discussion.")
        return c.login_redirect(request, back)
    refused = await c.csrf_or_error(request)
    return refused if refused is not None else user


def _to_paper(request: Request, paper_id: str, comment_id: int | None = None) -> Response:
    anchor = f"#c{comment_id}" if comment_id else "#discussion"
    return c.redirect(request, f"/papers/{paper_id}{anchor}")


@router.post("/papers/{paper_id:path}/comments", include_in_schema=False)
async def post_comment(request: Request, paper_id: str) -> Response:
    paper_id = c.canonical(paper_id)
    user = await _form_user(request, f"/papers/{paper_id}#discussion")
    if isinstance(user, Response):
        return user
    form = await c.form(request)
    try:
        posted = await _post(
            request, user, paper_id, form.get("body", ""), _parent(form.get("parent_id"))
        )
    except AccountError as exc:
        return _refusal(request, exc)
    return _to_paper(request, paper_id, posted.comment.id)


@router.post("/comments/{comment_id}/edit", include_in_schema=False)
async def edit_comment(request: Request, comment_id: int) -> Response:
    user = await _form_user(request, "/")
    if isinstance(user, Response):
        return user
    form = await c.form(request)
    try:
        done = await c.run(
            talk.edit, c.db(request), user, comment_id, form.get("body", ""), now=utcnow()
        )
    except AccountError as exc:
        return _refusal(request, exc)
    return _to_paper(request, done.paper_id, done.id)


@router.post("/comments/{comment_id}/delete", include_in_schema=False)
async def delete_comment(request: Request, comment_id: int) -> Response:
    user = await _form_user(request, "/")
    if isinstance(user, Response):
        return user
    try:
        paper_id = await c.run(talk.delete, c.db(request), user, comment_id, now=utcnow())
    except AccountError as exc:
        return _refusal(request, exc)
    return _to_paper(request, paper_id)


@router.post("/comments/{comment_id}/remove", include_in_schema=False)
async def remove_comment(request: Request, comment_id: int) -> Response:
    user = await _form_user(request, "/")
    if isinstance(user, Response):
        return user
    form = await c.form(request)
    try:
        paper_id = await c.run(
            talk.remove, c.db(request), user, comment_id, now=utcnow(), note=form.get("note")
        )
    except AccountError as exc:
        return _refusal(request, exc)
    return _to_paper(request, paper_id)


@router.post("/account/reply-mail", include_in_schema=False)
async def reply_mail(request: Request) -> Response:
    user = await _form_user(request, "/account")
    if isinstance(user, Response):
        return user
    form = await c.form(request)
    on = form.get("notify_replies") in ("1", "on", "true")
    await c.run(talk.set_reply_mail, c.db(request), user.id, on)
    return c.redirect(request, "/account?done=replies")


# -- the JSON API ------------------------------------------------------------------------------


class CommentOut(BaseModel):
    id: int
    parentId: int | None
    state: str = Field(description="visible, deleted or removed (a tombstone: no body)")
    author: str | None = Field(description="the author's display name (null on a tombstone)")
    body: str | None = Field(description="the Markdown source")
    html: str | None = Field(description="the body as sanitised HTML (math left as TeX)")
    createdAt: str
    editedAt: str | None
    replies: list[CommentOut]


class ThreadOut(BaseModel):
    paperId: str
    numComments: int = Field(description="visible comments (tombstones not counted)")
    comments: list[CommentOut]


class CommentIn(BaseModel):
    body: str = Field(max_length=talk.MAX_BODY, description="Markdown")
    parentId: int | None = Field(default=None, description="the comment replied to")


def _comment_json(item: talk.Comment) -> dict[str, Any]:
    shown = item.visible
    return {
        "id": item.id,
        "parentId": item.parent_id,
        "state": item.state,
        "author": item.author if shown else None,
        "body": item.body if shown else None,
        "html": render_markdown(item.body) if shown else None,
        "createdAt": item.created_at.isoformat(),
        "editedAt": item.edited_at.isoformat() if item.edited_at else None,
        "replies": [_comment_json(r) for r in item.replies],
    }


def _thread(request: Request, paper_id: str) -> dict[str, Any] | None:
    if feed.get_paper(c.db(request), paper_id) is None:
        return None
    tree = talk.thread(c.db(request), paper_id)
    items = [_comment_json(item) for item in tree]

    def visible(nodes: list[dict[str, Any]]) -> int:
        return sum((n["state"] == "visible") + visible(n["replies"]) for n in nodes)

    return {"paperId": paper_id, "numComments": visible(items), "comments": items}


@router.get(
    "/api/papers/{paper_id:path}/comments",
    tags=["discussion"],
    response_model=ThreadOut,
    responses=c.responses(404),
    summary="A paper's discussion (threaded)",
)
async def api_thread(request: Request, paper_id: str) -> Response:
    """The comments on a paper as a tree, oldest first at every level.

    Deleted or removed comments that still have replies appear as tombstones
    (``state`` deleted/removed, no author or body).
    """
    paper_id = c.canonical(paper_id)
    data = await c.run(_thread, request, paper_id)
    if data is None:
        return c.error(request, 404, f"arXiv:{paper_id} is not in this catalog")
    return c.json(data)


@router.post(
    "/api/papers/{paper_id:path}/comments",
    tags=["discussion"],
    status_code=201,
    response_model=CommentOut,
    responses=c.responses(400, 401, 403, 404, 422, 429),
    openapi_extra=c.auth_doc("write"),
    summary="Comment on a paper, or reply to a comment",
)
async def api_post(request: Request, paper_id: str, body: CommentIn) -> Response:
    """Post ``{"body": "Markdown", "parentId": n|null}``; needs a confirmed account.

    Authenticate with a write API token, or with the session cookie plus
    ``X-CSRF-Token``.  Limited per user (429 with ``Retry-After``).
    """
    paper_id = c.canonical(paper_id)
    user = await c.api_user(request)
    if isinstance(user, Response):
        return user
    try:
        posted = await _post(request, user, paper_id, body.body, body.parentId)
    except AccountError as exc:
        return _refusal(request, exc)
    return c.json(_comment_json(posted.comment), status_code=201)
