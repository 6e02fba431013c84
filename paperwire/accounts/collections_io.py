"""Collections in and out: BibTeX, RIS and CSV exports; BibTeX and id-list imports.

Exports take catalog rows (``collections.papers_in``) in the collection's order.
BibTeX reuses the paper page's entries (:func:`paperwire.feed.bibtex`, which
escapes catalog text).  RIS is what Zotero and Mendeley read: ``TY  - ELEC``
for a preprint, ``JOUR`` once it has a journal reference.  CSV cells that a
spreadsheet would run as a formula (``= + - @``, tab, CR) get a leading quote.

Imports never guess from free text with regular expressions: BibTeX goes through
bibtexparser 2.x, ids and URLs through :func:`paperwire.catalog.ids.parse_arxiv_id`.
Every input entry ends up in the report: matched (an arXiv id), or unmatched with
its line and the reason, so nothing is dropped silently.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import bibtexparser
from sqlalchemy import select

from ..catalog.ids import parse_arxiv_id
from ..db import Database
from ..db.schema.catalog import papers
from ..feed import PaperCard, bibtex
from . import collections as colls

MAX_IMPORT_BYTES = 1_000_000
MAX_IMPORT_ENTRIES = 1000
_DOI_ARXIV = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/)?10\.48550/arxiv\.(?P<id>.+)$", re.I)
_HF_SHORT = re.compile(r"^(?:https?://)?(?:www\.)?hf\.co/papers/", re.I)


# -- exports ------------------------------------------------------------------------------


def card_of(row: dict[str, Any]) -> PaperCard:
    """A feed card from a catalog row (what the BibTeX writer takes)."""
    return PaperCard(
        id=row["id"],
        title=row.get("title") or "",
        abstract=row.get("abstract") or "",
        authors=tuple(row.get("authors") or ()),
        categories=tuple(row.get("categories") or ()),
        upvotes=row.get("upvotes") or 0,
        listed_on=row.get("listed_on"),
        submitted=row.get("submitted"),
        code_links=tuple(row.get("code_links") or ()),
        project_page=row.get("project_page"),
        links=dict(row.get("links") or {}),
        version=row.get("version"),
    )


def to_bibtex(rows: Iterable[dict[str, Any]]) -> str:
    """One ``@misc`` entry per paper, cite keys made unique with a, b, c... suffixes."""
    out, seen = [], set()
    for row in rows:
        entry = bibtex(card_of(row))
        key = entry[entry.index("{") + 1 : entry.index(",")]
        unique, n = key, 0
        while unique in seen:
            n += 1
            unique = f"{key}{chr(ord('a') + n - 1) if n <= 26 else n}"
        seen.add(unique)
        out.append(entry.replace(key, unique, 1))
    return "\n".join(out)


def _ris_text(value: str) -> str:
    """One RIS line's value: no newlines (a newline would start a forged tag)."""
    return " ".join(str(value).split())


def to_ris(rows: Iterable[dict[str, Any]]) -> str:
    """RIS records: TY, ID, TI, AU..., AB, PY, DA, UR, DO, KW..., ER (CRLF, as the spec says)."""
    lines: list[str] = []
    for row in rows:
        card = card_of(row)
        kind = "JOUR" if row.get("journal_ref") else "ELEC"
        tags: list[tuple[str, str]] = [("TY", kind), ("ID", f"arXiv:{card.id}")]
        tags.append(("TI", card.title))
        tags += [("AU", a) for a in card.authors]
        if card.abstract:
            tags.append(("AB", card.abstract))
        day = card.submitted or card.listed_on
        if isinstance(day, date):
            tags += [("PY", str(day.year)), ("DA", day.strftime("%Y/%m/%d"))]
        if row.get("journal_ref"):
            tags.append(("JO", row["journal_ref"]))
        tags.append(("UR", f"https://arxiv.org/abs/{card.id}"))
        if row.get("doi"):
            tags.append(("DO", row["doi"]))
        tags += [("KW", c) for c in card.categories]
        tags.append(("ER", ""))
        lines += [f"{tag}  - {_ris_text(value)}" for tag, value in tags]
        lines.append("")
    return "\r\n".join(lines)


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """A cell a spreadsheet shows as text: formula-looking values get a leading quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


CSV_COLUMNS = ("arxiv_id", "title", "authors", "published", "categories", "url", "doi", "added_at")


def to_csv(rows: Iterable[dict[str, Any]]) -> str:
    """A header row, then one row per paper (authors and categories joined with "; ")."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        day = row.get("submitted") or row.get("listed_on")
        added = row.get("added_at")
        writer.writerow(
            csv_cell(v)
            for v in (
                row["id"],
                row.get("title") or "",
                "; ".join(row.get("authors") or ()),
                day.isoformat() if day else "",
                "; ".join(row.get("categories") or ()),
                f"https://arxiv.org/abs/{row['id']}",
                row.get("doi") or "",
                added.isoformat() if added else "",
            )
        )
    return buf.getvalue()


# -- imports ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One item of an import: where it was, what it was, and the arXiv id found (or why not)."""

    line: int
    label: str
    arxiv_id: str | None = None
    title: str | None = None
    problem: str | None = None


@dataclass
class ImportReport:
    """What an import did, entry by entry."""

    added: list[Entry] = field(default_factory=list)
    present: list[Entry] = field(default_factory=list)
    unmatched: list[Entry] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.added) + len(self.present) + len(self.unmatched)


