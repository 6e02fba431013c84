"""Routes: upvotes, from the site's forms (and fetch) and from the JSON API.

An anonymous upvote changes nothing and is answered with the way to the login
page (401 for JSON clients); any other POST checks the CSRF token and origin
first, unless it carries a write API token.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ...accounts import upvotes
from ...accounts.clock import utcnow
from ...accounts.errors import NotFound
from ..errors import wants_json
from ..security import current_user
from . import common as c

router = APIRouter()


class VoteOut(BaseModel):
    upvoted: bool = Field(description="whether the caller now upvotes the paper")
    upvotes: int = Field(description="the paper's upvotes (external plus local)")


class VoteIn(BaseModel):
    """Set the vote instead of toggling it (safe to retry)."""

    upvoted: bool = Field(strict=True, description="true: upvote; false: take the upvote back")


def _vote_json(state: upvotes.VoteState) -> dict[str, Any]:
    return {"upvoted": state.upvoted, "upvotes": state.upvotes}


@router.post("/papers/{paper_id:path}/upvote", include_in_schema=False)
async def upvote(request: Request, paper_id: str) -> Response:
    """Toggle the viewer's upvote; JSON for fetch, else a redirect back."""
    paper_id = c.canonical(paper_id)
    user = current_user(request)
    if user is None:
        if wants_json(request):
            return c.error(request, 401, "Log in to upvote papers.")
        return c.login_redirect(request, c.referer_path(request) or f"/papers/{paper_id}")
    refused = await c.csrf_or_error(request)
    if refused:
        return refused
    try:
        state = await c.run(upvotes.toggle, c.db(request), user.id, paper_id, now=utcnow())
    except NotFound as exc:
        return c.error(request, 404, str(exc))
    if wants_json(request):
        response: Response = c.json(_vote_json(state))
    else:
        form = await c.form(request)
        back = form.get("next") or c.referer_path(request) or f"/papers/{paper_id}"
        response = c.redirect(request, c.safe_next(back, f"/papers/{paper_id}"))
    return c.refresh_counts(request, response, [paper_id])


@router.post(
    "/api/papers/{paper_id:path}/upvote",
    tags=["accounts"],
    response_model=VoteOut,
    responses=c.responses(401, 403, 404, 422, e422='The body is not {"upvoted": bool}'),
    openapi_extra=c.auth_doc("write"),
    summary="Upvote a paper (toggle, or set with a body)",
)
async def api_upvote(
    request: Request, paper_id: str, body: Annotated[VoteIn | None, Body()] = None
) -> Response:
    """Toggle the caller's upvote, or set it with ``{"upvoted": true|false}``.

    Authenticate with a write API token (``Authorization: Bearer pw_…``), or
    with the session cookie of a login plus the ``X-CSRF-Token`` header (from
    ``GET /api/session``).  Answers ``{"upvoted": bool, "upvotes": n}``.
    """
    paper_id = c.canonical(paper_id)
    user = await c.api_user(request)
    if isinstance(user, Response):
        return user
    db, now = c.db(request), utcnow()
    try:
        if body is None:
            state = await c.run(upvotes.toggle, db, user.id, paper_id, now=now)
        else:
            state = await c.run(upvotes.set_vote, db, user.id, paper_id, body.upvoted, now=now)
    except NotFound as exc:
        return c.error(request, 404, str(exc))
    return c.refresh_counts(request, c.json(_vote_json(state)), [paper_id])
