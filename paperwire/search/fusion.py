"""Fusing keyword and vector candidates into one ranking.

The service ranks by a convex combination of the two scores, each min-max
normalised over the candidates of the query::

    score = KEYWORD_SHARE * bm25_norm + (1 - KEYWORD_SHARE) * cosine_norm

Why not reciprocal rank fusion (RRF)?  RRF throws the scores away: a paper far
ahead in BM25 (a pasted sentence, an exact title) counts only one rank more
than the runner-up.  On the full 80k corpus RRF tied BM25 alone on known-item
search while the convex combination beats both (Bruch et al., "An analysis of
fusion functions for hybrid retrieval", TOIS 2023, found the same);
``bench/bench_relevance.py`` measures both side by side and tunes the share.

Every candidate gets both scores where they exist: the service computes the
exact cosine of each keyword candidate, so a paper found by keywords alone is
not treated as dissimilar.  A paper found only by vectors scored below the
last keyword candidate, so its BM25 is set to that floor (0 after
normalisation).  A paper with no vector yet (imported, not embedded) gets its
keyword score in place of a cosine, so a fresh import is neither buried nor
promoted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

# Tuned on the known-item tuning split of bench/bench_relevance.py at 80k papers
# (grid 0.1..0.9); reported there on a disjoint split and on judged queries.
KEYWORD_SHARE = 0.4


@dataclass
class Candidates:
    """What the two retrievers found for one query, best first."""

    keyword: list[tuple[int, float]] = field(default_factory=list)  # (key, BM25)
    keyword_complete: bool = True  # every keyword match is listed (not cut at top-k)
    vector: list[tuple[int, float]] = field(default_factory=list)  # (key, cosine)
    cosines: dict[int, float] = field(default_factory=dict)  # key -> cosine, where embedded


def fuse(
    candidates: Candidates, *, keyword_share: float = KEYWORD_SHARE
) -> list[tuple[int, float]]:
    """Convex combination of normalised BM25 and cosine; (key, score) best first."""
    bm25 = dict(candidates.keyword)
    cosines: dict[int, float] = dict(candidates.cosines)
    cosines.update(candidates.vector)
    keys = list(dict.fromkeys([k for k, _ in [*candidates.keyword, *candidates.vector]]))
    if not keys:
        return []
    top = candidates.keyword[0][1] if candidates.keyword else 0.0
    floor = 0.0
    if candidates.keyword and not candidates.keyword_complete:
        floor = candidates.keyword[-1][1]
    known = [cosines[k] for k in keys if k in cosines]
    c_lo, c_hi = (min(known), max(known)) if known else (0.0, 0.0)
    scored = []
    for key in keys:
        b = _scale(bm25[key], floor, top) if key in bm25 else 0.0
        c = _scale(cosines[key], c_lo, c_hi) if key in cosines else b
        scored.append((key, keyword_share * b + (1.0 - keyword_share) * c))
    scored.sort(key=lambda kv: (-kv[1], kv[0]))
    return scored


def reciprocal_rank_fusion(
    keyword_keys: Sequence[int],
    vector_keys: Sequence[int],
    *,
    k: float = 60.0,
    vector_weight: float = 1.0,
) -> list[tuple[int, float]]:
    """Weighted RRF (Cormack et al. 2009): the baseline the benchmark compares with."""
    scores: dict[int, float] = {}
    for rank, key in enumerate(keyword_keys, start=1):
        scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    for rank, key in enumerate(vector_keys, start=1):
        scores[key] = scores.get(key, 0.0) + vector_weight / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def _scale(value: float, lo: float, hi: float) -> float:
    if hi <= lo:
        return 1.0
    return min(1.0, max(0.0, (value - lo) / (hi - lo)))
