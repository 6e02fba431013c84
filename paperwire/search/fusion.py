"""One relevance score from keyword and vector evidence, and what counts as a match.

Every candidate paper has two pieces of evidence for a query: its BM25 score
``b`` (0 when no query word occurs in it) and the cosine ``c`` between its
embedding and the query's.  The service ranks by::

    score = KEYWORD_WEIGHT * min(1, b / scale(query)) + (1 - KEYWORD_WEIGHT) * c

where ``scale`` is the BM25 of a paper that fully carries the query's most
telling terms (:class:`~paperwire.search.keyword.RankedTerms`).  Both parts are
on fixed scales.  Min-max normalisation over the candidates (what this module
did before) made a paper's score depend on which other papers happened to be
candidates, so page 2 could disagree with page 1, and it stretched a flat,
signal-free cosine list (an acronym the encoder does not know) over the same
range as a decisive BM25 list.  ``b / scale`` adapts by itself to the kind of
query: one rare term that a paper contains gives it most of the scale and
keywords decide; a vague description leaves every paper a small share and
meaning decides.

Because the score is absolute, it also says whether a paper is relevant at all:

- A short query (up to ``gate_terms`` ranked terms) **matches nothing** unless
  its best candidate shows decisive evidence: a score of ``query_floor``, or
  ``keyword_gate`` of the keyword evidence (an exact term or acronym the encoder
  does not know).  Random letters, a recipe or a legal doctrine on a
  computer-science catalog find only papers that share a word or a vague
  theme, and get "no papers match".  A longer description always gets its
  closest papers: it carries enough signal to rank by, and its best match
  scores lower only because no paper repeats a description word for word.
- Every match must reach ``match_floor``; a paper found by meaning alone so
  needs a cosine of at least ``match_floor / (1 - keyword_weight)``.

The floors are calibrated on the train split of the judged queries
(``bench/bench_relevance.py --tune``): each gate sits midway between the best
candidates of the train split's out-of-field queries and those of its short
in-field queries.

A paper that is not embedded yet has its keyword share in place of a cosine: it
is ranked by its keywords, neither buried nor promoted by meaning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

# Set on the train split of bench/bench_relevance.py; reported on the test split.
KEYWORD_WEIGHT = 0.45
QUERY_FLOOR = 0.44
KEYWORD_GATE = 0.68
GATE_TERMS = 7
MATCH_FLOOR = 0.35


@dataclass(frozen=True)
class Ranking:
    """How evidence becomes a score, and how much of it makes a match."""

    keyword_weight: float = KEYWORD_WEIGHT
    query_floor: float = QUERY_FLOOR  # a short query's best candidate must reach it ...
    keyword_gate: float = KEYWORD_GATE  # ... or carry this share of its keyword evidence
    gate_terms: int = GATE_TERMS  # queries with more ranked terms are not gated
    match_floor: float = MATCH_FLOOR  # every match must reach it
    mode: str = "hybrid"  # "keyword" or "vector": one side alone (evaluation)

    def unfloored(self) -> Ranking:
        """The same ranking with no floors (evaluation, and phrase-only queries)."""
        return replace(self, query_floor=-1.0, keyword_gate=-1.0, match_floor=-1.0)


DEFAULT = Ranking()


def keyword_share(bm25: np.ndarray, scale: float) -> np.ndarray:
    """``min(1, bm25 / scale)``: how much of the query's keyword evidence each paper carries."""
    bm25 = np.asarray(bm25, np.float64)
    return np.clip(bm25 / scale, 0.0, 1.0) if scale > 0 else np.zeros(len(bm25))


def fuse(
    bm25: np.ndarray,
    scale: float,
    cosine: np.ndarray,
    ranking: Ranking = DEFAULT,
    *,
    terms: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, matches) of candidates with BM25 ``bm25`` and cosine ``cosine`` (NaN: none).

    ``terms`` is the number of ranked terms of the query (see ``gate_terms``).
    """
    share = keyword_share(bm25, scale)
    cos = np.asarray(cosine, np.float64)
    embedded = ~np.isnan(cos)
    if ranking.mode == "keyword":
        scores = share
    elif ranking.mode == "vector":
        scores = np.where(embedded, cos, -1.0)
    else:
        w = ranking.keyword_weight
        scores = w * share + (1.0 - w) * np.where(embedded, cos, share)
    matches = scores >= ranking.match_floor
    if not len(scores) or (terms <= ranking.gate_terms and not decisive(scores, share, ranking)):
        matches[:] = False
    return scores, matches


def decisive(scores: np.ndarray, share: np.ndarray, ranking: Ranking = DEFAULT) -> bool:
    """Whether the best candidates say the catalog holds what a short query asks for."""
    return bool(
        len(scores) and (scores.max() >= ranking.query_floor or share.max() >= ranking.keyword_gate)
    )


def unseen_bound(
    share_cut: float | None, cosine_cut: float | None, ranking: Ranking = DEFAULT
) -> float:
    """The best score a paper on neither candidate list could have.

    ``share_cut`` is the keyword share of the last keyword candidate when that
    list was cut short (``None``: every keyword match is listed, so unseen
    papers have no keyword evidence); ``cosine_cut`` likewise for the vector
    list (``None``: every paper that passes the filters is listed).
    """
    share = share_cut if share_cut is not None else 0.0
    if ranking.mode == "keyword":
        return share
    cosine = cosine_cut if cosine_cut is not None else -1.0
    if ranking.mode == "vector":
        return cosine
    w = ranking.keyword_weight
    return max(w * share + (1.0 - w) * cosine, share if share_cut is not None else -1.0)


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
