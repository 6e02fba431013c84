"""One relevance score from keyword and vector evidence, and what counts as a match.

Every candidate paper has two pieces of evidence for a query: its BM25 score
``b`` (0 when no query word occurs in it) and the cosine ``c`` between its
embedding and the query's.  The service ranks by::

    score = KEYWORD_WEIGHT * b / b_max(query) + (1 - KEYWORD_WEIGHT) * c

where ``b_max`` is the most BM25 any paper could get for those words (see
:class:`~paperwire.search.keyword.RankedTerms`).  Both parts are on fixed
scales.  Min-max normalisation over the candidates (what this module did
before) made a paper's score depend on which other papers happened to be
candidates, so page 2 could disagree with page 1, and it stretched a flat,
signal-free cosine list (an acronym the encoder does not know) over the same
range as a decisive BM25 list.  ``b / b_max`` also adapts by itself to the kind
of query: one rare term that a paper contains gives a large share of ``b_max``
and keywords decide; a fifteen-word paraphrase leaves every paper a small share
and meaning decides.

A paper *matches* (is in the result set at all) when either side vouches for
it on its own: its cosine reaches ``vector_floor``, or it carries
``keyword_floor`` of the query's keyword evidence.  Both floors are calibrated
on judged queries (``bench/bench_relevance.py``), so a query that nothing in
the catalog is about (random letters, a cooking recipe) matches nothing.

A paper that is not embedded yet gets ``vector_floor`` as its cosine: it is
ranked by its keywords, neither buried nor promoted by meaning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Set on the train split of bench/bench_relevance.py; reported on the test split.
KEYWORD_WEIGHT = 0.5
VECTOR_FLOOR = 0.45
KEYWORD_FLOOR = 0.35


@dataclass(frozen=True)
class Ranking:
    """How evidence becomes a score, and how much of it makes a match."""

    keyword_weight: float = KEYWORD_WEIGHT
    vector_floor: float = VECTOR_FLOOR
    keyword_floor: float = KEYWORD_FLOOR
    mode: str = "hybrid"  # "keyword" or "vector": one side alone (evaluation)


DEFAULT = Ranking()


def fuse(
    bm25: np.ndarray, max_bm25: float, cosine: np.ndarray, ranking: Ranking = DEFAULT
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, matches) for candidates with BM25 ``bm25`` and cosine ``cosine`` (NaN: none)."""
    share = (
        np.clip(np.asarray(bm25, np.float64) / max_bm25, 0.0, 1.0)
        if max_bm25 > 0
        else (np.zeros(len(bm25)))
    )
    cos = np.asarray(cosine, np.float64)
    embedded = ~np.isnan(cos)
    cos = np.where(embedded, cos, ranking.vector_floor)
    by_keyword = share >= ranking.keyword_floor
    by_vector = embedded & (cos >= ranking.vector_floor)
    if ranking.mode == "keyword":
        return share, by_keyword & (share > 0)
    if ranking.mode == "vector":
        return cos, by_vector
    w = ranking.keyword_weight
    return w * share + (1.0 - w) * cos, by_keyword | by_vector


def reciprocal_rank_fusion(
    keyword_keys: Sequence[int],
    vector_keys: Sequence[int],
    *,
    k: float = 60.0,
    vector_weight: float = 1.0,
) -> list[tuple[int, float]]:
    """Weighted RRF (Cormack et al. 2009): a baseline the benchmark compares with."""
    scores: dict[int, float] = {}
    for rank, key in enumerate(keyword_keys, start=1):
        scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    for rank, key in enumerate(vector_keys, start=1):
        scores[key] = scores.get(key, 0.0) + vector_weight / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
