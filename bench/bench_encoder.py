"""Encoder throughput and fidelity: our ONNX encoder (int8, fp32) vs sentence-transformers.

Claim: Paperwire's torch-free encoder embeds abstracts at least 2x faster than
sentence-transformers (fp32, the baseline) with a mean cosine of at least 0.99
to its vectors, and encodes a query in a few milliseconds.

The baseline needs torch and sentence-transformers, which are *not* project
dependencies.  Install them into the venv for this benchmark only:

    .venv/bin/pip install torch==2.13.0            # CPU wheel
    .venv/bin/pip install sentence-transformers
    .venv/bin/python bench/bench_encoder.py        # --n 2000 --threads N

All encoders see the same abstracts (``document_text`` of every 40th paper of
``../shared/data/arxiv-cs-2025-2026.jsonl.gz``, cleaned as the catalog stores
them), truncated at 256 tokens, batch size 32, the same number of threads.
The work is interleaved in rounds (each round every encoder embeds the same
slice, in rotating order), so load from other processes on a shared machine
hits all of them alike.  Results also go to ``bench/out/encoder.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from paperwire.catalog.record import PaperRecord  # noqa: E402
from paperwire.search.encoder import (  # noqa: E402
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


def load_texts(n: int, every: int) -> list[str]:
    _, stream, _ = open_source(SOURCE)
    texts = []
    for i, item in enumerate(stream):
        if isinstance(item, PaperRecord) and i % every == 0:
            texts.append(document_text(item.title, item.abstract))
            if len(texts) == n:
                break
    return texts


def main() -> None:
    ap = argparse.ArgumentParser(description="ONNX encoder vs sentence-transformers")
    ap.add_argument("--n", type=int, default=2000, help="abstracts to embed")
    ap.add_argument("--every", type=int, default=40, help="take every k-th corpus paper")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "encoder.json")
    args = ap.parse_args()

    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError:
        sys.exit("baseline missing: see this script's docstring (torch, sentence-transformers)")
    torch.set_num_threads(args.threads)

    texts = load_texts(args.n, args.every)
    model_dir = Path(os.environ.get("PAPERWIRE_MODEL_DIR") or ROOT / ".cache" / "models")
    manifest = ensure_model(model_dir)
    ours = {p: load_encoder(model_dir, p, threads=args.threads) for p in ("int8", "fp32")}
    st = SentenceTransformer(str(weights_dir()), device="cpu")
    st.max_seq_length = 256

    encoders: dict[str, Callable[[list[str]], np.ndarray]] = {
        "sentence-transformers fp32 (baseline)": lambda t: st.encode(
            t, batch_size=32, normalize_embeddings=True, convert_to_numpy=True
        ),
        "paperwire ONNX fp32": ours["fp32"].encode,
        "paperwire ONNX int8": ours["int8"].encode,
    }
    names = list(encoders)
    for name in names:  # warm up: first calls allocate
        encoders[name](texts[:8])
    seconds = dict.fromkeys(names, 0.0)
    vectors: dict[str, list[np.ndarray]] = {name: [] for name in names}
    bounds = np.linspace(0, len(texts), args.rounds + 1).astype(int)
    for r in range(args.rounds):
        part = texts[bounds[r] : bounds[r + 1]]
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t0 = time.perf_counter()
            vectors[name].append(np.asarray(encoders[name](part), dtype=np.float32))
            seconds[name] += time.perf_counter() - t0
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    matrices = {name: np.concatenate(v) for name, v in vectors.items()}
    ref = matrices[names[0]]

    query_fns: dict[str, Callable[[str], object]] = {
        names[0]: lambda q: st.encode([q], normalize_embeddings=True),
        names[1]: ours["fp32"].encode_query,
        names[2]: ours["int8"].encode_query,
    }
    latency: dict[str, tuple[float, float]] = {}
    for name, fn in query_fns.items():
        fn("warm up")
        times = []
        for _ in range(10):
            for q in QUERIES:
                t0 = time.perf_counter()
                fn(q)
                times.append(time.perf_counter() - t0)
        ms = np.array(times) * 1000
        latency[name] = (float(np.percentile(ms, 50)), float(np.percentile(ms, 95)))

    base_rate = len(texts) / seconds[names[0]]
    rows = []
    print(
        f"\n{len(texts)} abstracts, {args.threads} threads, int8 build check: "
        f"mean cos {manifest['int8_check']['mean_cosine']} ({manifest['chosen']} chosen)\n"
    )
    header = f"{'encoder':40} {'docs/s':>8} {'speed-up':>9} {'mean cos':>9} {'min cos':>8}"
    header += f" {'query p50 ms':>13} {'p95 ms':>7}"
    print(header)
    print("-" * len(header))
    for name in names:
        rate = len(texts) / seconds[name]
        cos = np.sum(matrices[name] * ref, axis=1)
        p50, p95 = latency[name]
        rows.append(
            {
                "encoder": name,
                "docs_per_s": round(rate, 2),
                "speedup": round(rate / base_rate, 2),
                "mean_cos_to_baseline": round(float(cos.mean()), 5),
                "min_cos_to_baseline": round(float(cos.min()), 5),
                "query_p50_ms": round(p50, 2),
                "query_p95_ms": round(p95, 2),
            }
        )
        print(
            f"{name:40} {rate:8.1f} {rate / base_rate:8.2f}x {cos.mean():9.5f} {cos.min():8.5f}"
            f" {p50:13.2f} {p95:7.2f}"
        )
    print("\ntargets: >= 2x the baseline's docs/s, mean cosine >= 0.99, query in a few ms")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {"n": len(texts), "threads": args.threads, "rows": rows, "manifest": manifest},
            indent=2,
            default=str,
        )
    )


if __name__ == "__main__":
    main()
