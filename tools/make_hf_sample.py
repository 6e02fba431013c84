"""Build the bundled demo sample from ../shared/data/hf-daily-papers-2023-2024.json.

Source: 753 Hugging Face Daily Papers (2023-11-30 .. 2024-04-05) with their real
upvotes, from github.com/mwoedlinger/PaperExplorer (papers.json at 949aa11);
paper metadata from arXiv (CC0 1.0).  Rewritten into the shape of the Hugging
Face ``GET /api/daily_papers`` response, so the demo exercises that importer.

    python tools/make_hf_sample.py ../shared/data/hf-daily-papers-2023-2024.json
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "paperwire/samples/hf-daily-papers.json.gz"


def to_item(arxiv_id: str, p: dict) -> dict:
    raw = p["publication_date"]
    stamp = raw if "T" in raw else f"{raw}T00:00:00.000Z"
    paper = {
        "id": arxiv_id,
        "authors": [
            {"_id": f"a{i}", "name": n, "hidden": False} for i, n in enumerate(p["authors"])
        ],
        "publishedAt": stamp,
        "submittedOnDailyAt": stamp,
        "title": p["title"],
        "summary": p["abstract"],
        "upvotes": int(p["upvotes"]),
        "discussionId": arxiv_id,
    }
    return {
        "paper": paper,
        "publishedAt": stamp,
        "title": p["title"],
        "summary": p["abstract"],
        "thumbnail": f"https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/{arxiv_id}.png",
        "numComments": 0,
        "isAuthorParticipating": False,
    }


def main(src: str) -> None:
    data = json.loads(Path(src).read_text())
    items = [
        to_item(k, v) for k, v in sorted(data.items(), key=lambda kv: kv[1]["publication_date"])
    ]
    with gzip.open(OUT, "wt", encoding="utf-8", compresslevel=9) as fh:
        json.dump(items, fh, ensure_ascii=False)
    print(f"wrote {len(items)} items to {OUT}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/hf-daily-papers-2023-2024.json")
