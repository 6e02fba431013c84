"""Paper cards, what every list shows of a paper, read in two parts.

A card is a paper's catalog fields (title, abstract, authors, links...) plus
live ones: its upvotes, its feed submission, what Daily Papers said of it and
how many comments it shows.  Every feed, search and similar-papers list reads
cards on every page-cache miss, and the catalog fields are most of that cost
(wide rows, four JSON columns to decode), though they change only when an
import changes the paper, and every such change gives the row a new ``seq``
(:func:`paperwire.catalog.store.upsert_records`).

So a list reads each paper's live fields with its version (``seq``,
``content_hash`` and ``modified_at``, all set by that import) in one narrow
query, and takes the card from a memo keyed by all of that, one per process and
database; only papers not in it are read in full.  An entry cannot go stale: a
change to any field a card shows is a new key, whichever process or instance
made it.  (The hash and the time ride along so that not even a ``seq`` reused
after a rollback, or in a recreated database, could alias two versions.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import String, bindparam, cast, select

from ..db import Database, chunks
from ..db.prepared import PreparedRead, raw_connection
from ..db.schema.catalog import feed_submissions, hf_listings, papers
from ..discussion.counts import shown_count
from .models import PaperCard

_fs = feed_submissions
VISIBLE = papers.c.hidden_at.is_(None)
# Cards also carry what Daily Papers said (submitter's avatar, thumbnail): one row per paper.
CARD_FROM = papers.outerjoin(_fs, _fs.c.paper_id == papers.c.id).outerjoin(
    hf_listings, hf_listings.c.paper_id == papers.c.id
)
# What a card shows that changes without an import, after the paper's version
# (:data:`_VERSION` columns): together, the memo's key.
_LIVE_COLUMNS = (
    papers.c.id,
    papers.c.seq,
    papers.c.content_hash,
    cast(papers.c.modified_at, String).label("modified"),  # opaque here: no parsing
    papers.c.upvotes,
    _fs.c.day.label("feed_day"),
    _fs.c.submitter,
    _fs.c.source.label("submission_source"),
    hf_listings.c.submitter_name,
    hf_listings.c.submitter_fullname,
    hf_listings.c.submitter_avatar_url,
    hf_listings.c.thumbnail_url,
    shown_count(papers.c.id).label("comments"),
)
_VERSION = 4  # id, seq, content_hash, modified
# The catalog fields (only imports change them).
_CATALOG_COLUMNS = (
    papers.c.id,
    papers.c.title,
    papers.c.abstract,
    papers.c.authors,
    papers.c.categories,
    papers.c.listed_on,
    papers.c.submitted,
    papers.c.code_links,
    papers.c.project_page,
    papers.c.links,
    papers.c.version,
)
# Every column of a card in one row: for a single paper (its page), read once.
CARD_COLUMNS = _CATALOG_COLUMNS + _LIVE_COLUMNS[_VERSION:]

_IDS = bindparam("ids", expanding=True)
_LIVE = PreparedRead(
    select(*_LIVE_COLUMNS).select_from(CARD_FROM).where(papers.c.id.in_(_IDS), VISIBLE), "ids"
)
_CATALOG = PreparedRead(select(*_CATALOG_COLUMNS).where(papers.c.id.in_(_IDS)), "ids")

MEMO_SIZE = 8192  # cards kept per process and database (a few KiB each)
_memos: WeakKeyDictionary[Database, dict[tuple, PaperCard]] = WeakKeyDictionary()


def card_from_row(row: Sequence[Any]) -> PaperCard:
    """A card from a row that starts with :data:`CARD_COLUMNS` (positional: lists make many)."""
    return _card(row[: len(_CATALOG_COLUMNS)], row[len(_CATALOG_COLUMNS) : len(CARD_COLUMNS)])


def _card(catalog: Sequence[Any], live: Sequence[Any]) -> PaperCard:
    """A card from a row of ``_CATALOG_COLUMNS`` and the live columns after the version."""
    (
        id_,
        title,
        abstract,
        authors,
        categories,
        listed_on,
        submitted,
        code_links,
        project_page,
        links,
        version,
    ) = catalog
    (
        upvotes,
        feed_day,
        submitter,
        source,
        hf_name,
        hf_fullname,
        avatar_url,
        thumbnail_url,
        comments,
    ) = live
    return PaperCard(
        id=id_,
        title=title,
        abstract=abstract or "",
        authors=tuple(authors or ()),
        categories=tuple(categories or ()),
        upvotes=upvotes or 0,
        listed_on=listed_on,
        submitted=submitted,
        code_links=tuple(code_links or ()),
        project_page=project_page,
        links=dict(links or {}),
        version=version,
        feed_day=feed_day,
        submitter=submitter,
        submission_source=source,
        comments=comments or 0,
        submitter_name=hf_name,
        submitter_fullname=hf_fullname,
        submitter_avatar_url=avatar_url,
        thumbnail_url=thumbnail_url,
    )


def cards_on(db: Database, conn: Any, ids: Sequence[str]) -> list[PaperCard]:
    """Cards of the visible papers among ``ids``, in that order, read on DBAPI ``conn``."""
    memo = _memos.get(db)
    if memo is None:
        memo = _memos.setdefault(db, {})
    live: dict[str, tuple] = {}
    for chunk in chunks(list(dict.fromkeys(ids)), 500):
        for row in _LIVE.rows_on(db, conn, values=chunk):
            live[row[0]] = row
    missing = [pid for pid, row in live.items() if row not in memo]
    catalog: dict[str, tuple] = {}
    for chunk in chunks(missing, 500):
        for row in _CATALOG.rows_on(db, conn, values=chunk):
            catalog[row[0]] = row
    found: dict[str, PaperCard] = {}
    for pid, row in live.items():
        card = memo.get(row)
        if card is None:
            if pid not in catalog:  # gone between the two reads
                continue
            card = _card(catalog[pid], row[_VERSION:])
            if len(memo) >= MEMO_SIZE:
                memo.clear()
            memo[row] = card  # an import in between: a card newer than its key, never older
        found[pid] = card
    return [found[i] for i in ids if i in found]


def cards_by_ids(db: Database, ids: Sequence[str]) -> list[PaperCard]:
    """Cards for ``ids`` in the given order; unknown and hidden ids are left out."""
    if not ids:
        return []
    with raw_connection(db) as conn:
        return cards_on(db, conn, ids)
