"""Routes: collections (lists of papers, private or shared), as pages and as a JSON API.

Owner pages live under ``/collections/{slug}``; anyone's view of a shared one is
``/c/{share_id}/{slug}`` (the slug is only decoration), with its exports at
``/c/{share_id}.bib|.ris|.csv``.  Whoever may not read a collection gets a 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ...accounts import collections as colls
from ...accounts import collections_io as cio
from ...accounts.clock import as_utc, utcnow
from ...accounts.errors import NotFound, ValidationError
from ...accounts.users import User, get_user
from ..security import current_user
from ..templating import public_base
from . import common as c

router = APIRouter()

PUBLIC_PER_PAGE = 50
EXPORTS = {
    "bib": ("application/x-bibtex; charset=utf-8", cio.to_bibtex),
    "ris": ("application/x-research-info-systems; charset=utf-8", cio.to_ris),
    "csv": ("text/csv; charset=utf-8", cio.to_csv),
}
MAX_PASTE = 200_000  # characters of pasted ids


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
    user = await c.form_user(request, "/collections")
    if isinstance(user, Response):
        return user
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


@router.get("/collections/public", include_in_schema=False)
async def public_collections(request: Request, page: int = 1) -> Response:
    """Every public collection (unlisted ones never), most recently changed first."""
    page = max(1, min(page, 1000))
    items = await c.run(
        colls.list_public,
        c.db(request),
        limit=PUBLIC_PER_PAGE + 1,
        offset=(page - 1) * PUBLIC_PER_PAGE,
    )
    return c.render(
        request,
        "collections_public.html",
        {
            "collections": items[:PUBLIC_PER_PAGE],
            "page": page,
            "more": len(items) > PUBLIC_PER_PAGE,
        },
    )


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
    return c.render(
        request,
        "collection.html",
        {
            "collection": coll,
            "papers": rows,
            "visibilities": colls.VISIBILITIES,
            "max_import_kb": cio.MAX_IMPORT_BYTES // 1000,
        },
    )


async def _collection_action(request: Request, slug: str, action: str) -> Response:
    user = await c.form_user(request, f"/collections/{slug}")
    if isinstance(user, Response):
        return user
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


@router.post("/collections/{slug}/edit", include_in_schema=False)
async def collection_edit(request: Request, slug: str) -> Response:
    """The owner's form: visibility and description."""
    user = await c.form_user(request, f"/collections/{slug}")
    if isinstance(user, Response):
        return user
    form = await c.form(request)
    try:
        await c.run(
            colls.edit,
            c.db(request),
            user.id,
            slug,
            visibility=form.get("visibility") or None,
            description=form["description"][: colls.MAX_DESCRIPTION * 2]
            if "description" in form
            else None,
            now=utcnow(),
        )
    except ValidationError as exc:
        return c.error(request, 400, str(exc))
    except NotFound as exc:
        return c.error(request, 404, str(exc))
    return c.redirect(request, f"/collections/{slug}")


@router.post("/collections/{slug}/move", include_in_schema=False)
async def collection_move(request: Request, slug: str) -> Response:
    """Move one paper up, down, to the top or the bottom (buttons beside each paper)."""
    user = await c.form_user(request, f"/collections/{slug}")
    if isinstance(user, Response):
        return user
    form = await c.form(request)
    paper_id = c.canonical(form.get("paper_id", "").strip()[:300])
    try:
        await c.run(
            colls.move_paper,
            c.db(request),
            user.id,
            slug,
            paper_id,
            form.get("where", ""),
            now=utcnow(),
        )
    except ValidationError as exc:
        return c.error(request, 400, str(exc))
    except NotFound as exc:
        return c.error(request, 404, str(exc))
    return c.redirect(request, f"/collections/{slug}#paper-{paper_id}")


def _too_big(request: Request) -> bool:
    """Refuse an oversized import before anything (the CSRF check) parses the body."""
    length = request.headers.get("content-length", "")
    return length.isdigit() and int(length) > cio.MAX_IMPORT_BYTES + MAX_PASTE * 4


async def _import_entries(request: Request) -> list[cio.Entry] | str:
    """The entries of the import form (a .bib upload or pasted ids), or what is wrong."""
    form = await request.form()
    upload = form.get("bibtex")
    pasted = form.get("ids")
    if upload is not None and not isinstance(upload, str) and upload.filename:
        data = await upload.read(cio.MAX_IMPORT_BYTES + 1)
        if len(data) > cio.MAX_IMPORT_BYTES:
            return f"That file is too big: import at most {cio.MAX_IMPORT_BYTES // 1000} kB."
        try:
            return await c.run(cio.parse_bibtex, data.decode("utf-8-sig", errors="replace"))
        except Exception:  # a parser crash on hostile input is a bad file, never a 500
            return "That file could not be read as BibTeX."
    if isinstance(pasted, str) and pasted.strip():
        if len(pasted) > MAX_PASTE:
            return f"Paste at most {MAX_PASTE // 1000} thousand characters at a time."
        return cio.parse_id_list(pasted)
    return "Choose a .bib file, or paste arXiv ids or URLs."


