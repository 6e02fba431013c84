"""Error responses: clear JSON for the API, helpful HTML pages for people, never a traceback.

Bad input is a 4xx with a message saying what to change.  An unexpected error
is logged with its traceback and answered with a plain 500 that reveals nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from .templating import render

log = logging.getLogger("paperwire.web")

_TITLES = {
    400: "Bad request",
    401: "Please log in",
    403: "Not allowed",
    404: "Page not found",
    405: "Method not allowed",
    413: "Too large",
    422: "Check the address",
    429: "Too many requests",
    500: "Something went wrong",
}
_SLUGS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    422: "invalid_parameter",
    429: "too_many_requests",
    500: "internal_error",
}


def wants_json(request: Request) -> bool:
    """API paths answer JSON; so does any client that accepts only JSON."""
    if request.url.path.startswith("/api/"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def is_feed(request: Request) -> bool:
    return request.url.path.endswith(".xml") or request.url.path.endswith(".bib")


def _html(request: Request, status: int, message: str, headers: Any = None) -> Response:
    title = _TITLES.get(status, "Error")
    try:
        body = render(request, "error.html", {"status": status, "title": title, "message": message})
    except Exception:  # the error page itself must not fail
        log.exception("rendering the error page failed")
        return PlainTextResponse(f"{status} {title}: {message}", status_code=status)
    return Response(body, status_code=status, media_type="text/html", headers=headers)


def error_response(
    request: Request, status: int, message: str, *, details: Any = None, headers: Any = None
) -> Response:
    """The error in the form the client reads: JSON, plain text (feeds) or an HTML page."""
    if wants_json(request):
        body: dict[str, Any] = {"error": _SLUGS.get(status, "error"), "message": message}
        if details is not None:
            body["detail"] = details
        return JSONResponse(body, status_code=status, headers=headers)
    if is_feed(request):
        return PlainTextResponse(f"{status}: {message}\n", status_code=status, headers=headers)
    return _html(request, status, message, headers)


def _describe(errors: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """A one-line message and JSON-safe details (no echo of the raw input)."""
    details = []
    parts = []
    for err in errors[:20]:
        loc = [str(x) if not isinstance(x, int) else x for x in err.get("loc", ())]
        msg = str(err.get("msg", "invalid value"))[:300]
        details.append({"loc": loc, "msg": msg, "type": str(err.get("type", "value_error"))})
        name = ".".join(str(x) for x in loc if x not in ("query", "path", "body", "header"))
        parts.append(f"{name or 'request'}: {msg}")
    return "; ".join(parts) or "Invalid request.", details


async def validation_error(request: Request, exc: RequestValidationError) -> Response:
    message, details = _describe(list(exc.errors()))
    status = 422 if wants_json(request) else 400
    return error_response(request, status, message, details=details)


async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    status = exc.status_code
    detail = exc.detail if isinstance(exc.detail, str) else None
    if status == 404 and (detail is None or detail == "Not Found"):
        detail = "There is nothing at this address. It may have moved, or the link has a typo."
    elif status == 405 and (detail is None or detail == "Method Not Allowed"):
        detail = "This address does not accept that kind of request."
    message = detail or _TITLES.get(status, "Error")
    headers = getattr(exc, "headers", None)
    if status < 200 or status in (204, 304):
        return Response(status_code=status, headers=headers)
    return error_response(request, status, message, headers=headers)


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(
        request, 500, "Sorry, something went wrong on our side. It has been logged."
    )


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, server_error)
