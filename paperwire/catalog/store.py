"""Writing papers into the catalog: merge rules and batched, idempotent upserts.

Merge rules, so that any order of imports converges and re-imports are no-ops:
- a record with a *newer* version replaces the versioned fields (title,
  abstract, authors, categories, comment, journal ref, DOI, licence, updated);
- otherwise a record only fills fields the catalog does not know yet;
- the first listing day and submission date known are kept (so a later
  version or metadata update never moves a paper to another day); code links and
  links are unioned; external upvotes take the newest value from their source.

Hugging Face listing details (submitter, thumbnail, stars, comments) go to
``hf_listings`` in the same transaction as their papers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select

from ..db import Database, chunks
from ..db.schema.catalog import (
    feed_submissions,
    hf_listings,
    paper_categories,
    paper_versions,
    papers,
)
from .record import PaperRecord, content_hash

VERSIONED = (
    "title",
    "abstract",
    "authors",
    "categories",
    "comment",
    "journal_ref",
    "doi",
    "license",
    "updated",
)
FILL_ONLY = ("project_page", "submitted", "listed_on")
COMPARED = (
    *VERSIONED,
    "version",
    "primary_category",
    "author_count",
    "submitted",
    "listed_on",
    "links",
    "code_links",
    "project_page",
    "external_upvotes",
    "upvotes",
    "content_hash",
)


@dataclass
class UpsertStats:
    """What one call to :func:`upsert_records` did."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    changed_ids: list[str] | None = None
    listings_changed: int = 0  # hf_listings rows written

    def add(self, other: UpsertStats) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.listings_changed += other.listings_changed


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def merge(existing: dict[str, Any] | None, rec: PaperRecord) -> dict[str, Any]:
    """The catalog row after applying ``rec`` to ``existing`` (which is not modified)."""
    incoming: dict[str, Any] = {
        "title": rec.title,
        "abstract": rec.abstract,
        "authors": rec.authors,
        "categories": rec.categories,
        "comment": rec.comment,
        "journal_ref": rec.journal_ref,
        "doi": rec.doi,
        "license": rec.license,
        "updated": rec.updated,
        "project_page": rec.project_page,
        "submitted": rec.submitted,
        "listed_on": rec.listed_on,
    }
    if existing is None:
        row = {k: v for k, v in incoming.items()}
        row.update(
            id=rec.id,
            version=rec.version,
            links=dict(rec.links),
            code_links=list(rec.code_links),
            external_upvotes=rec.external_upvotes or 0,
            upvotes=rec.external_upvotes or 0,
        )
    else:
        row = dict(existing)
        newer = rec.version is not None and (
            existing["version"] is None or rec.version > existing["version"]
        )
        for key in VERSIONED:
            value = incoming[key]
            if _empty(value):
                continue
            if newer or _empty(row.get(key)):
                row[key] = value
        for key in FILL_ONLY:
            if _empty(row.get(key)) and not _empty(incoming[key]):
                row[key] = incoming[key]
        if newer:
            row["version"] = rec.version
        links = dict(row.get("links") or {})
        for k, v in rec.links.items():
            links.setdefault(k, v)
        row["links"] = links
        known = {c.lower() for c in row.get("code_links") or []}
        extra = [c for c in rec.code_links if c.lower() not in known]
        if extra:
            row["code_links"] = list(row.get("code_links") or []) + extra
        if rec.external_upvotes is not None and rec.external_upvotes != row["external_upvotes"]:
            row["upvotes"] = row["upvotes"] - row["external_upvotes"] + rec.external_upvotes
            row["external_upvotes"] = rec.external_upvotes
    row["title"] = row.get("title") or rec.id
    row["abstract"] = row.get("abstract") or ""
    row["authors"] = row.get("authors") or []
    row["categories"] = row.get("categories") or []
    row["author_count"] = len(row["authors"])
    row["primary_category"] = row["categories"][0] if row["categories"] else None
    row["content_hash"] = content_hash(row["title"], row["abstract"], row["authors"])
    return row


IN_CHUNK = 900  # ids per IN list


LISTING_FIELDS = tuple(c.name for c in hf_listings.columns if c.name not in ("fetched_at",))


