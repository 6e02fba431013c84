"""The document table: per-paper key, id, day, upvotes, code and categories as arrays.

The vector path needs to filter and name its hits without a database round
trip, so every indexed paper has a row here, sorted by ``key`` (a 63-bit hash
of the arXiv id, the same key the keyword and vector indexes use).  Hash keys
make every index update idempotent and order-free: re-applying an update after
a crash lands on the same keys.  A million papers take about 40 MB.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .keyword import Filters, category_terms, day_number, has_code, query_category_terms

KEY_MASK = (1 << 63) - 1


def paper_key(paper_id: str) -> int:
    """Stable 63-bit key of a paper id (collision odds at 1M papers: ~1e-7)."""
    digest = hashlib.blake2b(paper_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") & KEY_MASK


def paper_keys(paper_ids: Iterable[str]) -> np.ndarray:
    return np.fromiter((paper_key(p) for p in paper_ids), dtype=np.uint64)


@dataclass
class DocTable:
    """Arrays sorted by key; ``cat_rows``/``cat_codes`` list (row, category) pairs."""

    keys: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, "S40"))
    day: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    upvotes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    code: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))
    cat_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    cat_codes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    vocab: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.keys.shape[0])

    # -- building ----------------------------------------------------------
    @classmethod
    def from_rows(cls, rows: Sequence[dict]) -> DocTable:
        """Build from catalog rows (id, listed_on/submitted, upvotes, categories)."""
        table = cls()
        return table.updated(rows, [])

    def updated(self, rows: Sequence[dict], removed_ids: Iterable[str]) -> DocTable:
        """A new table with ``rows`` upserted and ``removed_ids`` dropped."""
        vocab = list(self.vocab)
        code_of = {c: i for i, c in enumerate(vocab)}
        new_keys = paper_keys(r["id"] for r in rows)
        drop = np.concatenate([new_keys, paper_keys(removed_ids)])
        keep = ~np.isin(self.keys, drop)
        old_rows = np.nonzero(keep)[0]
        # Categories of kept rows, renumbered to their new row positions later.
        cat_keep = keep[self.cat_rows] if len(self.cat_rows) else np.zeros(0, bool)
        old_cat_rows = self.cat_rows[cat_keep]
        old_cat_codes = self.cat_codes[cat_keep]
        n_old = len(old_rows)
        new_pos_of_old = np.full(len(self), -1, np.int64)
        new_pos_of_old[old_rows] = np.arange(n_old)

        add_rows: list[int] = []
        add_codes: list[int] = []
        for i, r in enumerate(rows):
            for term in category_terms(r.get("categories") or []):
                code = code_of.get(term)
                if code is None:
                    code = code_of[term] = len(vocab)
                    vocab.append(term)
                add_rows.append(n_old + i)
                add_codes.append(code)
        keys = np.concatenate([self.keys[old_rows], new_keys])
        ids = np.concatenate(
            [self.ids[old_rows], np.array([r["id"].encode() for r in rows], dtype="S40")]
        ).astype("S40")
        day = np.concatenate(
            [
                self.day[old_rows],
                np.array(
                    [day_number(r.get("listed_on") or r.get("submitted")) for r in rows],
                    dtype=np.int32,
                ),
            ]
        )
        upvotes = np.concatenate(
            [self.upvotes[old_rows], np.array([int(r.get("upvotes") or 0) for r in rows], np.int32)]
        )
        code = np.concatenate(
            [self.code[old_rows], np.array([has_code(r) for r in rows], np.uint8)]
        )
        cat_rows = np.concatenate(
            [new_pos_of_old[old_cat_rows], np.array(add_rows, np.int64)]
        ).astype(np.int64)
        cat_codes = np.concatenate([old_cat_codes, np.array(add_codes, np.int32)]).astype(np.int32)
        order = np.argsort(keys, kind="stable")
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        return DocTable(
            keys=keys[order],
            ids=ids[order],
            day=day[order],
            upvotes=upvotes[order],
            code=code[order],
            cat_rows=inverse[cat_rows].astype(np.int32),
            cat_codes=cat_codes,
            vocab=vocab,
        )

    def _rows_by_code(self) -> list[np.ndarray]:
        """Rows of each category code (computed once per loaded table)."""
        cached = getattr(self, "_by_code", None)
        if cached is None:
            order = np.argsort(self.cat_codes, kind="stable")
            bounds = np.searchsorted(self.cat_codes[order], np.arange(len(self.vocab) + 1))
            rows = self.cat_rows[order]
            cached = [rows[bounds[i] : bounds[i + 1]] for i in range(len(self.vocab))]
            self._by_code = cached
        return cached

    # -- persistence -------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write to ``path`` (caller swaps it in atomically)."""
        with open(path, "wb") as fh:
            np.savez(
                fh,
                keys=self.keys,
                ids=self.ids,
                day=self.day,
                upvotes=self.upvotes,
                code=self.code,
                cat_rows=self.cat_rows,
                cat_codes=self.cat_codes,
                vocab=np.array(self.vocab, dtype=object).astype("U64"),
            )
            fh.flush()
            os.fsync(fh.fileno())

    @classmethod
    def load(cls, path: Path) -> DocTable:
        with np.load(path, allow_pickle=False) as data:
            return cls(
                keys=data["keys"],
                ids=data["ids"],
                day=data["day"],
                upvotes=data["upvotes"],
                code=data["code"],
                cat_rows=data["cat_rows"],
                cat_codes=data["cat_codes"],
                vocab=[str(v) for v in data["vocab"]],
            )

    # -- lookups -----------------------------------------------------------
    def rows_of(self, keys: np.ndarray) -> np.ndarray:
        """Row of each key, -1 where the key is unknown."""
        keys = np.asarray(keys, dtype=np.uint64)
        if len(self) == 0 or len(keys) == 0:
            return np.full(len(keys), -1, np.int64)
        pos = np.searchsorted(self.keys, keys)
        pos = np.minimum(pos, len(self) - 1)
        return np.where(self.keys[pos] == keys, pos, -1)

    def id_at(self, row: int) -> str:
        return self.ids[row].decode()

    def row_of_id(self, paper_id: str) -> int:
        return int(self.rows_of(np.array([paper_key(paper_id)], np.uint64))[0])

    def mask(self, filters: Filters) -> np.ndarray | None:
        """Boolean row mask for ``filters``; ``None`` when nothing is filtered."""
        if not filters.active:
            return None
        mask = np.ones(len(self), bool)
        if filters.since:
            mask &= self.day >= day_number(filters.since)
        if filters.until:
            mask &= (self.day <= day_number(filters.until)) & (self.day > day_number(None))
        if filters.min_upvotes is not None:
            mask &= self.upvotes >= int(filters.min_upvotes)
        if filters.has_code:
            mask &= self.code > 0
        for group in (filters.categories, filters.query_categories):
            if not group:
                continue
            terms = set(query_category_terms(group))
            in_group = np.zeros(len(self), bool)
            for code, cat in enumerate(self.vocab):
                if cat in terms:
                    in_group[self._rows_by_code()[code]] = True
            mask &= in_group
        return mask

    def category_counts(self, rows: np.ndarray) -> dict[str, int]:
        """How many of ``rows`` carry each category (archives like ``cs`` left out)."""
        rows = np.asarray(rows, np.int64)
        rows = rows[rows >= 0]
        if not len(rows) or not len(self.cat_rows):
            return {}
        # Each row's (row, category) pairs are one run of the row-sorted pairs:
        # gather the runs of ``rows`` and count their codes (no pass over the table).
        row_starts, sorted_codes = self._pairs_by_row()
        starts = row_starts[rows]
        lengths = row_starts[rows + 1] - starts
        total = int(lengths.sum())
        if not total:
            return {}
        run_starts = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        codes = sorted_codes[run_starts + np.arange(total)]
        counts = np.bincount(codes, minlength=len(self.vocab))
        return {self.vocab[c]: int(n) for c, n in enumerate(counts) if n and "." in self.vocab[c]}

    def _pairs_by_row(self) -> tuple[np.ndarray, np.ndarray]:
        """(start of each row's run, codes sorted by row), computed once per table.

        Row ``r``'s codes are ``codes[starts[r]:starts[r + 1]]``.
        """
        cached = getattr(self, "_by_row", None)
        if cached is None:
            order = np.argsort(self.cat_rows, kind="stable")
            starts = np.searchsorted(self.cat_rows[order], np.arange(len(self) + 1))
            cached = self._by_row = (starts, self.cat_codes[order])
        return cached
