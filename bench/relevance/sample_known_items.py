"""Pick the papers that paraphrase known-item queries are written for (fixed seed).

    .venv/bin/python bench/relevance/sample_known_items.py

Writes ``bench/relevance/known_item_papers.jsonl`` (id, title, abstract,
categories) for 240 papers drawn uniformly from the shared corpus with seed
2026, skipping abstracts under 80 words (too little method to paraphrase).
The corpus metadata is arXiv's, CC0 1.0.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench_search_latency import load_corpus  # noqa: E402

N = 240
SEED = 2026


def main() -> None:
    rows = load_corpus()
    rng = random.Random(SEED)
    order = list(range(len(rows)))
    rng.shuffle(order)
    chosen = []
    for i in order:
        r = rows[i]
        if len(r["abstract"].split()) < 80:
            continue
        chosen.append(r)
        if len(chosen) == N:
            break
    with open(HERE / "known_item_papers.jsonl", "w") as fh:
        for r in chosen:
            item = {k: r[k] for k in ("id", "title", "abstract", "categories")}
            fh.write(json.dumps(item, ensure_ascii=False) + "\n")
    print(f"wrote {len(chosen)} papers")


if __name__ == "__main__":
    main()
