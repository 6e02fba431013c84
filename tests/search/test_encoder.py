"""The ONNX sentence encoder: correctness against a numpy BERT, and its contract.

The converted model is built once into ``.cache/models`` (or
``$PAPERWIRE_MODEL_DIR``) and reused by later runs, so only the first run pays
the ~15 s conversion.
"""

from __future__ import annotations

import json
import math
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from paperwire.search import encoder as enc_mod
from paperwire.search.encoder import (
    MODEL_ID,
    Encoder,
    OnnxEncoder,
    document_text,
    ensure_model,
    load_encoder,
    weights_dir,
)

ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = Path(os.environ.get("PAPERWIRE_MODEL_DIR") or ROOT / ".cache" / "models")

LONG = (
    "We study large language models trained on web-scale corpora and evaluate them on "
    "reasoning benchmarks, reporting accuracy, calibration and robustness. "
) * 30


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return load_encoder(MODEL_DIR)  # the precision production uses ("auto")


@pytest.fixture(scope="module")
def fp32() -> Encoder:
    return load_encoder(MODEL_DIR, "fp32")


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_is_an_encoder_with_normalised_float32_rows(encoder: Encoder) -> None:
    assert isinstance(encoder, Encoder)
    assert encoder.model_id == MODEL_ID and encoder.dim == 384
    out = encoder.encode(["graph neural networks", "a second, longer sentence about vision"])
    assert out.shape == (2, 384) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    q = encoder.encode_query("graph neural networks")
    assert q.shape == (384,) and q.dtype == np.float32
    np.testing.assert_allclose(q, encoder.encode(["graph neural networks"])[0], atol=1e-6)
    assert encoder.encode([]).shape == (0, 384)


def _numpy_bert(texts: list[str]) -> np.ndarray:
    """all-MiniLM-L6-v2 written out in numpy: an independent check of the ONNX graph."""
    from safetensors.numpy import load_file

    src = weights_dir()
    w = load_file(str(src / "model.safetensors"))
    cfg = json.loads((src / "config.json").read_text())
    heads, eps = cfg["num_attention_heads"], cfg["layer_norm_eps"]
    erf = np.vectorize(math.erf)
    tok = enc_mod._load_tokenizer(src / "tokenizer.json")

    def ln(x: np.ndarray, name: str) -> np.ndarray:
        mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + eps) * w[name + ".weight"] + w[name + ".bias"]

    def dense(x: np.ndarray, name: str) -> np.ndarray:
        return x @ w[name + ".weight"].T + w[name + ".bias"]

    out = []
    for text in texts:
        ids = tok.encode(text).ids
        n = len(ids)
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:n]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = ln(x, "embeddings.LayerNorm")
        for i in range(cfg["num_hidden_layers"]):
            p = f"encoder.layer.{i}."
            q, k, v = (
                dense(x, p + f"attention.self.{m}").reshape(n, heads, -1).transpose(1, 0, 2)
                for m in ("query", "key", "value")
            )
            s = q @ k.transpose(0, 2, 1) / math.sqrt(q.shape[-1])
            s = np.exp(s - s.max(-1, keepdims=True))
            ctx = (s / s.sum(-1, keepdims=True)) @ v
            x = ln(dense(ctx.transpose(1, 0, 2).reshape(n, -1), p + "attention.output.dense") + x,
                   p + "attention.output.LayerNorm")  # fmt: skip
            f = dense(x, p + "intermediate.dense")
            f = f * 0.5 * (1.0 + erf(f / math.sqrt(2.0)))
            x = ln(dense(f, p + "output.dense") + x, p + "output.LayerNorm")
        mean = x.mean(0)
        out.append(mean / np.linalg.norm(mean))
    return np.array(out, dtype=np.float32)


def test_matches_a_numpy_reference_bert(fp32: Encoder, encoder: Encoder) -> None:
    texts = ["Attention is all you need.", "Diffusion models for video generation, at scale!"]
    ref = _numpy_bert(texts)
    for a, b in zip(fp32.encode(texts), ref, strict=True):
        assert _cos(a, b) > 0.9999
    for a, b in zip(encoder.encode(texts), ref, strict=True):
        assert _cos(a, b) > 0.98  # int8 when it passed its build-time check


def test_similar_texts_are_closer_than_unrelated(encoder: Encoder) -> None:
    a, b, c = encoder.encode(
        [
            "A convolutional network for image classification on ImageNet.",
            "Deep CNNs that recognise objects in photographs.",
            "A recipe for slow-cooked lamb with rosemary and garlic.",
        ]
    )
    assert _cos(a, b) > _cos(a, c) + 0.2
    q = encoder.encode_query("image recognition with neural networks")
    assert _cos(q, a) > _cos(q, c)


def test_deterministic(encoder: Encoder) -> None:
    texts = ["same input", LONG, "same output"]
    assert np.array_equal(encoder.encode(texts), encoder.encode(texts))


def test_batching_does_not_change_vectors(fp32: Encoder, encoder: Encoder) -> None:
    short = "Retrieval-augmented generation for open-domain question answering."
    batch = [LONG, short, LONG[:500], "x"] * 2
    # fp32: padding is masked exactly, so a vector does not depend on its batch.
    alone = fp32.encode([short])[0]
    np.testing.assert_allclose(fp32.encode(batch)[1], alone, atol=2e-5)
    # int8 takes one activation scale per batch, so vectors move with the batch, by
    # about as much as int8 differs from fp32 (cosine ~0.99); both stay near fp32.
    alone, batched = encoder.encode([short])[0], encoder.encode(batch)[1]
    assert _cos(batched, alone) > 0.98
    assert _cos(batched, fp32.encode([short])[0]) > 0.98


