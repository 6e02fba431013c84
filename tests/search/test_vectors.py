"""Vector index, hybrid fusion and similar papers (FakeEncoder vectors on the sample)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from .conftest import FakeEncoder, is_postgres, service_for


@pytest.fixture(scope="module")
def vservice(vector_home: Path):
    return service_for(vector_home, encoder=FakeEncoder())


needs_sample_embeddings = pytest.mark.skipif(
    not (
        Path(__file__).resolve().parents[2] / "paperwire/samples/hf-daily-papers.embeddings.npz"
    ).exists(),
    reason="sample embeddings not built",
)


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


@needs_sample_embeddings
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


def test_nearest_by_code_takes_the_closest_codes() -> None:
    from paperwire.search import vectors as vec

    rng = np.random.default_rng(3)
    matrix = rng.normal(0, 1, (500, 64)).astype(np.float16)
    center = vec.code_center(matrix)
    codes = vec.binary_codes(matrix, center)
    assert codes.shape == (500, 8) and codes.dtype == np.uint8
    q = rng.normal(0, 1, 64).astype(np.float32)
    positions = np.arange(0, 500, 2)  # a filter that lets every other row through
    picked = vec.nearest_by_code(codes, center, positions, q, 30)
    assert len(picked) == 30 and set(picked) <= set(positions)
    qbits = np.unpackbits(np.packbits(q > center))
    dist = {int(p): int((np.unpackbits(codes[p]) != qbits).sum()) for p in positions}
    worst_picked = max(dist[int(p)] for p in picked)
    assert all(d >= worst_picked for p, d in dist.items() if p not in set(picked.tolist()))
    # The same answer every time (ties at the cut go to the lowest positions).
    assert np.array_equal(
        np.sort(picked), np.sort(vec.nearest_by_code(codes, center, positions, q, 30))
    )
    assert set(vec.nearest_by_code(codes, center, positions[:10], q, 30)) == set(positions[:10])


def test_filtered_search_by_codes_matches_exact(vector_home: Path, monkeypatch) -> None:
    """A filtered vector search answered by binary codes returns only papers that pass,
    best first, and (re-ranking enough of them) the same papers as an exact scan."""
    if is_postgres(vector_home):
        pytest.skip("the embedded index files (server mode filters inside the HNSW scan)")
    from paperwire.search import service as svc
    from paperwire.search.keyword import Filters

    view = service_for(vector_home, encoder=FakeEncoder())._snapshot()
    assert view is not None and view.vectors is not None and view.vectors.codes is not None
    filters = Filters(categories=("cs.LG",))  # reinforcement learning and agents
    mask = view.table.mask(filters)
    allowed = set(view.table.keys[mask].tolist())
    assert 20 < len(allowed) < 0.3 * len(mask)
    monkeypatch.setattr(svc, "EXACT_MAX", 0)  # the sample is small: force the filtered paths
    queries = np.asarray(FakeEncoder().encode(["diffusion models", "robot grasping", "proteins"]))
    matrix = np.asarray(view.vectors.matrix, np.float32)
    rows = np.flatnonzero(mask)
    # (How close the codes' picks come is measured on real embeddings in
    # test_codes_on_real_embeddings: FakeEncoder's sparse hashed words make poor codes.)
    for q in queries:
        truth = view.vectors.keys[rows[np.argsort(-(matrix[rows] @ q), kind="stable")[:10]]]
        monkeypatch.setattr(svc, "CODE_RERANK", 1000)  # re-ranks every allowed paper
        full_keys, _ = view.nearest(q, filters, 10)
        assert set(full_keys.tolist()) == set(truth.tolist())
        monkeypatch.setattr(svc, "CODE_RERANK", 2)  # re-ranks the best 20 codes
        keys, sims = view.nearest(q, filters, 10)
        assert len(keys) == 10 and set(keys.tolist()) <= allowed
        assert list(sims) == sorted(sims, reverse=True)


def test_vector_files_keep_their_codes_through_merges(tmp_path: Path) -> None:
    from paperwire.search import vectors as vec
    from paperwire.search.indexing import VectorFiles

    rng = np.random.default_rng(5)
    first = rng.normal(0, 1, (40, 16)).astype(np.float16)
    empty = VectorFiles(np.zeros(0, np.uint64), np.zeros((0, 16), np.float16))
    files = empty.merged(np.arange(40, dtype=np.uint64), first, np.zeros(0, np.uint64))
    assert files.center is not None and np.allclose(files.center, first.astype(np.float32).mean(0))
    more = rng.normal(0, 1, (10, 16)).astype(np.float16)
    files = files.merged(np.arange(35, 45, dtype=np.uint64), more, np.array([0, 1], np.uint64))
    assert list(files.keys) == list(range(2, 45))
    assert np.array_equal(files.codes, vec.binary_codes(files.matrix, files.center))
    files.save(tmp_path / "vectors-1.arrays")
    loaded = VectorFiles.load(tmp_path / "vectors-1.arrays")
    assert np.array_equal(loaded.codes, files.codes) and np.array_equal(loaded.center, files.center)
    assert np.array_equal(loaded.matrix, files.matrix) and np.array_equal(loaded.keys, files.keys)
    # Mapped, not copied: the processes of a machine share the pages.
    assert all(isinstance(a, np.memmap) for a in (loaded.keys, loaded.matrix, loaded.codes))
    assert not isinstance(
        VectorFiles.load(tmp_path / "vectors-1.arrays", mmap=False).matrix, np.memmap
    )
    # Written again (a generation re-run after a crash): replaced whole, no leftovers.
    files.merged(np.array([99], np.uint64), more[:1], np.zeros(0, np.uint64)).save(
        tmp_path / "vectors-1.arrays"
    )
    assert 99 in VectorFiles.load(tmp_path / "vectors-1.arrays").keys
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vectors-1.arrays"]
    # A file written before codes existed gets them when it is read.
    np.savez(tmp_path / "old.npz", keys=files.keys, matrix=files.matrix)
    old = VectorFiles.load(tmp_path / "old.npz")
    assert old.codes is None and old.with_codes().codes is not None


@needs_sample_embeddings
def test_codes_on_real_embeddings() -> None:
    """On MiniLM vectors, the codes' best 20x re-ranked find the exact nearest."""
    from paperwire.search import vectors as vec
    from paperwire.search.embeddings import SAMPLE_EMBEDDINGS, read_embeddings_file

    matrix = np.asarray(read_embeddings_file(SAMPLE_EMBEDDINGS).vectors, np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    center = vec.code_center(matrix)
    codes = vec.binary_codes(matrix, center)
    allowed = np.arange(1, len(matrix), 2)  # a filter: every other paper
    recall = []
    for i in range(0, len(matrix), 4):
        truth = set(allowed[np.argsort(-(matrix[allowed] @ matrix[i]), kind="stable")[:5]])
        near = vec.nearest_by_code(codes, center, allowed, matrix[i], vec.CODE_RERANK * 5)
        best = near[np.argsort(-(matrix[near] @ matrix[i]), kind="stable")[:5]]
        recall.append(len(truth & set(best.tolist())) / 5)
    assert np.mean(recall) >= 0.95, np.mean(recall)
