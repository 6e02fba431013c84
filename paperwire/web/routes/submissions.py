"""Routes: submitting a paper to today's feed, from the form and from the JSON API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Body, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ...accounts import submissions
from ...accounts.clock import utcnow
from .. import index_updates
from ..security import current_user
from . import common as c

router = APIRouter()

SUBMIT_STATUS = {
    submissions.ADDED: 200,
    submissions.DUPLICATE: 200,
    submissions.INVALID: 400,
    submissions.NOT_FOUND: 404,
    submissions.UNAVAILABLE: 503,
}


@router.get("/submit", include_in_schema=False)
async def submit_form(request: Request) -> Response:
    if current_user(request) is None:
        return c.login_redirect(request, "/submit")
    return c.render(request, "submit.html", {"value": "", "today": c.today(request)})


async def _submit(request: Request, value: str, background: BackgroundTasks):
    user = current_user(request)
    assert user is not None
    result = await c.run(
        submissions.submit,
        c.db(request),
        c.settings(request),
        user,
        value,
        today=c.today(request),
        now=utcnow(),
    )
    if result.fetched and result.paper_id:
        background.add_task(
            index_updates.after_submission, c.settings(request), c.db(request), [result.paper_id]
        )
    return result


@router.post("/submit", include_in_schema=False)
async def submit(request: Request, background: BackgroundTasks) -> Response:
    if current_user(request) is None:
        return c.login_redirect(request, "/submit")
    refused = await c.csrf_or_error(request)
    if refused:
        return refused
    form = await c.form(request)
    value = form.get("paper", "")[:300]
    result = await _submit(request, value, background)
    response = c.render(
        request,
        "submit.html",
        {"value": "" if result.ok else value, "today": c.today(request), "result": result},
        status_code=SUBMIT_STATUS.get(result.status, 200),
    )
    response.background = background
    return response


class SubmitIn(BaseModel):
    paper: str = Field(min_length=1, max_length=300, description="an arXiv id or URL")


class SubmitOut(BaseModel):
    status: str = Field(description="added, duplicate, invalid, not_found or unavailable")
    message: str
    paper_id: str | None
    day: str | None = Field(description="the feed the paper is on (YYYY-MM-DD)")


@router.post(
    "/api/submissions",
    tags=["accounts"],
    response_model=SubmitOut,
    responses={
        **c.responses(401, 403, 422),
        400: {"model": SubmitOut, "description": "Not an arXiv id or URL"},
        404: {"model": SubmitOut, "description": "arXiv has no such paper"},
        503: {"model": SubmitOut, "description": "arXiv cannot be reached (or offline)"},
    },
    openapi_extra=c.auth_doc("write"),
    summary="Submit a paper to today's feed",
)
async def api_submit(
    request: Request, body: Annotated[SubmitIn, Body()], background: BackgroundTasks
) -> Response:
    """Put a paper on today's feed (fetched from arXiv when the catalog lacks it).

    A paper already on a feed answers 200 with ``status: duplicate`` and its day.
    """
    user = await c.api_user(request)
    if isinstance(user, Response):
        return user
    result = await _submit(request, body.paper, background)
    response = c.json(
        {
            "status": result.status,
            "message": result.message,
            "paper_id": result.paper_id,
            "day": result.day.isoformat() if result.day else None,
        },
        SUBMIT_STATUS.get(result.status, 200),
    )
    response.background = background
    return response
