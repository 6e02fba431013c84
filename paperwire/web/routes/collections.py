"""Routes: collections (private lists of papers), as pages and as a JSON API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ...accounts import collections as colls
from ...accounts.clock import as_utc, utcnow
from ...accounts.errors import NotFound, ValidationError
from ...accounts.users import User
from ..security import current_user
from . import common as c

router = APIRouter()


# -- pages ------------------------------------------------------------------------------------


@router.get("/collections", include_in_schema=False)
async def collections_page(request: Request) -> Response:
    user = current_user(request)
    if user is None:
        return c.login_redirect(request, "/collections")
    items = await c.run(colls.list_for_user, c.db(request), user.id)
    return c.render(request, "collections.html", {"collections": items, "name": ""})


@router.post("/collections", include_in_schema=False)
async def create_collection(request: Request) -> Response:
    user = current_user(request)
    if user is None:
        return c.login_redirect(request, "/collections")
    refused = await c.csrf_or_error(request)
    if refused:
        return refused
    form = await c.form(request)
    name = form.get("name", "")[:300]
    try:
        coll = await c.run(colls.create, c.db(request), user.id, name, now=utcnow())
    except ValidationError as exc:
        items = await c.run(colls.list_for_user, c.db(request), user.id)
        return c.render(
            request,
            "collections.html",
            {"collections": items, "name": name, "error": str(exc)},
            status_code=400,
        )
    return c.redirect(request, f"/collections/{coll.slug}")


async def _collection_or_404(
    request: Request, user: User, slug: str
) -> colls.Collection | Response:
    try:
        return await c.run(colls.get, c.db(request), user.id, slug)
    except NotFound as exc:
        return c.error(request, 404, str(exc))


@router.get("/collections/{slug}", include_in_schema=False)
async def collection_page(request: Request, slug: str) -> Response:
    user = current_user(request)
    if user is None:
        return c.login_redirect(request, f"/collections/{slug}")
    coll = await _collection_or_404(request, user, slug)
    if isinstance(coll, Response):
        return coll
    rows = await c.run(colls.papers_in, c.db(request), user.id, slug)
    return c.render(request, "collection.html", {"collection": coll, "papers": rows})


async def _collection_action(request: Request, slug: str, action: str) -> Response:
    user = current_user(request)
    if user is None:
        return c.login_redirect(request, f"/collections/{slug}")
    refused = await c.csrf_or_error(request)
    if refused:
        return refused
    form = await c.form(request)
    db, paper_id = c.db(request), c.canonical(form.get("paper_id", "").strip()[:300])
    try:
        if action == "add":
            await c.run(colls.add_paper, db, user.id, slug, paper_id, now=utcnow())
        elif action == "remove":
            await c.run(colls.remove_paper, db, user.id, slug, paper_id)
        else:
            await c.run(colls.delete_collection, db, user.id, slug)
            return c.redirect(request, "/collections")
    except NotFound as exc:
        return c.error(request, 404, str(exc))
    return c.redirect(request, c.safe_next(form.get("next"), f"/collections/{slug}"))


@router.post("/collections/{slug}/add", include_in_schema=False)
async def collection_add(request: Request, slug: str) -> Response:
    return await _collection_action(request, slug, "add")


@router.post("/collections/{slug}/remove", include_in_schema=False)
async def collection_remove(request: Request, slug: str) -> Response:
    return await _collection_action(request, slug, "remove")


@router.post("/collections/{slug}/delete", include_in_schema=False)
async def collection_delete(request: Request, slug: str) -> Response:
    return await _collection_action(request, slug, "delete")


@router.post("/papers/{paper_id:path}/collect", include_in_schema=False)
async def collect(request: Request, paper_id: str) -> Response:
    """The paper page's control: add to a chosen collection, or to a new one by name."""
    paper_id = c.canonical(paper_id)
    user = current_user(request)
    if user is None:
        return c.login_redirect(request, f"/papers/{paper_id}")
    refused = await c.csrf_or_error(request)
    if refused:
        return refused
    form = await c.form(request)
    db, now = c.db(request), utcnow()
    new_name = form.get("new_collection", "").strip()
    try:
        slug = (await c.run(colls.create, db, user.id, new_name, now=now)).slug if new_name else ""
        slug = slug or form.get("collection", "")
        await c.run(colls.add_paper, db, user.id, slug, paper_id, now=now)
    except ValidationError as exc:
        return c.error(request, 400, str(exc))
    except NotFound as exc:
        return c.error(request, 404, str(exc))
    return c.redirect(request, c.safe_next(form.get("next"), f"/papers/{paper_id}"))


# -- the JSON API ---------------------------------------------------------------------------


