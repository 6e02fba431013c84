"""Fold graded pool files into the query sets (idempotent; existing grades are kept).

    .venv/bin/python bench/relevance/merge_judgments.py bench/out/relevance/judge/out-*.jsonl

Each input line is ``{"qid", "paper_id", "grade"}`` as written by a judge (see
``bench_relevance.py --pool``).  Grades of judged queries go into
``judged.jsonl``; grades of nonsense queries into ``nonsense.jsonl``, where a
query with a paper graded 2 or more is not out of field after all and is
reported apart by the benchmark.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _save(path: Path, items: list[dict]) -> None:
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items))


def main(paths: list[str]) -> None:
    grades: dict[str, dict[str, int]] = {}
    for path in paths:
        for g in _load(Path(path)):
            if int(g["grade"]) not in (0, 1, 2, 3):
                sys.exit(f"{path}: bad grade {g}")
            grades.setdefault(g["qid"], {})[g["paper_id"]] = int(g["grade"])
    added = 0
    for name in ("judged.jsonl", "nonsense.jsonl"):
        items = _load(HERE / name)
        for item in items:
            known = item.setdefault("judgments", {})
            for pid, grade in grades.get(item["qid"], {}).items():
                if pid not in known:
                    known[pid] = grade
                    added += 1
        _save(HERE / name, items)
    print(f"{added} grades added from {len(paths)} files")


if __name__ == "__main__":
    main(sys.argv[1:])
