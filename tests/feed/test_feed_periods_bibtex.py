"""Periods (day, ISO week, month) and BibTeX generation."""

from __future__ import annotations

import re
from datetime import date

import pytest

from paperwire import feed
from paperwire.feed.bibtex import escape_value, year_of
from paperwire.feed.models import PaperCard


def test_periods_parse_and_label():
    assert feed.parse_day("2026-11-20").label == "2026-11-20"
    week = feed.parse_week("2026-w47")
    assert week.label == "2026-W47" and week.start == date(2026, 11, 16)
    assert feed.parse_week("2020-W53").end == date(2021, 1, 3)
    assert feed.parse_week("2026-W01").shifted(-1).label == "2025-W52"
    assert feed.parse_month("2026-12").shifted(1).label == "2027-01"
    assert feed.parse_month("2024-02").end == date(2024, 2, 29)
    assert feed.parse_day("2024-12-31").shifted(1).label == "2025-01-01"
    assert "Week 47, 2026" in week.title


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (feed.parse_day, "2026-13-01"),
        (feed.parse_day, "20261120"),
        (feed.parse_day, "2026-11-20T00:00"),
        (feed.parse_week, "2026-W54"),
        (feed.parse_week, "2026-47"),
        (feed.parse_month, "2026-00"),
        (feed.parse_month, "2026-1"),
        (feed.parse_month, "<script>"),
    ],
)
def test_bad_periods(parse, text):
    with pytest.raises(feed.PeriodError):
        parse(text)


def card(**kw) -> PaperCard:
    base = dict(
        id="2401.10241",
        title="Zero Bubble Pipeline Parallelism",
        abstract="",
        authors=("Penghui Qi", "Xinyi Wan"),
        categories=("cs.DC", "cs.LG"),
        upvotes=0,
        listed_on=date(2023, 11, 30),
        submitted=None,
        code_links=(),
        project_page=None,
    )
    base.update(kw)
    return PaperCard(**base)


def fields(entry: str) -> dict[str, str]:
    return dict(re.findall(r"^\s+(\w+)=\{(.*)\},$", entry, re.MULTILINE))


def test_bibtex_in_arxiv_style():
    entry = feed.bibtex(card())
    assert entry.startswith("@misc{qi2024zero,\n")
    got = fields(entry)
    assert got == {
        "title": "Zero Bubble Pipeline Parallelism",
        "author": "Penghui Qi and Xinyi Wan",
        "year": "2024",
        "eprint": "2401.10241",
        "archivePrefix": "arXiv",
        "primaryClass": "cs.DC",
        "url": "https://arxiv.org/abs/2401.10241",
    }
    assert entry.rstrip().endswith("}")


def test_bibtex_escapes_text_but_keeps_math():
    entry = feed.bibtex(
        card(
            title=r"Q&A at 100% for $O(n_k)$ with C# and snake_case {unbalanced",
            authors=("Jean-Marie Élise", "Smith and Wesson", "Doe, John"),
            categories=(),
        )
    )
    got = fields(entry)
    assert got["title"] == (r"Q\&A at 100\% for $O(n_k)$ with C\# and snake\_case \{unbalanced")
    assert got["author"] == "Jean-Marie Élise and {Smith and Wesson} and {Doe, John}"
    assert "primaryClass" not in got
    assert entry.startswith("@misc{elise2024qa,")


def test_escape_value_never_leaves_unbalanced_braces():
    for text in ["}{", "a}b", "{{x}", "trailing \\", "ok {fine}"]:
        value = escape_value(text)
        depth = 0
        escaped = False
        for ch in value:
            if escaped:
                escaped = False
                continue
            if ch == "\\":
                escaped = True
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                assert depth >= 0, (text, value)
        assert depth == 0 and not escaped, (text, value)
    assert escape_value("ok {fine}") == "ok {fine}"


def test_year_and_key_fallbacks():
    assert year_of(card(submitted=date(2023, 12, 30))) == 2023
    assert year_of(card(id="hep-th/9901001")) == 1999
    assert year_of(card(id="math/0309136")) == 2003
    assert feed.cite_key(card(authors=(), title="")) == "arxiv240110241"
