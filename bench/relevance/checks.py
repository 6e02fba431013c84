"""Mechanical checks on the evaluation queries, so that none can flatter a system.

A paraphrase known-item query must describe its paper's method without reusing
the paper's title words (after stemming, so "segmenting" and "segmentation"
count as the same word) and without copying a run of four words from the
abstract: those are exactly the cues that make BM25 look better than it is on
real recall queries.  ``python bench/relevance/checks.py`` checks every file.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from paperwire.search.keyword import STOPWORDS, analyze  # noqa: E402

# Function words carry no identity: the search's own list, and a few more.
STOP = STOPWORDS | {"new", "versus", "vs", "within", "without"}
MIN_WORDS, MAX_WORDS = 12, 15
COPY_RUN = 4


def stems(text: str) -> list[str]:
    """Stemmed, lower-cased tokens of ``text`` without stopwords or one-letter tokens."""
    out = []
    for word in re.findall(r"[A-Za-z0-9]+", text):
        if word.lower() in STOP or len(word) < 2:
            continue
        out.extend(analyze(word))
    return out


def title_words(title: str) -> set[str]:
    return set(stems(title))


def copied_runs(query: str, abstract: str, n: int = COPY_RUN) -> list[str]:
    """Runs of ``n`` consecutive (stemmed, all-token) words shared with the abstract."""

    def grams(text: str) -> set[tuple[str, ...]]:
        toks = [t for w in re.findall(r"[A-Za-z0-9]+", text) for t in analyze(w)]
        return {tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)}

    return [" ".join(g) for g in grams(query) & grams(abstract)]


def check_known_item(query: str, title: str, abstract: str) -> list[str]:
    """Problems with one paraphrase query (empty when it passes)."""
    problems = []
    words = query.split()
    if not MIN_WORDS <= len(words) <= MAX_WORDS:
        problems.append(f"{len(words)} words (want {MIN_WORDS}-{MAX_WORDS})")
    reused = sorted(set(stems(query)) & title_words(title))
    if reused:
        problems.append(f"reuses title words: {', '.join(reused)}")
    runs = copied_runs(query, abstract)
    if runs:
        problems.append(f"copies abstract runs: {'; '.join(sorted(runs)[:3])}")
    return problems


def load_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main() -> int:
    papers = {p["id"]: p for p in load_jsonl(HERE / "known_item_papers.jsonl")}
    bad = 0
    files = sorted(HERE.glob("known_items*.jsonl"))
    for path in files:
        for n, item in enumerate(load_jsonl(path), start=1):
            paper = papers.get(item["paper_id"])
            if paper is None:
                print(f"{path.name}:{n}: unknown paper {item['paper_id']}")
                bad += 1
                continue
            problems = check_known_item(item["query"], paper["title"], paper["abstract"])
            if problems:
                bad += 1
                print(f"{path.name}:{n}: {item['paper_id']}: {'; '.join(problems)}")
    total = sum(len(load_jsonl(p)) for p in files)
    print(f"{total} known-item queries checked, {bad} with problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