def upsert_records(
    db: Database, records: Sequence[PaperRecord], *, listings: Sequence[dict[str, Any]] = ()
) -> UpsertStats:
    """Merge ``records`` into the catalog in one transaction (all or nothing).

    ``listings`` are ``hf_listings`` rows (keys :data:`LISTING_FIELDS`) of papers
    among ``records``; a row that equals the stored one is not written again.
    """
    stats = UpsertStats(changed_ids=[])
    if not records:
        return stats
    ids = list(dict.fromkeys(r.id for r in records))
    now = datetime.now(UTC)
    with db.begin() as conn:
        # First, so that concurrent imports (several instances, a sync beside an
        # import) write one after another and read what the previous one wrote;
        # seq values then commit in order (the rule search's catch-up relies on).
        seq = db.next_seq(conn, papers.c.seq)
        existing: dict[str, dict[str, Any]] = {}
        known_versions: set[tuple[str, int]] = set()
        submitted_ids: set[str] = set()
        for chunk in chunks(ids, IN_CHUNK):
            for r in conn.execute(select(papers).where(papers.c.id.in_(chunk))):
                existing[r.id] = dict(r._mapping)
            for pid, ver in conn.execute(
                select(paper_versions.c.paper_id, paper_versions.c.version).where(
                    paper_versions.c.paper_id.in_(chunk)
                )
            ):
                known_versions.add((pid, ver))
            submitted_ids.update(
                conn.execute(
                    select(feed_submissions.c.paper_id).where(
                        feed_submissions.c.paper_id.in_(chunk)
                    )
                ).scalars()
            )
        working: dict[str, dict[str, Any]] = {}
        new_versions: dict[tuple[str, int], date | None] = {}
        new_subs: dict[str, dict[str, Any]] = {}
        for rec in records:
            working[rec.id] = merge(working.get(rec.id) or existing.get(rec.id), rec)
            for ver, when in rec.versions or ([(rec.version, rec.updated)] if rec.version else []):
                if (rec.id, ver) not in known_versions:
                    new_versions.setdefault((rec.id, ver), when)
            sub = rec.feed_submission
            if sub and rec.id not in submitted_ids and rec.id not in new_subs:
                new_subs[rec.id] = {
                    "paper_id": rec.id,
                    "day": sub.day,
                    "user_id": None,
                    "submitter": sub.submitter,
                    "source": sub.source,
                    "created_at": now,
                }
        inserts, updates, category_rows, recategorised = [], [], [], []
        for pid, row in working.items():
            old = existing.get(pid)
            if old is not None and all(old.get(k) == row.get(k) for k in COMPARED):
                if pid not in new_subs and not any(k[0] == pid for k in new_versions):
                    stats.unchanged += 1
                continue
            row["seq"] = seq
            row["modified_at"] = now
            if old is None:
                row["created_at"] = now
                inserts.append(row)
                stats.inserted += 1
            else:
                updates.append(row)
                stats.updated += 1
                if old.get("categories") != row["categories"]:
                    recategorised.append(pid)
            if old is None or old.get("categories") != row["categories"]:
                category_rows.extend(
                    {"paper_id": pid, "category": c, "is_primary": i == 0}
                    for i, c in enumerate(row["categories"])
                )
            stats.changed_ids.append(pid)
        if inserts:
            conn.execute(insert(papers), inserts)
        if updates:
            cols = [c.name for c in papers.columns if c.name not in ("id", "created_at")]
            db.upsert(conn, papers, updates, key=["id"], update=cols)
        for chunk in chunks(recategorised, IN_CHUNK):
            conn.execute(delete(paper_categories).where(paper_categories.c.paper_id.in_(chunk)))
        if category_rows:
            conn.execute(insert(paper_categories), category_rows)
        if new_versions:
            db.upsert(
                conn,
                paper_versions,
                [
                    {"paper_id": p, "version": v, "submitted": d}
                    for (p, v), d in new_versions.items()
                ],
                key=["paper_id", "version"],
            )
        if new_subs:
            db.upsert(conn, feed_submissions, list(new_subs.values()), key=["paper_id"])
        if listings:
            stats.listings_changed = _write_listings(db, conn, listings, now)
    return stats


def _write_listings(db: Database, conn: Any, rows: Sequence[dict[str, Any]], now: datetime) -> int:
    """Upsert the listing rows that differ from what is stored; returns how many."""
    latest = {row["paper_id"]: {k: row.get(k) for k in LISTING_FIELDS} for row in rows}
    stored: dict[str, dict[str, Any]] = {}
    for chunk in chunks(list(latest), IN_CHUNK):
        for r in conn.execute(select(hf_listings).where(hf_listings.c.paper_id.in_(chunk))):
            stored[r.paper_id] = {k: r._mapping[k] for k in LISTING_FIELDS}
    changed = []
    for pid, row in latest.items():
        old = stored.get(pid)
        if old is not None:
            row["day"] = old["day"]  # the first day on Daily Papers is kept, like the feed's
        if old != row:
            changed.append({**row, "fetched_at": now})
    if changed:
        update = [k for k in LISTING_FIELDS if k != "paper_id"]
        db.upsert(conn, hf_listings, changed, key=["paper_id"], update=[*update, "fetched_at"])
    return len(changed)


def get_hf_listing(db: Database, paper_id: str) -> dict[str, Any] | None:
    """What Hugging Face Daily Papers said about a paper (submitter, thumbnail...), if listed."""
    with db.connect() as conn:
        row = conn.execute(select(hf_listings).where(hf_listings.c.paper_id == paper_id)).first()
        return dict(row._mapping) if row else None


def get_paper(db: Database, paper_id: str) -> dict[str, Any] | None:
    """One catalog row as a dict, or None."""
    with db.connect() as conn:
        row = conn.execute(select(papers).where(papers.c.id == paper_id)).first()
        return dict(row._mapping) if row else None


def count_papers(db: Database) -> int:
    with db.connect() as conn:
        return conn.execute(select(func.count()).select_from(papers)).scalar_one()


def list_versions(db: Database, paper_id: str) -> list[dict[str, Any]]:
    """Known versions of a paper, oldest first."""
    with db.connect() as conn:
        rows = conn.execute(
            select(paper_versions.c.version, paper_versions.c.submitted)
            .where(paper_versions.c.paper_id == paper_id)
            .order_by(paper_versions.c.version)
        )
        return [dict(r._mapping) for r in rows]


def get_feed_submission(db: Database, paper_id: str) -> dict[str, Any] | None:
    """The day (and submitter) a paper was put on the feed, if it was."""
    with db.connect() as conn:
        row = conn.execute(
            select(feed_submissions).where(feed_submissions.c.paper_id == paper_id)
        ).first()
        return dict(row._mapping) if row else None
