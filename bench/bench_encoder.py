"""Embedding throughput, old loop against new, with sentence-transformers as the fidelity baseline.

Claims (issue 13, part 5):

- the new encode loop embeds papers faster than the old one, through the real
  production path (:func:`paperwire.search.embeddings.embed_pending`, what
  ``paperwire embed`` runs), on the same cores;
- it stores the same vectors as the old loop (cosine >= 0.999, in practice
  float noise), so vectors already stored stay comparable under the same
  ``MODEL_ID``;
- both keep a mean cosine >= 0.99 to sentence-transformers fp32;
- a query still encodes in the same few milliseconds.

The baseline needs torch and sentence-transformers, which are *not* project
dependencies.  Install them into the venv for this benchmark only:

    .venv/bin/pip install torch==2.13.0            # CPU wheel (from local disk here)
    .venv/bin/pip install sentence-transformers
    .venv/bin/python bench/bench_encoder.py        # --n 2000 --threads 2

What runs: the same ``--n`` abstracts (every 40th paper of
``../shared/data/arxiv-cs-2025-2026.jsonl.gz``, cleaned as the catalog stores
them) are imported into two fresh SQLite catalogs.  Each round, the old loop
and the new loop each run ``embed_pending`` for the next ``--window`` papers
(256, the ``embed`` default) on their own catalog, and sentence-transformers
embeds the same papers; the order rotates every round, so load from other
processes on a shared machine hits all three alike.  The old loop is a frozen
copy of the encoder before this change (:class:`OldEncoder`); both use the
same model file and the same number of threads.  Results also go to
``bench/out/encoder.json``.

The grouping check re-embeds some papers with the old loop in a different
grouping (other papers in the same batches): with the int8 model this moves
vectors by about as much as int8 differs from fp32, which is why the new loop
keeps the old grouping instead of re-bucketing across batches.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from paperwire.catalog.record import PaperRecord  # noqa: E402
from paperwire.catalog.store import upsert_records  # noqa: E402
from paperwire.db import Database  # noqa: E402
from paperwire.db.schema.catalog import papers  # noqa: E402
from paperwire.search.embeddings import EMBED_BATCH, embed_pending, load_vectors  # noqa: E402
from paperwire.search.encoder import (  # noqa: E402
    OnnxEncoder,
    document_text,
    ensure_model,
    load_encoder,
    weights_dir,
)
from paperwire.sources import open_source  # noqa: E402

SOURCE = ROOT.parent / "shared" / "data" / "arxiv-cs-2025-2026.jsonl.gz"
QUERIES = [
    "retrieval augmented generation",
    "diffusion models for video generation",
    "graph neural networks for molecules",
    "efficient attention for long context",
    "reinforcement learning from human feedback",
    "3D gaussian splatting",
    "speech recognition low resource languages",
    "mixture of experts",
]


class OldEncoder:
    """The encode loop before issue 13, frozen: one session call at a time, all threads in it."""

    def __init__(self, inner: OnnxEncoder) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim

    @staticmethod
    def _feed_for(encodings: Sequence[Any]) -> dict[str, np.ndarray]:
        length = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), length), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            ids[row, :n] = enc.ids
            mask[row, :n] = 1
        return {"input_ids": ids, "attention_mask": mask}

    def _run(self, encodings: Sequence[Any]) -> np.ndarray:
        return self.inner.session.run(None, self._feed_for(encodings))[0]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self.inner.tokenizer.encode_batch([str(t) for t in texts])
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), self.inner.batch_size):
            chunk = order[start : start + self.inner.batch_size]
            out[chunk] = self._run([encodings[i] for i in chunk])
        return out

    def encode_query(self, text: str) -> np.ndarray:
        return self._run([self.inner.tokenizer.encode(str(text))])[0]


def load_records(source: Path, n: int, every: int) -> list[PaperRecord]:
    _, stream, _ = open_source(source)
    out: list[PaperRecord] = []
    for i, item in enumerate(stream):
        if isinstance(item, PaperRecord) and i % every == 0:
            out.append(item)
            if len(out) == n:
                break
    return out


def fresh_catalog(folder: Path, records: list[PaperRecord]) -> Database:
    db = Database(f"sqlite:///{folder / 'paperwire.db'}")
    db.migrate()
    upsert_records(db, records)
    return db


def texts_in_id_order(db: Database) -> tuple[list[str], list[str]]:
    """What ``embed_pending`` visits, in its order (by paper id)."""
    with db.connect() as conn:
        rows = conn.execute(
            select(papers.c.id, papers.c.title, papers.c.abstract).order_by(papers.c.id)
        ).all()
    return [r.id for r in rows], [document_text(r.title, r.abstract) for r in rows]


def vectors_by_id(db: Database, model_id: str, ids: list[str]) -> np.ndarray:
    got, matrix = load_vectors(db, model_id)
    row = {pid: i for i, pid in enumerate(got)}
    return matrix[[row[pid] for pid in ids]]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.sum(a * b, axis=1)


def query_latency(fn: Callable[[str], object]) -> tuple[float, float]:
    fn("warm up")
    times = []
    for _ in range(10):
        for q in QUERIES:
            t0 = time.perf_counter()
            fn(q)
            times.append(time.perf_counter() - t0)
    ms = np.array(times) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


# -- --explore: the other levers, measured (no baseline install needed) -------------


def _padding_waste(lengths: np.ndarray, window: int, batch: int) -> float:
    """Share of the work spent on padding when each window is sorted and cut into batches."""
    h = 384

    def cost(n: np.ndarray) -> np.ndarray:  # per sequence: projections + attention
        return 12 * h * h * n + 2 * n * n * h

    padded = useful = 0.0
    for w in range(0, len(lengths), window):
        ls = np.sort(lengths[w : w + window])
        for b in range(0, len(ls), batch):
            part = ls[b : b + batch]
            padded += float(cost(part.max())) * len(part)
            useful += float(cost(part).sum())
    return padded / useful - 1


def explore(texts: list[str], model_dir: Path, precision: str, threads: int) -> dict[str, Any]:
    """Bucketing headroom, session options, and shorter truncation (which would change vectors)."""
    import onnxruntime as ort

    from paperwire.search.encoder import MAX_TOKENS, _load_tokenizer

    found: dict[str, Any] = {}
    tok = _load_tokenizer(weights_dir() / "tokenizer.json")
    lengths = np.array([len(e.ids) for e in tok.encode_batch(texts)])
    tok.no_truncation()
    raw = np.array([len(e.ids) for e in tok.encode_batch(texts)])
    print(
        f"\ntokens before truncation: p5/p50/p95 {np.percentile(raw, [5, 50, 95]).astype(int)},"
        f" max {raw.max()}; {100 * (raw > MAX_TOKENS).mean():.0f}% cut at {MAX_TOKENS}"
    )
    found["tokens"] = {"p50": float(np.median(raw)), "cut_share": float((raw > MAX_TOKENS).mean())}
    for window, batch in [(EMBED_BATCH, 32), (len(texts), 32), (len(texts), 8), (32, 32)]:
        waste = _padding_waste(lengths, window, batch)
        found[f"padding_window{window}_batch{batch}"] = waste
        print(f"  padding: sorted per {window:5} papers, batches of {batch:2}: {100 * waste:.1f}%")

    manifest = ensure_model(model_dir)
    path = str(manifest["paths"][precision])
    tok.enable_truncation(max_length=MAX_TOKENS)
    encodings = sorted(tok.encode_batch(texts[:256]), key=lambda e: len(e.ids))[-32:]
    feed = OldEncoder._feed_for(encodings)
    level, mode = ort.GraphOptimizationLevel, ort.ExecutionMode

    def session(
        spin: str = "0", lvl: Any = level.ORT_ENABLE_ALL, **config: str
    ) -> ort.InferenceSession:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = lvl
        opts.add_session_config_entry("session.intra_op.allow_spinning", spin)
        for key, value in config.items():
            opts.add_session_config_entry(key.replace("__", "."), value)
        return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])

    parallel = ort.SessionOptions()
    parallel.intra_op_num_threads, parallel.inter_op_num_threads = threads, 2
    parallel.execution_mode = mode.ORT_PARALLEL
    parallel.add_session_config_entry("session.intra_op.allow_spinning", "0")
    variants = {
        "today: ENABLE_ALL, no spinning": session(),
        "spinning": session("1"),
        "ENABLE_EXTENDED": session(lvl=level.ORT_ENABLE_EXTENDED),
        "ENABLE_BASIC": session(lvl=level.ORT_ENABLE_BASIC),
        "dynamic_block_base 4": session(session__dynamic_block_base="4"),
        "denormals as zero": session(session__set_denormal_as_zero="1"),
        "parallel execution mode": ort.InferenceSession(
            path, parallel, providers=["CPUExecutionProvider"]
        ),
    }
    secs = dict.fromkeys(variants, 0.0)
    names = list(variants)
    for r in range(3):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t0 = time.perf_counter()
            variants[name].run(None, feed)
            secs[name] += time.perf_counter() - t0
    base = secs[names[0]]
    print(f"\none call of 32 x {feed['input_ids'].shape[1]} tokens, {threads} threads, 3 rounds:")
    for name in names:
        found[f"session: {name}"] = base / secs[name]
        print(f"  {name:32} {base / secs[name]:5.2f}x")

    fp32 = load_encoder(model_dir, "fp32", threads=threads)
    ours = load_encoder(model_dir, precision, threads=threads)
    sample = texts[:192]
    ref = fp32.encode(sample)
    print(f"\nshorter truncation, {len(sample)} abstracts, {precision} (a new model id):")
    timing: dict[int, float] = {}
    for limit in (MAX_TOKENS, 192, 128):
        ours.tokenizer.enable_truncation(max_length=limit)
        t0 = time.perf_counter()
        vec = ours.encode(sample)
        timing[limit] = time.perf_counter() - t0
        cos = cosines(vec, ref)
        found[f"truncate_{limit}"] = {
            "speedup": timing[MAX_TOKENS] / timing[limit],
            "mean_cos_fp32_256": float(cos.mean()),
        }
        print(
            f"  {limit} tokens: {timing[MAX_TOKENS] / timing[limit]:4.2f}x,"
            f" cosine to fp32 at {MAX_TOKENS}: mean {cos.mean():.4f}, min {cos.min():.4f}"
        )
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description="embedding throughput: old loop vs new loop vs ST")
    ap.add_argument("--n", type=int, default=2000, help="abstracts to embed")
    ap.add_argument("--every", type=int, default=40, help="take every k-th corpus paper")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument(
        "--window", type=int, default=EMBED_BATCH, help="papers per embed_pending batch (a round)"
    )
    ap.add_argument("--precision", choices=["auto", "fp32", "int8"], default="auto")
    ap.add_argument(
        "--grouping-check", type=int, default=256, help="papers re-embedded in another grouping"
    )
    ap.add_argument("--source", type=Path, default=SOURCE, help="corpus (paperwire-jsonl)")
    ap.add_argument(
        "--explore",
        action="store_true",
        help="instead: padding headroom, session options, shorter truncation (no baseline)",
    )
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "encoder.json")
    args = ap.parse_args()
    if args.explore:
        model_dir = Path(os.environ.get("PAPERWIRE_MODEL_DIR") or ROOT / ".cache" / "models")
        precision = (
            ensure_model(model_dir)["chosen"] if args.precision == "auto" else args.precision
        )
        records = load_records(args.source, args.n, args.every)
        texts = [document_text(r.title, r.abstract) for r in records]
        print(f"--explore: {len(texts)} abstracts, load average {os.getloadavg()[0]:.2f}")
        found = explore(texts, model_dir, precision, args.threads)
        print(f"load average at end {os.getloadavg()[0]:.2f}")
        out = args.out.with_name(args.out.stem + "-explore.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(found, indent=2, default=float))
        return

    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError:
        sys.exit("baseline missing: see this script's docstring (torch, sentence-transformers)")
    torch.set_num_threads(args.threads)
    records = load_records(args.source, args.n, args.every)
    load_start = os.getloadavg()

    model_dir = Path(os.environ.get("PAPERWIRE_MODEL_DIR") or ROOT / ".cache" / "models")
    manifest = ensure_model(model_dir)
    precision = manifest["chosen"] if args.precision == "auto" else args.precision
    old = OldEncoder(load_encoder(model_dir, precision, threads=args.threads))
    new = load_encoder(model_dir, precision, threads=args.threads)
    st = SentenceTransformer(str(weights_dir()), device="cpu")
    st.max_seq_length = 256

    tmp = tempfile.TemporaryDirectory(prefix="bench-encoder-")
    dbs = {}
    for name in ("old", "new"):
        (Path(tmp.name) / name).mkdir()
        dbs[name] = fresh_catalog(Path(tmp.name) / name, records)
    ids, texts = texts_in_id_order(dbs["old"])

    st_parts: list[np.ndarray] = []
    st_next = 0

    def run_st() -> int:
        nonlocal st_next
        part = texts[st_next : st_next + args.window]
        st_parts.append(
            st.encode(part, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
        )
        st_next += len(part)
        return len(part)

    steps: dict[str, Callable[[], int]] = {
        "sentence-transformers fp32 (baseline)": run_st,
        f"old loop, ONNX {precision}": lambda: embed_pending(
            dbs["old"], old, batch_size=args.window, limit=args.window, progress=False
        ),
        f"new loop, ONNX {precision}": lambda: embed_pending(
            dbs["new"], new, batch_size=args.window, limit=args.window, progress=False
        ),
    }
    names = list(steps)
    for fn in (old.encode, new.encode, lambda t: st.encode(t, batch_size=32)):
        fn(texts[:8])  # warm up: first calls allocate
    seconds = dict.fromkeys(names, 0.0)
    rounds = -(-len(texts) // args.window)
    loads = []
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t0 = time.perf_counter()
            steps[name]()
            seconds[name] += time.perf_counter() - t0
        loads.append(os.getloadavg()[0])
        print(f"round {r + 1}/{rounds} done, load {loads[-1]:.2f}", file=sys.stderr, flush=True)

    ref = np.concatenate(st_parts)
    matrices = {
        names[0]: ref,
        names[1]: vectors_by_id(dbs["old"], old.model_id, ids),
        names[2]: vectors_by_id(dbs["new"], new.model_id, ids),
    }
    latency = {
        names[0]: query_latency(lambda q: st.encode([q], normalize_embeddings=True)),
        names[1]: query_latency(old.encode_query),
        names[2]: query_latency(new.encode_query),
    }
    grouping: dict[str, float] = {}
    if args.grouping_check:
        # The same papers, half a window later: in other batches, next to other papers.
        start = min(args.window // 2, len(texts) - 1)
        part = slice(start, min(start + args.grouping_check, len(texts)))
        same = cosines(old.encode(texts[part]), matrices[names[1]][part])
        grouping = {"papers": len(same), "mean": float(same.mean()), "min": float(same.min())}
    tmp.cleanup()

    rate = {name: len(texts) / seconds[name] for name in names}
    print(
        f"\n{len(texts)} abstracts, {args.threads} threads, {args.window} papers per embed batch, "
        f"ONNX {precision} (int8 build check: mean cos {manifest['int8_check']['mean_cosine']})"
    )
    print(
        f"load average: {load_start[0]:.2f} at start, rounds {min(loads):.2f}..{max(loads):.2f}, "
        f"{os.getloadavg()[0]:.2f} at end\n"
    )
    header = (
        f"{'encoder':38} {'papers/s':>8} {'x old':>6} {'x ST':>6} {'cos ST':>8} {'min':>7}"
        f" {'cos old':>9} {'min':>9} {'query p50':>9} {'p95 ms':>7}"
    )
    print(header)
    print("-" * len(header))
    rows = []
    for name in names:
        to_st = cosines(matrices[name], ref)
        to_old = cosines(matrices[name], matrices[names[1]])
        p50, p95 = latency[name]
        rows.append(
            {
                "encoder": name,
                "papers_per_s": round(rate[name], 2),
                "speedup_vs_old": round(rate[name] / rate[names[1]], 3),
                "speedup_vs_st": round(rate[name] / rate[names[0]], 3),
                "mean_cos_to_st": round(float(to_st.mean()), 5),
                "min_cos_to_st": round(float(to_st.min()), 5),
                "mean_cos_to_old": round(float(to_old.mean()), 7),
                "min_cos_to_old": round(float(to_old.min()), 7),
                "query_p50_ms": round(p50, 2),
                "query_p95_ms": round(p95, 2),
            }
        )
        print(
            f"{name:38} {rate[name]:8.1f} {rate[name] / rate[names[1]]:5.2f}x"
            f" {rate[name] / rate[names[0]]:5.2f}x {to_st.mean():8.5f} {to_st.min():7.4f}"
            f" {to_old.mean():9.6f} {to_old.min():9.6f} {p50:9.2f} {p95:7.2f}"
        )
    if grouping:
        print(
            f"\ngrouping check: {grouping['papers']} papers re-embedded by the old loop with other "
            f"papers in their batches: cosine to the first run mean {grouping['mean']:.5f}, "
            f"min {grouping['min']:.5f}"
        )
    print(
        "\ntargets: new >= 2x old papers/s; new vs old cosine >= 0.999; mean cosine to ST >= 0.99;"
        " query p50 unchanged"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "n": len(texts),
                "threads": args.threads,
                "window": args.window,
                "precision": precision,
                "load_average": {"start": load_start[0], "rounds": loads},
                "rows": rows,
                "grouping_check": grouping,
                "manifest": manifest,
            },
            indent=2,
            default=str,
        )
    )


if __name__ == "__main__":
    main()
