"""Vector index, hybrid fusion and similar papers (FakeEncoder vectors on the sample)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from .conftest import FakeEncoder, is_postgres, service_for


@pytest.fixture(scope="module")
def vservice(vector_home: Path):
    return service_for(vector_home, encoder=FakeEncoder())


def _exact_top(matrix: np.ndarray, q: np.ndarray, k: int) -> list[int]:
    return list(np.argsort(-(matrix @ q), kind="stable")[:k])


def test_ann_recall_at_10(vector_home: Path) -> None:
    if is_postgres(vector_home):
        pytest.skip("the embedded index files (server mode: test_hnsw_path_agrees_with_exact_scan)")
    from paperwire.search import vectors as vec
    from paperwire.search.indexing import State, VectorFiles

    home = vector_home / "index"
    state = State.read(home)
    files = VectorFiles.load(home / state.vector_matrix)
    matrix = np.asarray(files.matrix, np.float32)
    index = vec.load_index(home / state.vectors, view=True)
    rng = np.random.default_rng(7)
    queries = matrix[rng.choice(len(matrix), 200, replace=False)]
    queries = queries + rng.normal(0, 0.02, queries.shape).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    recall = []
    for q in queries:
        exact = {int(files.keys[i]) for i in _exact_top(matrix, q, 10)}
        keys, _ = vec.search(index, q, 10)
        recall.append(len(exact & {int(k) for k in keys}) / 10)
    assert np.mean(recall) >= 0.95


@pytest.mark.skipif(
    not (
        Path(__file__).resolve().parents[2] / "paperwire/samples/hf-daily-papers.embeddings.npz"
    ).exists(),
    reason="sample embeddings not built",
)
def test_ann_recall_on_real_sample_embeddings() -> None:
    from paperwire.search import vectors as vec
    from paperwire.search.embeddings import SAMPLE_EMBEDDINGS, read_embeddings_file

    data = read_embeddings_file(SAMPLE_EMBEDDINGS)
    matrix = np.asarray(data.vectors, np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    index = vec.new_index(matrix.shape[1])
    keys = np.arange(len(matrix), dtype=np.uint64)
    index.add(keys, matrix)
    recall = []
    for i in range(0, len(matrix), 3):
        exact = set(_exact_top(matrix, matrix[i], 10))
        found, _ = vec.search(index, matrix[i], 10)
        recall.append(len(exact & {int(k) for k in found}) / 10)
    assert np.mean(recall) >= 0.95


def test_similar_excludes_itself(vservice) -> None:
    hits = vservice.similar("2401.10241", limit=5)
    assert len(hits) == 5
    assert "2401.10241" not in [h.id for h in hits]
    sims = [h.score for h in hits]
    assert sims == sorted(sims, reverse=True)
    assert vservice.similar("2401.10241", limit=0) == []
    assert vservice.similar("9999.99999") == []
    assert vservice.similar("not an id \ud800") == []


def test_hybrid_uses_both_systems(vservice) -> None:
    res = vservice.search("pipeline parallelism bubbles in distributed training", limit=20)
    assert res.hits[0].id == "2401.10241"
    assert res.hits[0].keyword_rank is not None and res.hits[0].vector_rank is not None
    assert any(h.vector_rank is not None for h in res.hits)
    assert any(h.keyword_rank is not None for h in res.hits)
    scores = [h.score for h in res.hits]
    assert scores == sorted(scores, reverse=True)


def test_filters_and_exclusions_apply_to_vector_hits(vservice, vector_home: Path) -> None:
    from paperwire.catalog.store import get_paper
    from paperwire.db import open_database

    db = open_database(vservice.settings)
    res = vservice.search(
        "speech audio generation", categories=["eess.AS"], min_upvotes=3, limit=30
    )
    assert res.hits
    for h in res.hits:
        row = get_paper(db, h.id)
        assert "eess.AS" in row["categories"] and row["upvotes"] >= 3
    res = vservice.search("diffusion video -video", limit=30)
    for h in res.hits:
        row = get_paper(db, h.id)
        assert "video" not in f"{row['title']} {row['abstract']}".lower().replace("videos", "")


def test_fusion_combines_scores() -> None:
    from paperwire.search.fusion import Ranking, fuse, reciprocal_rank_fusion

    nan = float("nan")
    # Paper 0 carries the query's keywords but is far from it; paper 1 is near and
    # shares some words; paper 2 is the nearest but shares none.
    bm25 = np.array([10.0, 6.0, 0.0])
    cosine = np.array([0.20, 0.70, 0.75])
    scores, matches = fuse(bm25, 10.0, cosine, terms=9)
    assert int(np.argmax(scores)) == 1 and matches[1]
    keyword_only, _ = fuse(bm25, 10.0, cosine, Ranking(mode="keyword"), terms=9)
    assert list(np.argsort(-keyword_only)) == [0, 1, 2]
    vector_only, _ = fuse(bm25, 10.0, cosine, Ranking(mode="vector"), terms=9)
    assert int(np.argmax(vector_only)) == 2
    # Scores are absolute: adding a candidate does not move the others.
    more, _ = fuse(np.append(bm25, 3.0), 10.0, np.append(cosine, 0.1), terms=9)
    assert np.allclose(more[:3], scores)
    # A paper without a vector yet ranks by its keyword share, not last.
    fresh, _ = fuse(np.array([10.0, 5.0]), 10.0, np.array([nan, 0.5]), terms=9)
    assert fresh[0] > fresh[1]
    # A short query matches nothing without decisive evidence ...
    _, weak = fuse(np.array([1.0, 0.5]), 10.0, np.array([0.30, 0.25]), terms=2)
    assert not weak.any()
    # ... and matches when one paper carries its keywords.
    _, strong = fuse(np.array([10.0, 0.5]), 10.0, np.array([0.30, 0.25]), terms=2)
    assert strong[0] and not strong[1]
    assert reciprocal_rank_fusion([1, 2, 3], [3, 4])[0][0] == 3


def test_hnsw_path_agrees_with_exact_scan(vservice, monkeypatch: pytest.MonkeyPatch) -> None:
    """Small collections are scanned exactly; large ones go through HNSW (forced here)."""
    from paperwire.catalog.store import get_paper
    from paperwire.db import open_database
    from paperwire.search import service as svc
    from paperwire.search.postgres import view as pg_view

    queries = ["video generation", "reasoning with reinforcement learning", "speech"]
    papers = ["2401.10241", "2403.02775", "2402.15319"]

    def run() -> tuple[list[list[str]], list[list[str]], list[list[str]]]:
        plain = [[h.id for h in vservice.search(q, limit=10).hits] for q in queries]
        filtered = [
            [h.id for h in vservice.search(q, categories=["cs.CV"], limit=10).hits] for q in queries
        ]
        similar = [[h.id for h in vservice.similar(p, limit=10)] for p in papers]
        return plain, filtered, similar

    exact = run()
    monkeypatch.setattr(svc, "EXACT_MAX", 0)
    monkeypatch.setattr(pg_view, "EXACT_MAX", 0)
    approx = run()
    for want, got in zip(exact, approx, strict=True):
        overlap = [
            len(set(a) & set(b)) / len(a) if a else float(not b)
            for a, b in zip(want, got, strict=True)
        ]
        assert np.mean(overlap) >= 0.9, (want, got)
    db = open_database(vservice.settings)
    assert any(approx[1])
    for ids in approx[1]:
        assert all("cs.CV" in get_paper(db, pid)["categories"] for pid in ids)