@pytest.mark.parametrize(
    "text",
    ["", " ", "\n\t", "\x00", "😀🚀", "ñandú über façade", "$\\alpha$ < & >", "a" * 5000, LONG * 5],
)
def test_odd_strings_do_not_crash(encoder: Encoder, text: str) -> None:
    out = encoder.encode([text, "ordinary text"])
    assert out.shape == (2, 384) and np.isfinite(out).all()
    assert np.linalg.norm(encoder.encode_query(text)) == pytest.approx(1.0, abs=1e-4)


def test_model_is_built_once_and_atomically(encoder: Encoder) -> None:
    manifest = ensure_model(MODEL_DIR)
    assert manifest["model_id"] == MODEL_ID
    assert manifest["int8_check"]["mean_cosine"] >= 0.99 or manifest["chosen"] == "fp32"
    assert manifest["fused"].get("Attention") == 6  # the ORT optimizer recognised the graph
    stamps = {p: p.stat().st_mtime_ns for p in manifest["paths"].values()}
    again = ensure_model(MODEL_DIR)
    assert {p: p.stat().st_mtime_ns for p in again["paths"].values()} == stamps
    leftovers = [p.name for p in MODEL_DIR.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_document_text() -> None:
    assert document_text("Title", "Abstract.") == "Title. Abstract."
    assert document_text("Why does it work?", "Because.") == "Why does it work? Because."
    assert document_text("  Spaced\n title ", "") == "Spaced title"
    assert document_text("", "Only abstract.") == "Only abstract."


# -- many batches: side by side on every core, same vectors, same order -------------

MIXED = [
    "",
    "Graph neural networks.",
    LONG,
    "A short abstract about protein folding with language models.",
    "x",
    LONG[:700],
    "Diffusion models for video generation, trained on web videos at scale. " * 3,
    LONG * 5,
    "ñandú über façade $\\alpha$ < & >",
    "Retrieval-augmented generation for open-domain question answering.",
    "Sparse attention." * 20,
] * 2  # 22 texts: batches of 4 give 6 calls; 18 texts give 5 (four side by side + one)


def _small_batches(precision: str, threads: int = 2) -> OnnxEncoder:
    """The production encoder with batches of 4, so a few texts make several calls."""
    manifest = ensure_model(MODEL_DIR)
    tokenizer = enc_mod._load_tokenizer(weights_dir() / "tokenizer.json")
    return OnnxEncoder(manifest["paths"][precision], tokenizer, threads=threads, batch_size=4)


def _sequential(encoder: OnnxEncoder, texts: list[str]) -> np.ndarray:
    """The documented recipe, one call after another: stable sort by tokens, 4 at a time."""
    encodings = encoder.tokenizer.encode_batch(texts)
    order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    for start in range(0, len(order), 4):
        rows = order[start : start + 4]
        length = max(len(encodings[i].ids) for i in rows)
        ids = np.zeros((len(rows), length), dtype=np.int64)
        mask = np.zeros_like(ids)
        for r, i in enumerate(rows):
            ids[r, : len(encodings[i].ids)] = encodings[i].ids
            mask[r, : len(encodings[i].ids)] = 1
        out[rows] = encoder.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
    return out


@pytest.mark.parametrize("count", [22, 18, 5])
def test_many_batches_keep_the_input_order(count: int) -> None:
    """fp32 vectors do not depend on their batch, so each row must equal its text alone."""
    encoder = _small_batches("fp32")
    texts = MIXED[:count]
    out = encoder.encode(texts)
    assert out.shape == (count, 384)
    for row, text in zip(out, texts, strict=True):
        np.testing.assert_allclose(row, encoder.encode_query(text), atol=2e-5)


@pytest.mark.parametrize("count", [22, 18])
def test_many_batches_keep_the_grouping_of_a_sequential_run(count: int) -> None:
    """int8 vectors move with their batch mates; the grouping must stay the sequential one.

    That is what keeps vectors stored before comparable with new ones under one model id.
    """
    encoder = _small_batches(ensure_model(MODEL_DIR)["chosen"])
    texts = MIXED[:count]
    np.testing.assert_allclose(encoder.encode(texts), _sequential(encoder, texts), atol=1e-5)


def test_concurrent_callers_get_their_own_rows() -> None:
    encoder = _small_batches("fp32")
    texts_a, texts_b = MIXED[:18], MIXED[3:21][::-1]
    want_a, want_b = encoder.encode(texts_a), encoder.encode(texts_b)
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(encoder.encode, t) for t in (texts_a, texts_b) * 3]
        results = [f.result() for f in futures]
    for got, want in zip(results, [want_a, want_b] * 3, strict=True):
        np.testing.assert_allclose(got, want, atol=2e-5)


def test_one_thread_runs_every_batch_in_turn() -> None:
    encoder = _small_batches("fp32", threads=1)
    texts = MIXED[:18]
    np.testing.assert_allclose(
        encoder.encode(texts), _small_batches("fp32").encode(texts), atol=2e-5
    )


def test_rejects_an_empty_batch_size() -> None:
    manifest = ensure_model(MODEL_DIR)
    tokenizer = enc_mod._load_tokenizer(weights_dir() / "tokenizer.json")
    with pytest.raises(ValueError, match="batch_size"):
        OnnxEncoder(manifest["paths"]["fp32"], tokenizer, batch_size=0)
