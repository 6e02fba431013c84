"""Jinja2 templates shared by every route module, with the site's filters and globals.

Use :func:`render` (a string) or :func:`page` (an HTMLResponse).  Both add the
viewer (``user``), the form token (``csrf``) and ``request`` to the context, so
templates that extend ``base.html`` and call the macros in ``macros.html`` work
from any route module.  Autoescaping is on for every template: never mark
catalog or user text ``|safe``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import fields
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from ..config import Settings
from . import slots
from .security import csrf_token, current_user

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

# Math spans KaTeX renders; an excerpt never cuts inside one.
_MATH = re.compile(r"\$\$.+?\$\$|\$[^$]+?\$|\\\(.+?\\\)|\\\[.+?\\\]", re.DOTALL)


_MATH_SPLIT = re.compile(r"(\$\$.+?\$\$|\$[^$]+?\$|\\\(.+?\\\)|\\\[.+?\\\])", re.DOTALL)
_TEXT_MACRO = re.compile(
    r"\\(?:textit|textbf|textsl|emph|texttt|textsc|textrm|textsf|underline|url|mbox|text)"
    r"\{([^{}]*)\}"
)
_TEXT_ESCAPES = {"\\%": "%", "\\&": "&", "\\_": "_", "\\#": "#", "``": "“", "''": "”"}


@lru_cache(maxsize=4096)  # pages show the same abstracts again and again
def tidy_tex(text: str | None) -> str:
    """Text-mode LaTeX made readable (``\\emph{x}`` -> ``x``, ``\\%`` -> ``%``); math untouched.

    The result is still plain text: templates escape it and KaTeX renders the math.
    """
    parts = _MATH_SPLIT.split(text or "")
    for i in range(0, len(parts), 2):
        part = parts[i]
        for _ in range(3):  # nested macros, innermost first
            part, n = _TEXT_MACRO.subn(r"\1", part)
            if not n:
                break
        for raw, plain in _TEXT_ESCAPES.items():
            part = part.replace(raw, plain)
        parts[i] = part
    return "".join(parts)


@lru_cache(maxsize=4096)
def excerpt(text: str | None, limit: int = 280) -> str:
    """The start of ``text``, cut at a word boundary outside math, with an ellipsis."""
    text = " ".join((text or "").split())
    if len(text) <= limit:
        return text
    cut = limit
    for match in _MATH.finditer(text):
        if match.start() >= limit:
            break
        if match.end() > limit:  # the limit falls inside math: cut before it
            cut = match.start()
            break
    space = text.rfind(" ", 0, cut + 1)
    if space > limit // 2:
        cut = space
    return text[:cut].rstrip(" ,;:.") + "…"


def authors_short(authors: Iterable[str], shown: int = 3) -> str:
    """``A, B, C and 9 others`` (the count makes long author lists scannable)."""
    names = list(authors)
    if len(names) <= shown + 1:
        return ", ".join(names)
    rest = len(names) - shown
    return f"{', '.join(names[:shown])} and {rest} others"


def safe_url(value: str | None) -> str | None:
    """``value`` if it is an http(s) URL, else None: catalog links never run script."""
    if not value or not isinstance(value, str):
        return None
    value = value.strip()
    if value.lower().startswith(("https://", "http://")) and not any(
        ch in value for ch in "\x00\r\n\t<>\"' "
    ):
        return value
    return None


def fmt_date(value: date | datetime | None) -> str:
    """``5 Apr 2024`` (unambiguous in every locale)."""
    if value is None:
        return ""
    return f"{value.day} {value:%b %Y}"


@lru_cache(maxsize=256)
def static_url(path: str) -> str:
    """``/static/PATH?v=HASH``: the hash lets browsers cache static files for a year."""
    file = (STATIC_DIR / path).resolve()
    try:
        file.relative_to(STATIC_DIR.resolve())
        digest = hashlib.blake2b(file.read_bytes(), digest_size=6).hexdigest()
    except (OSError, ValueError):
        return f"/static/{path}"
    return f"/static/{path}?v={digest}"


def url_with(request: Request, **changes: Any) -> str:
    """The current path and query with ``changes`` applied (None removes a parameter)."""
    params: list[tuple[str, str]] = [
        (k, v) for k, v in request.query_params.multi_items() if k not in changes
    ]
    for key, value in changes.items():
        if value is None or value == "":
            continue
        if isinstance(value, list | tuple):
            params.extend((key, str(v)) for v in value)
        else:
            params.append((key, str(value)))
    query = urlencode(params)
    return request.url.path + (f"?{query}" if query else "")


_DEFAULT_BASE_URL = next(f.default for f in fields(Settings) if f.name == "base_url")


def public_base(request: Request) -> str:
    """The site's address for absolute links (feeds, canonical URLs), without a trailing /.

    ``PAPERWIRE_BASE_URL`` when it is set to something other than the default;
    otherwise the address this request came to (so a demo on another port works).
    """
    configured = request.app.state.settings.base_url.rstrip("/")
    if configured and configured != _DEFAULT_BASE_URL:
        return configured
    return str(request.base_url).rstrip("/")


def _has_route(request: Request, path: str) -> bool:
    """Whether some module serves ``path`` (so links to optional areas never 404)."""
    paths = getattr(request.app.state, "route_paths", None)
    if paths is None:
        paths = set(_route_paths(request.app.routes))
        request.app.state.route_paths = paths
    return path in paths


has_route = _has_route


def _route_paths(routes: Iterable[Any]) -> Iterable[str]:
    for route in routes:
        if getattr(route, "path", None) is not None:
            yield route.path
        inner = getattr(route, "original_router", None)  # FastAPI's included routers
        if inner is not None:
            yield from _route_paths(inner.routes)


def _make_env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(["html", "xml"], default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters.update(
        excerpt=excerpt,
        authors_short=authors_short,
        fmt_date=fmt_date,
        safe_url=safe_url,
        tidy_tex=tidy_tex,
    )
    env.globals.update(
        static_url=static_url,
        url_with=url_with,
        has_route=_has_route,
        public_base=public_base,
        vote_mark=slots.vote_mark,
        saved_mark=slots.saved_mark,
        vote_view=slots.vote_view,
        csrf_mark=slots.CSRF_MARK,
        next_mark=slots.NEXT_MARK,
        account_mark=slots.account_mark,
        collect_mark=slots.collect_mark,
        follow_mark=slots.follow_mark,
        discuss_mark=slots.discuss_mark,
        card_html=card_html,
        category_options=category_options,
    )
    return env


@lru_cache(maxsize=4096)
def _card_html(card: Any, links: tuple, compact: bool, level: int) -> Markup:
    return Markup(env.get_template("macros.html").module.paper_card(card, compact, level))


def card_html(card: Any, compact: bool = False, level: int = 2) -> Markup:
    """One card, rendered once per content and reused by every page that lists it.

    The card's per-viewer parts are slot markers (see :mod:`paperwire.web.slots`),
    so the HTML depends only on the card and it can be shared; the key is the
    whole card (a frozen dataclass: any change of title, count, links... is a
    new entry).
    """
    links = tuple(sorted((card.links or {}).items()))
    return _card_html(card, links, compact, level)


def category_options(known: Iterable[tuple[str, int]], chosen: Iterable[str]) -> Markup:
    """The search form's category ``<option>`` list, ``chosen`` selected (a memo: see below)."""
    return _category_options(tuple(known), tuple(chosen))