class CollectionOut(BaseModel):
    name: str
    slug: str
    size: int = Field(description="number of papers")
    created_at: str


class CollectionPaper(BaseModel):
    id: str
    title: str
    added_at: str


class CollectionDetail(CollectionOut):
    papers: list[CollectionPaper] = Field(description="most recently added first")


class CollectionIn(BaseModel):
    name: str = Field(min_length=1, max_length=300)


class ChangedOut(BaseModel):
    changed: bool = Field(description="false when it was so already (safe to retry)")


def _coll_json(coll: colls.Collection) -> dict[str, Any]:
    return {
        "name": coll.name,
        "slug": coll.slug,
        "size": coll.size,
        "created_at": coll.created_at.isoformat(),
    }


ERRORS = c.responses(401, 403, 404, 422)


@router.get(
    "/api/collections",
    tags=["collections"],
    response_model=list[CollectionOut],
    responses=c.responses(401),
    openapi_extra=c.auth_doc("read"),
    summary="My collections",
)
async def api_collections(request: Request) -> Response:
    user = await c.api_user(request, write=False)
    if isinstance(user, Response):
        return user
    items = await c.run(colls.list_for_user, c.db(request), user.id)
    return c.json([_coll_json(i) for i in items])


@router.post(
    "/api/collections",
    tags=["collections"],
    status_code=201,
    response_model=CollectionOut,
    responses=c.responses(400, 401, 403, 422),
    openapi_extra=c.auth_doc("write"),
    summary="Create a collection",
)
async def api_create_collection(
    request: Request, body: Annotated[CollectionIn, Body()]
) -> Response:
    user = await c.api_user(request)
    if isinstance(user, Response):
        return user
    try:
        coll = await c.run(colls.create, c.db(request), user.id, body.name, now=utcnow())
    except ValidationError as exc:
        return c.error(request, 400, str(exc))
    return c.json(_coll_json(coll), 201)


@router.get(
    "/api/collections/{slug}",
    tags=["collections"],
    response_model=CollectionDetail,
    responses=c.responses(401, 404),
    openapi_extra=c.auth_doc("read"),
    summary="One collection and its papers",
)
async def api_collection(request: Request, slug: str) -> Response:
    user = await c.api_user(request, write=False)
    if isinstance(user, Response):
        return user
    db = c.db(request)
    try:
        coll = await c.run(colls.get, db, user.id, slug)
        rows = await c.run(colls.papers_in, db, user.id, slug)
    except NotFound as exc:
        return c.error(request, 404, str(exc))
    papers = [
        {"id": r["id"], "title": r["title"], "added_at": as_utc(r["added_at"]).isoformat()}
        for r in rows
    ]
    return c.json({**_coll_json(coll), "papers": papers})


@router.delete(
    "/api/collections/{slug}",
    tags=["collections"],
    response_model=ChangedOut,
    responses=ERRORS,
    openapi_extra=c.auth_doc("write"),
    summary="Delete a collection (the papers stay in the catalog)",
)
async def api_delete_collection(request: Request, slug: str) -> Response:
    user = await c.api_user(request)
    if isinstance(user, Response):
        return user
    try:
        await c.run(colls.delete_collection, c.db(request), user.id, slug)
    except NotFound as exc:
        return c.error(request, 404, str(exc))
    return c.json({"changed": True})


@router.put(
    "/api/collections/{slug}/papers/{paper_id:path}",
    tags=["collections"],
    response_model=ChangedOut,
    responses=ERRORS,
    openapi_extra=c.auth_doc("write"),
    summary="Add a paper to a collection",
)
async def api_add_paper(request: Request, slug: str, paper_id: str) -> Response:
    user = await c.api_user(request)
    if isinstance(user, Response):
        return user
    try:
        added = await c.run(
            colls.add_paper, c.db(request), user.id, slug, c.canonical(paper_id), now=utcnow()
        )
    except NotFound as exc:
        return c.error(request, 404, str(exc))
    return c.json({"changed": added})


@router.delete(
    "/api/collections/{slug}/papers/{paper_id:path}",
    tags=["collections"],
    response_model=ChangedOut,
    responses=ERRORS,
    openapi_extra=c.auth_doc("write"),
    summary="Take a paper out of a collection",
)
async def api_remove_paper(request: Request, slug: str, paper_id: str) -> Response:
    user = await c.api_user(request)
    if isinstance(user, Response):
        return user
    try:
        removed = await c.run(
            colls.remove_paper, c.db(request), user.id, slug, c.canonical(paper_id)
        )
    except NotFound as exc:
        return c.error(request, 404, str(exc))
    return c.json({"changed": removed})
