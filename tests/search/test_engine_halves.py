"""The engine's two halves (keywords here, vectors on a worker thread) and how they meet.

These drive :class:`SearchEngine` through its public ``search`` over a small
in-memory :class:`IndexView`, so that each case can set up exactly what the
two retrievers return: an approximate vector index that misses a close paper,
a keyword side that fails.  The same engine runs over both real backends in
the rest of this folder.
"""

from __future__ import annotations

import threading

import numpy as np

from paperwire.config import load_settings
from paperwire.search.engine import KEYWORD_DEPTH, VECTOR_DEPTH, QueryEncoder, SearchEngine
from paperwire.search.keyword import KeywordHit, RankedTerms

DIM = 4


def _unit(v: list[float]) -> np.ndarray:
    a = np.array(v, np.float32)
    return a / np.linalg.norm(a)


QUERY = _unit([1, 0, 0, 0])


class Encoder:
    model_id = "test-model"

    def encode_query(self, text: str) -> np.ndarray:
        return QUERY


class View:
    """Keyword matches 1..n with falling BM25; a vector index that returns ``ann``."""

    signature = ("fake",)
    model_id = "test-model"
    dim = DIM

    def __init__(
        self, n_keyword: int, cosine: dict[int, float], ann: list[int], scale: float = 100.0
    ) -> None:
        self.bm25 = {k: 10.0 / k for k in range(1, n_keyword + 1)}
        self.scale = scale
        self.cosine = cosine
        self.ann = ann
        self.fail_keywords = False

    def has_paper(self, paper_id: str) -> bool:
        return True

    def key_of(self, paper_id: str) -> int:
        return int(paper_id)

    def ranked_terms(self, parsed) -> RankedTerms:
        return RankedTerms(("word",), (), self.scale)

    def keyword_top(self, parsed, filters, terms, limit, *, count=True):
        if self.fail_keywords:
            raise RuntimeError("keyword index unreadable")
        hits = [KeywordHit(k, s) for k, s in self.bm25.items()][:limit]
        return hits, len(self.bm25) if count else 0

    def keyword_scores(self, parsed, filters, terms, keys):
        return {k: self.bm25[k] for k in keys if k in self.bm25}

    def passing(self, parsed, filters, keys):
        return set(keys)

    def nearest(self, qv, filters, k, exclude=None):
        keys = np.array(self.ann[:k], np.uint64)
        return keys, np.array([self.cosine.get(int(x), 0.0) for x in keys], np.float32)

    def cosines(self, qv, keys):
        return {int(k): self.cosine[int(k)] for k in keys if int(k) in self.cosine}

    def vector_of(self, paper_id: str):
        return None

    def sort_values(self, keys, by):
        return np.zeros(len(keys), np.int64)

    def category_counts(self, keys):
        return {}

    def ids_of(self, keys):
        return [str(k) for k in keys]


def _engine(view: View, tmp_path) -> SearchEngine:
    settings = load_settings({"PAPERWIRE_HOME": str(tmp_path)})
    return SearchEngine(lambda: view, QueryEncoder(settings, Encoder()))


def test_a_close_paper_the_vector_index_missed_is_found_through_its_keywords(tmp_path) -> None:
    # Paper 600 is the closest paper to the query by meaning, far down the
    # keyword list; the approximate vector index returned 200 others instead.
    missed = 600
    others = list(range(5000, 5000 + VECTOR_DEPTH))
    cosine = {k: 0.30 for k in range(1, KEYWORD_DEPTH + 1)}
    cosine.update({k: 0.45 for k in others})
    cosine[missed] = 0.95
    view = View(KEYWORD_DEPTH + 50, cosine, others)

    result = _engine(view, tmp_path).search("word", limit=5)

    assert result.hits and result.hits[0].id == str(missed)
    assert result.hits[0].similarity is not None and result.hits[0].similarity > 0.9


def test_a_failing_keyword_side_fails_the_query_without_hanging_the_worker(tmp_path) -> None:
    view = View(300, {k: 0.9 if k == 1 else 0.5 for k in range(1, 301)}, list(range(1, 201)))
    view.fail_keywords = True
    engine = _engine(view, tmp_path)
    answer: list = []
    caller = threading.Thread(target=lambda: answer.append(engine.search("word")), daemon=True)
    caller.start()
    caller.join(timeout=20)

    assert not caller.is_alive(), "the search hung"
    assert answer[0].hits == [] and "search failed" in (answer[0].message or "")
    # The worker threads are free again: the next query answers.
    view.fail_keywords = False
    assert engine.search("word", limit=3).hits


def test_vector_candidates_off_the_keyword_list_get_their_keyword_evidence(tmp_path) -> None:
    # 1,200 keyword matches: the list stops at KEYWORD_DEPTH, so paper 1,100's
    # BM25 comes from the vector side's own lookup, once the keyword list is in.
    close = 1100
    cosine = {k: 0.2 for k in range(1, 1201)}
    cosine[close] = 0.66
    ann = [close, *range(2000, 2000 + VECTOR_DEPTH - 1)]
    cosine.update({k: 0.1 for k in ann[1:]})
    view = View(1200, cosine, ann, scale=10.0)

    hits = _engine(view, tmp_path).search("word", limit=50).hits
    hit = next(h for h in hits if h.id == str(close))
    assert hit.keyword_rank is None and hit.vector_rank == 1
    assert hit.similarity is not None
    # Its score carries its own keyword share (10 / 1100 of a scale of 10).
    assert hit.score - 0.55 * hit.similarity > 1e-4