def arxiv_id_of(text: str) -> str | None:
    """An arXiv id from an id, an arXiv/Hugging Face URL (hf.co too) or an arXiv DOI."""
    text = (text or "").strip().strip("<>").strip()
    if not text:
        return None
    text = _HF_SHORT.sub("https://huggingface.co/papers/", text)
    doi = _DOI_ARXIV.match(text)
    if doi:
        text = doi.group("id")
    parsed = parse_arxiv_id(text)
    return parsed[0] if parsed else None


def parse_id_list(text: str) -> list[Entry]:
    """Entries from pasted text: one id or URL per line (or separated by spaces/commas)."""
    entries: list[Entry] = []
    for number, line in enumerate(text.splitlines(), start=1):
        for token in re.split(r"[\s,;]+", line.strip()):
            if not token or token.startswith("#"):
                continue
            if len(entries) >= MAX_IMPORT_ENTRIES:
                entries.append(Entry(number, token[:120], problem="too many entries"))
                return entries
            ident = arxiv_id_of(token)
            problem = None if ident else "not an arXiv id or URL"
            entries.append(Entry(number, token[:120], arxiv_id=ident, problem=problem))
    return entries


def _field(entry: Any, name: str) -> str:
    found = entry.fields_dict.get(name) or entry.fields_dict.get(name.upper())
    value = found.value if found is not None else ""
    return value if isinstance(value, str) else str(value)


def _bib_arxiv_id(entry: Any) -> str | None:
    eprint = _field(entry, "eprint")
    prefix = _field(entry, "archiveprefix") or _field(entry, "archivePrefix")
    if eprint and (not prefix or prefix.lower() == "arxiv"):
        found = arxiv_id_of(eprint)
        if found:
            return found
    for name in ("doi", "url", "note", "howpublished", "journal"):
        value = _field(entry, name)
        found = arxiv_id_of(value)
        if found:
            return found
        for token in re.split(r"[\s{}]+|\\url", value):
            found = arxiv_id_of(token.rstrip(".,;"))
            if found and ("arxiv" in token.lower() or "hf.co" in token or "huggingface" in token):
                return found
    return None


def _plain_title(value: str) -> str:
    return " ".join(value.replace("{", "").replace("}", "").split())


def parse_bibtex(text: str) -> list[Entry]:
    """Entries of a BibTeX file; failed blocks become entries with their line and error."""
    library = bibtexparser.parse_string(text)
    entries: list[Entry] = []
    for block in sorted(
        [*library.entries, *library.failed_blocks], key=lambda b: b.start_line or 0
    ):
        line = (block.start_line or 0) + 1
        if not hasattr(block, "fields_dict"):
            first = (getattr(block, "raw", "") or "").strip().splitlines()
            label = first[0][:120] if first else "?"
            entries.append(Entry(line, label, problem="malformed BibTeX entry"))
            continue
        title = _plain_title(_field(block, "title"))
        ident = _bib_arxiv_id(block)
        entries.append(
            Entry(
                line,
                block.key or title[:120] or "?",
                arxiv_id=ident,
                title=title or None,
                problem=None if ident or title else "no arXiv id and no title",
            )
        )
        if len(entries) >= MAX_IMPORT_ENTRIES:
            break
    return entries


def match_titles(db: Database, entries: list[Entry]) -> list[Entry]:
    """Fill in the arXiv id of entries that have only a title, by exact title (one query)."""
    wanted = {e.title for e in entries if e.arxiv_id is None and e.title}
    if not wanted:
        return entries
    with db.connect() as conn:
        rows = conn.execute(
            select(papers.c.id, papers.c.title).where(
                papers.c.title.in_(list(wanted)), papers.c.hidden_at.is_(None)
            )
        ).all()
    by_title: dict[str, list[str]] = {}
    for row in rows:
        by_title.setdefault(row.title, []).append(row.id)
    out = []
    for e in entries:
        ids = by_title.get(e.title or "") if e.arxiv_id is None else None
        if ids and len(ids) == 1:
            e = Entry(e.line, e.label, arxiv_id=ids[0], title=e.title)
        elif e.arxiv_id is None and e.problem is None:
            e = Entry(
                e.line,
                e.label,
                title=e.title,
                problem="no arXiv id, and no paper here by that exact title",
            )
        out.append(e)
    return out


def import_entries(
    db: Database, user_id: int, slug: str, entries: list[Entry], *, now: datetime
) -> ImportReport:
    """Add the matched entries to the user's collection, in input order, and say what
    happened to every entry (added, already there, or unmatched with the reason)."""
    colls.get(db, user_id, slug)  # NotFound before any work
    entries = match_titles(db, entries)
    ids = [e.arxiv_id for e in entries if e.arxiv_id]
    added, present, missing = colls.add_papers(db, user_id, slug, ids, now=now)
    added_set, present_set, missing_set = set(added), set(present), set(missing)
    report = ImportReport()
    seen: set[str] = set()
    for e in entries:
        if e.arxiv_id is None:
            report.unmatched.append(e)
        elif e.arxiv_id in missing_set:
            report.unmatched.append(
                Entry(
                    e.line,
                    e.label,
                    e.arxiv_id,
                    e.title,
                    f"arXiv:{e.arxiv_id} is not in this catalog",
                )
            )
        elif e.arxiv_id in added_set and e.arxiv_id not in seen:
            report.added.append(e)
        elif e.arxiv_id in present_set or e.arxiv_id in seen:
            report.present.append(e)
        seen.add(e.arxiv_id or "")
    return report
