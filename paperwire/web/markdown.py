"""Comment Markdown to safe HTML: markdown-it-py (CommonMark) then nh3, with math kept as TeX.

What survives: paragraphs, emphasis, code, lists, quotes, headings, rules and
links.  Raw HTML is off in the parser (it comes out as text), images are off
(``![a](b)`` stays text: no pictures from arbitrary hosts), and nh3 then keeps
only the tags and attributes below, links only to ``http``, ``https`` and
``mailto`` with ``rel="nofollow ugc noopener"``.  Math (``$…$``, ``$$…$$``,
``\\(…\\)``, ``\\[…\\]``) is cut out before parsing, so Markdown never turns its
``_`` and ``*`` into emphasis, and put back as escaped text: the page's KaTeX
(``.math`` elements, see ``static/js/site.js``) renders it in the browser.
"""

from __future__ import annotations

import html
import re
import secrets
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

TAGS = {
    "p", "br", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li",
    "a", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
}  # fmt: skip
ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
SCHEMES = {"http", "https", "mailto"}
REL = "nofollow ugc noopener"

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).disable(
    "image"
)
_MATH = re.compile(
    r"\$\$.+?\$\$|\\\[.+?\\\]|\\\(.+?\\\)|(?<![\\$])\$(?=\S)[^$\n]{1,1000}?(?<=\S)\$",
    re.DOTALL,
)


@lru_cache(maxsize=4096)
def render(source: str) -> str:
    """The sanitised HTML of a comment's Markdown ``source`` (cached: it is pure)."""
    nonce = secrets.token_hex(6)
    found: list[str] = []

    def keep(match: re.Match[str]) -> str:
        found.append(match.group(0))
        return f"pwmath{nonce}x{len(found) - 1}x"

    text = _MATH.sub(keep, source[:20_000])
    out = _md.render(text)
    if found:
        out = re.sub(
            f"pwmath{nonce}x(\\d+)x",
            lambda m: html.escape(found[int(m.group(1))], quote=True),
            out,
        )
    return nh3.clean(
        out,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes=SCHEMES,
        link_rel=REL,
        strip_comments=True,
    )
