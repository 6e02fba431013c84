"""Clean-up of titles and abstracts as they come from arXiv (hard line breaks)."""

from __future__ import annotations

import re

_SPACES = re.compile(r"[ \t\r\f\v]+")
_PARA = re.compile(r"\n\s*\n")


def clean_title(title: str | None) -> str:
    """One line, single spaces."""
    return " ".join((title or "").split())


def clean_abstract(abstract: str | None) -> str:
    """Join hard-wrapped lines; keep blank-line paragraph breaks."""
    text = (abstract or "").strip()
    if not text:
        return ""
    paragraphs = _PARA.split(text)
    return "\n\n".join(" ".join(p.split()) for p in paragraphs if p.strip())


def clean_optional(value: str | None) -> str | None:
    """Whitespace-normalised text, or None when empty."""
    if value is None:
        return None
    value = " ".join(str(value).split())
    return value or None
