"""arXiv identifiers: parse ids and URLs into (id without version, version)."""

from __future__ import annotations

import re

# New-style (0704.0001 .. 2612.12345) and old-style (hep-th/9901001, math.GT/0309136).
_NEW = r"\d{4}\.\d{4,5}"
_OLD = r"[a-z][a-z\-]+(?:\.[A-Z]{2})?/\d{7}"
_ID = rf"(?P<id>{_NEW}|{_OLD})(?:v(?P<version>\d+))?"
_BARE = re.compile(rf"^(?:arxiv:)?{_ID}$", re.IGNORECASE)
_URL = re.compile(
    rf"^(?:https?://)?(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html|format)/{_ID}(?:\.pdf)?/?"
    r"(?:[?#].*)?$",
    re.IGNORECASE,
)
_HF_URL = re.compile(
    rf"^(?:https?://)?(?:www\.)?huggingface\.co/papers/{_ID}/?(?:[?#].*)?$", re.IGNORECASE
)


# arXiv categories look like cs.LG, hep-th, math-ph, q-bio.NC, cond-mat.stat-mech.  Listings
# and snapshots also carry MSC (68T05) and ACM (I.2.6) classes among them, which are not
# arXiv's: they would become bogus facets (and overflow the category column).
_CATEGORY = re.compile(r"^[a-z][a-z\-]*(?:\.[A-Za-z\-]+)?$")
MAX_CATEGORY = 32


def is_arxiv_category(text: str) -> bool:
    """True for an arXiv category name such as ``cs.LG`` or ``hep-th``."""
    return len(text) <= MAX_CATEGORY and _CATEGORY.match(text) is not None


def _valid_new_style(ident: str) -> bool:
    """YYMM.NNNN until 2014-12, YYMM.NNNNN from 2015-01; month 01-12."""
    yymm, number = ident.split(".")
    month = int(yymm[2:])
    if not 1 <= month <= 12:
        return False
    return len(number) == (5 if int(yymm) >= 1501 else 4)


def parse_arxiv_id(text: str) -> tuple[str, int | None] | None:
    """Return ``(id, version)`` for an arXiv id or URL, or ``None`` if it is not one.

    >>> parse_arxiv_id("https://arxiv.org/abs/2505.22617v2")
    ('2505.22617', 2)
    """
    text = (text or "").strip()
    for pattern in (_BARE, _URL, _HF_URL):
        match = pattern.match(text)
        if match:
            version = match.group("version")
            ident = match.group("id")
            if "/" not in ident and not _valid_new_style(ident):
                return None
            if "/" in ident:  # old-style archive names are lower case
                archive, number = ident.split("/", 1)
                ident = f"{archive.split('.')[0].lower()}{'.' + archive.split('.')[1] if '.' in archive else ''}/{number}"  # noqa: E501
            return ident, int(version) if version else None
    return None


def split_version(raw: str) -> tuple[str, int | None]:
    """Split ``2505.22617v2`` into ``("2505.22617", 2)``; raise ValueError if not an id."""
    parsed = parse_arxiv_id(raw)
    if parsed is None:
        raise ValueError(f"not an arXiv id: {raw!r}")
    return parsed
