"""A paper as Markdown, for ``GET /papers/{id}.md`` (what ``HfApi().read_paper`` fetches).

Plain text for tools and language models: title, authors, links, abstract.
Catalog text is not trusted to be Markdown: lines that would start a heading,
list or quote are escaped, and only http(s) links are written.
"""

from __future__ import annotations

import re

from ..catalog.codelinks import http_url, http_urls
from .models import PaperDetail

_BLOCK_START = re.compile(r"^(\s*)([#>*+\-=|]|\d+[.)])")


def _inline(text: str) -> str:
    return " ".join((text or "").split())


def _paragraph(text: str) -> str:
    lines = [
        _BLOCK_START.sub(lambda m: m.group(1) + "\\" + m.group(2), ln) for ln in text.splitlines()
    ]
    return "\n".join(lines).strip()


def paper_markdown(detail: PaperDetail, page_url: str) -> str:
    """The paper's Markdown document (UTF-8 text, ends with a newline)."""
    card = detail.card
    out = [f"# {_inline(card.title)}", ""]
    if card.authors:
        out += [f"**Authors:** {_inline(', '.join(card.authors))}", ""]
    facts = [f"arXiv:{card.id}" + (f"v{card.version}" if card.version else "")]
    day = card.submitted or card.listed_on
    if day:
        facts.append(f"published {day.isoformat()}")
    if card.categories:
        facts.append(", ".join(card.categories))
    if card.upvotes:
        facts.append(f"{card.upvotes} upvote{'s' if card.upvotes != 1 else ''}")
    out += [" · ".join(facts), ""]
    links = [
        ("arXiv", http_url(card.abs_url)),
        ("PDF", http_url(card.pdf_url)),
        *[("Code", url) for url in http_urls(card.code_links)],
        ("Project page", http_url(card.project_page)),
        ("Paperwire", http_url(page_url)),
    ]
    if detail.doi:
        links.append(("DOI", f"https://doi.org/{detail.doi.strip()}"))
    out += ["## Links", ""]
    out += [f"- {name}: <{url}>" for name, url in links if url and ">" not in url]
    out += ["", "## Abstract", ""]
    paras = [_paragraph(p) for p in re.split(r"\n\s*\n", card.abstract or "") if p.strip()]
    out += ["\n\n".join(paras) if paras else "_No abstract available._", ""]
    if detail.comment:
        out += ["## Comment", "", _paragraph(detail.comment), ""]
    return "\n".join(out)
