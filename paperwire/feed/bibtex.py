"""BibTeX entries in arXiv's own style (``@misc`` with eprint, archivePrefix, ...).

Titles keep their LaTeX (math like ``$O(n)$`` and accents like ``\\'e`` are
meant for TeX), but characters that are special in BibTeX/LaTeX text mode are
escaped outside math, and a value with unbalanced braces has every brace
escaped, so no catalog text can end a field early or break the ``.bib`` file.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from .models import PaperCard

_MATH = re.compile(r"(\$\$.+?\$\$|\$.+?\$|\\\(.+?\\\)|\\\[.+?\\\])", re.DOTALL)
# A special character not already escaped by a backslash.
_SPECIAL = re.compile(r"(?<!\\)([&%#_])")
_STOPWORDS = {"a", "an", "the", "on", "of", "in", "for", "to", "and", "with", "towards", "toward"}


def _balanced(text: str) -> bool:
    depth = 0
    escaped = False
    for ch in text:
        if escaped:
            escaped = False
            continue
        if ch == "\\":
            escaped = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def escape_value(text: str) -> str:
    """Text safe inside a braced BibTeX field: specials escaped outside math."""
    text = " ".join(text.split())
    parts = _MATH.split(text)
    out = []
    for i, part in enumerate(parts):
        if i % 2 == 1:  # math: leave as TeX
            out.append(part)
            continue
        part = _SPECIAL.sub(r"\\\1", part)
        part = part.replace("~", r"\textasciitilde{}").replace("^", r"\textasciicircum{}")
        out.append(part)
    value = "".join(out).rstrip("\\")  # a trailing backslash would escape the closing brace
    if not _balanced(value):
        # Braces we cannot trust: make every one literal (and drop a trailing backslash).
        value = re.sub(r"(?<!\\)([{}])", r"\\\1", value)
        if not _balanced(value):
            value = value.replace("{", "").replace("}", "")
    return value


def _author(name: str) -> str:
    value = escape_value(name)
    # "and" inside a name, or a comma, would change how BibTeX splits names.
    if re.search(r"\band\b", value, re.IGNORECASE) or "," in value:
        return "{" + value + "}"
    return value


def _ascii_word(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", folded.lower())


def year_of(card: PaperCard) -> int | None:
    """Submission year: the v1 date, else the arXiv id's YYMM, else the listing day."""
    if card.submitted:
        return card.submitted.year
    match = re.match(r"^(\d{2})(\d{2})\.\d{4,5}$", card.id)
    if match:
        return 2000 + int(match.group(1))
    match = re.search(r"/(\d{2})\d{5}$", card.id)
    if match:
        yy = int(match.group(1))
        return (1900 if yy >= 91 else 2000) + yy
    return card.listed_on.year if isinstance(card.listed_on, date) else None


def cite_key(card: PaperCard) -> str:
    """``lastnameYEARword`` like Google Scholar keys, e.g. ``qi2024zero``."""
    last = _ascii_word(card.authors[0].split()[-1]) if card.authors else ""
    year = year_of(card) or ""
    words = [_ascii_word(w) for w in re.split(r"[\s\-:]+", card.title)]
    word = next((w for w in words if w and w not in _STOPWORDS), "")
    key = f"{last}{year}{word}"
    return key if last or word else "arxiv" + re.sub(r"[^0-9A-Za-z]", "", card.id)


def bibtex(card: PaperCard) -> str:
    """The ``@misc`` entry arXiv itself offers for ``card``."""
    fields: list[tuple[str, str]] = [
        ("title", escape_value(card.title)),
        ("author", " and ".join(_author(a) for a in card.authors)),
    ]
    year = year_of(card)
    if year:
        fields.append(("year", str(year)))
    fields += [("eprint", card.id), ("archivePrefix", "arXiv")]
    if card.primary_category:
        fields.append(("primaryClass", escape_value(card.primary_category)))
    fields.append(("url", f"https://arxiv.org/abs/{card.id}"))
    body = ",\n".join(f"      {name}={{{value}}}" for name, value in fields if value)
    return f"@misc{{{cite_key(card)},\n{body},\n}}\n"
