"""Helpers for writing small import files in the formats Paperwire reads."""

from __future__ import annotations

import gzip
import json
from pathlib import Path


def jsonl_record(n: int, **overrides: object) -> dict:
    """A record in Paperwire's JSON-lines exchange format (the shared corpus format)."""
    rec = {
        "id": f"2601.{n:05d}",
        "announced": f"2026-01-{(n % 28) + 1:02d}",
        "title": f"Paper number {n}:\n  a study of $x^{n % 7}$ & <things>",
        "authors": [f"Author {n} A", f"Author {n} B"],
        "categories": ["cs.LG", "cs.AI"] if n % 2 else ["cs.CL"],
        "comment": f"Code: https://github.com/example/repo{n % 5}.git" if n % 3 == 0 else None,
        "abstract": f"We study problem {n}.\nIt is hard & interesting when $a < b$.",
    }
    rec.update(overrides)
    return rec


def write_jsonl(path: Path, records: list, *, gz: bool = False) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    data = "\n".join(lines) + "\n"
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path