@lru_cache(maxsize=256)  # the known list changes once a minute; most searches choose none
def _category_options(known: tuple[tuple[str, int], ...], chosen: tuple[str, ...]) -> Markup:
    names = {name for name, _ in known}
    options = [
        Markup('<option value="{0}"{1}>{0} ({2})</option>').format(
            name, Markup(" selected") if name in chosen else "", count
        )
        for name, count in known
    ]
    options += [
        Markup('<option value="{0}" selected>{0}</option>').format(name)
        for name in chosen
        if name not in names
    ]
    return Markup("\n").join(options)


@lru_cache(maxsize=8192)
def upvote_form(paper_id: str, count: int, voted: bool | None, size: str) -> tuple[bytes, ...]:
    """A paper's upvote form as ``(before the token, before the path, after)``.

    One rendering per paper, count, vote state and size, shared by every
    viewer and page (the token and the page's path are filled in per response).
    """
    module = env.get_template("macros.html").module
    return slots.form_pieces(str(module.upvote_form(paper_id, count, voted, size)))


env = _make_env()


def render(
    request: Request,
    name: str,
    context: Mapping[str, Any] | None = None,
    *,
    user: Any = ...,
    csrf: str | None = None,
) -> str:
    """Render template ``name`` for ``request``; ``user``/``csrf`` default to the viewer's."""
    ctx = dict(context or {})
    ctx["request"] = request
    ctx["user"] = current_user(request) if user is ... else user
    ctx["csrf"] = csrf_token(request) if csrf is None else csrf
    return env.get_template(name).render(ctx)


def page(
    request: Request,
    name: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """An HTML response of template ``name`` (see :func:`render`)."""
    return HTMLResponse(render(request, name, context), status_code=status_code, headers=headers)