@router.post("/collections/{slug}/import", include_in_schema=False)
async def collection_import(request: Request, slug: str) -> Response:
    """Import a BibTeX file or a pasted list of ids; the answer reports every entry."""
    user = current_user(request)
    if user is None:
        return c.login_redirect(request, f"/collections/{slug}")
    if _too_big(request):
        limit = cio.MAX_IMPORT_BYTES // 1000
        return c.error(request, 413, f"That is too big: import at most {limit} kB at a time.")
    refused = await c.csrf_or_error(request)
    if refused:
        return refused
    coll = await _collection_or_404(request, user, slug)
    if isinstance(coll, Response):
        return coll
    entries = await _import_entries(request)
    if isinstance(entries, str):
        return c.error(request, 400, entries)
    try:
        report = await c.run(
            cio.import_entries, c.db(request), user.id, slug, entries, now=utcnow()
        )
    except ValidationError as exc:
        return c.error(request, 400, str(exc))
    except NotFound as exc:
        return c.error(request, 404, str(exc))
    return c.render(request, "collection_import.html", {"collection": coll, "report": report})


async def _readable(request: Request, share_id: str) -> colls.Collection | Response:
    user = current_user(request)
    try:
        return await c.run(colls.shared, c.db(request), share_id, user.id if user else None)
    except NotFound as exc:
        return c.error(request, 404, str(exc))


@router.get("/c/{share_id}.{fmt}", include_in_schema=False)
async def shared_export(request: Request, share_id: str, fmt: str) -> Response:
    """The collection as BibTeX, RIS (Zotero, Mendeley) or CSV, for whoever may read it."""
    if fmt not in EXPORTS:
        return c.error(request, 404, "Export as .bib, .ris or .csv.")
    coll = await _readable(request, share_id)
    if isinstance(coll, Response):
        return coll
    rows = await c.run(colls.shared_papers, c.db(request), coll)
    media_type, write = EXPORTS[fmt]
    return Response(
        write(rows),
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{coll.slug}.{fmt}"',
            "Cache-Control": "no-store" if coll.visibility == "private" else "private, max-age=60",
        },
    )


@router.get("/c/{share_id}", include_in_schema=False)
@router.get("/c/{share_id}/{slug}", include_in_schema=False)
async def shared_page(request: Request, share_id: str, slug: str | None = None) -> Response:
    """A collection as anyone with its URL sees it (its owner too, also when private)."""
    coll = await _readable(request, share_id)
    if isinstance(coll, Response):
        return coll
    if slug != coll.slug:
        return c.redirect(request, coll.share_path)
    db = c.db(request)
    rows = await c.run(colls.shared_papers, db, coll)
    owner = await c.run(get_user, db, coll.user_id)
    user = current_user(request)
    return c.render(
        request,
        "collection_shared.html",
        {
            "collection": coll,
            "papers": rows,
            "owner_name": owner.display_name if owner else "",
            "is_owner": user is not None and user.id == coll.user_id,
        },
    )


@router.post("/papers/{paper_id:path}/collect", include_in_schema=False)
async def collect(request: Request, paper_id: str) -> Response:
    """The paper page's control: add to a chosen collection, or to a new one by name."""
    paper_id = c.canonical(paper_id)
    user = await c.form_user(request, f"/papers/{paper_id}")
    if isinstance(user, Response):
        return user
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
    visibility: str = Field(description="private, unlisted (anyone with the URL) or public")
    description: str
    share_url: str = Field(description="the page anyone allowed to read it opens")
    exports: dict[str, str] = Field(description="bib, ris and csv download URLs")


class CollectionPaper(BaseModel):
    id: str
    title: str
    added_at: str


class CollectionDetail(CollectionOut):
    papers: list[CollectionPaper] = Field(description="in the owner's order")


class CollectionIn(BaseModel):
    name: str = Field(min_length=1, max_length=300)


class CollectionPatch(BaseModel):
    visibility: str | None = Field(None, pattern="^(private|unlisted|public)$")
    description: str | None = Field(None, max_length=colls.MAX_DESCRIPTION)
    order: list[str] | None = Field(
        None, max_length=colls.MAX_PAPERS, description="paper ids, first to last"
    )


class ChangedOut(BaseModel):
    changed: bool = Field(description="false when it was so already (safe to retry)")


def _coll_json(request: Request, coll: colls.Collection) -> dict[str, Any]:
    share = public_base(request) + coll.share_path
    base = public_base(request) + f"/c/{coll.share_id}"
    return {
        "name": coll.name,
        "slug": coll.slug,
        "size": coll.size,
        "created_at": coll.created_at.isoformat(),
        "visibility": coll.visibility,
        "description": coll.description,
        "share_url": share,
        "exports": {fmt: f"{base}.{fmt}" for fmt in EXPORTS},
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
    return c.json([_coll_json(request, i) for i in items])


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
    return c.json(_coll_json(request, coll), 201)


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
    return c.json({**_coll_json(request, coll), "papers": papers})


@router.patch(
    "/api/collections/{slug}",
    tags=["collections"],
    response_model=CollectionOut,
    responses=c.responses(400, 401, 403, 404, 422),
    openapi_extra=c.auth_doc("write"),
    summary="Change visibility, description or the order of the papers",
)
async def api_edit_collection(
    request: Request, slug: str, body: Annotated[CollectionPatch, Body()]
) -> Response:
    user = await c.api_user(request)
    if isinstance(user, Response):
        return user
    db, now = c.db(request), utcnow()
    try:
        if body.order is not None:
            order = [c.canonical(p) for p in body.order]
            await c.run(colls.reorder, db, user.id, slug, order, now=now)
        coll = await c.run(
            colls.edit,
            db,
            user.id,
            slug,
            visibility=body.visibility,
            description=body.description,
            now=now,
        )
    except ValidationError as exc:
        return c.error(request, 400, str(exc))
    except NotFound as exc:
        return c.error(request, 404, str(exc))
    return c.json(_coll_json(request, coll))


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
