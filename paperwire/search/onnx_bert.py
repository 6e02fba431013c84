"""Build a BERT sentence encoder as an ONNX graph straight from safetensors weights.

Why by hand: exporting with ``torch.onnx`` would make torch (gigabytes) a
dependency.  The graph below is the plain BERT encoder written with standard
ONNX operators, laid out the way Hugging Face's eager BERT exports, so that
``onnxruntime.transformers.optimizer`` recognises it and fuses attention,
GELU and skip + LayerNorm into its fast kernels.  Mean pooling over the
attention mask and L2 normalisation are part of the graph, so one session
call returns finished sentence embeddings.

Inputs: ``input_ids`` and ``attention_mask`` (int64, ``[batch, seq]``);
token types are always 0 for single sentences, so their embedding is folded
into the position table.  Output: ``embedding`` (float32, ``[batch, hidden]``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17  # LayerNormalization is a standard operator from opset 17
INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAME = "embedding"


@dataclass(frozen=True)
class BertConfig:
    """The few fields of a Hugging Face ``config.json`` the graph depends on."""

    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    layer_norm_eps: float
    vocab_size: int
    max_position_embeddings: int
    hidden_act: str = "gelu"

    @classmethod
    def from_file(cls, path: Path) -> BertConfig:
        data = json.loads(Path(path).read_text())
        if data.get("model_type", "bert") != "bert":
            raise ValueError(f"{path}: not a BERT model ({data.get('model_type')!r})")
        if data.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"{path}: only absolute position embeddings are supported")
        if data.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"{path}: only exact (erf) GELU is supported")
        return cls(
            hidden_size=data["hidden_size"],
            num_hidden_layers=data["num_hidden_layers"],
            num_attention_heads=data["num_attention_heads"],
            intermediate_size=data["intermediate_size"],
            layer_norm_eps=float(data.get("layer_norm_eps", 1e-12)),
            vocab_size=data["vocab_size"],
            max_position_embeddings=data["max_position_embeddings"],
        )


class _Graph:
    """Tiny helper that names nodes and collects initializers."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], name: str, **attrs: object) -> str:
        self._n += 1
        out = f"{name}_out"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=name, **attrs))
        return out


def _f32(x: np.ndarray | float) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def build_bert_graph(weights: dict[str, np.ndarray], cfg: BertConfig) -> onnx.ModelProto:
    """The full encoder + mean pooling + L2 norm as an fp32 ONNX model."""
    h, heads = cfg.hidden_size, cfg.num_attention_heads
    head_dim = h // heads
    if head_dim * heads != h:
        raise ValueError("hidden_size must be divisible by num_attention_heads")
    prefix = "bert." if "bert.embeddings.word_embeddings.weight" in weights else ""

    def w(name: str) -> np.ndarray:
        return _f32(weights[prefix + name])

    g = _Graph()
    # -- shared constants ---------------------------------------------------
    one = g.const("one_f", _f32(1.0))
    mask_value = g.const("mask_value", _f32(-10000.0))
    scale = g.const("attn_scale", _f32(math.sqrt(head_dim)))
    sqrt2 = g.const("sqrt2", _f32(math.sqrt(2.0)))
    half = g.const("half", _f32(0.5))
    split_shape = g.const("split_heads_shape", np.array([0, 0, heads, head_dim], np.int64))
    merge_shape = g.const("merge_heads_shape", np.array([0, 0, h], np.int64))
    ax0 = g.const("axes_0", np.array([0], np.int64))
    ax1 = g.const("axes_1", np.array([1], np.int64))
    ax2 = g.const("axes_2", np.array([2], np.int64))
    ax_last = g.const("axes_last", np.array([-1], np.int64))
    idx1 = g.const("index_1", np.array([1], np.int64))
    tiny = g.const("pool_eps", _f32(1e-9))
    norm_eps = g.const("norm_eps", _f32(1e-12))

    # -- embeddings: word + (position + token type 0), then LayerNorm ---------
    word_table = g.const("word_embeddings", w("embeddings.word_embeddings.weight"))
    pos_table = g.const(
        "position_embeddings",
        w("embeddings.position_embeddings.weight")
        + w("embeddings.token_type_embeddings.weight")[0][None, :],
    )
    words = g.op("Gather", [word_table, "input_ids"], "emb_word", axis=0)
    shape = g.op("Shape", ["input_ids"], "emb_shape")
    seq_len = g.op("Gather", [shape, idx1], "emb_seq_len", axis=0)
    positions = g.op(
        "Slice", [pos_table, g.const("zero_i", np.array([0], np.int64)), seq_len, ax0], "emb_pos"
    )
    x = g.op("Add", [words, positions], "emb_add")
    x = g.op(
        "LayerNormalization",
        [
            x,
            g.const("emb_ln_w", w("embeddings.LayerNorm.weight")),
            g.const("emb_ln_b", w("embeddings.LayerNorm.bias")),
        ],
        "emb_ln",
        axis=-1,
        epsilon=cfg.layer_norm_eps,
    )

    # -- additive attention mask, the pattern the ORT optimizer matches -------
    m = g.op("Unsqueeze", ["attention_mask", ax1], "mask_unsq1")
    m = g.op("Unsqueeze", [m, ax2], "mask_unsq2")
    m = g.op("Cast", [m], "mask_cast", to=TensorProto.FLOAT)
    m = g.op("Sub", [one, m], "mask_sub")
    additive_mask = g.op("Mul", [m, mask_value], "mask_mul")

    for i in range(cfg.num_hidden_layers):
        p = f"encoder.layer.{i}."
        n = f"l{i}_"

        def proj(inp: str, name: str, key: str, n: str = n, p: str = p) -> str:
            mm = g.op(
                "MatMul", [inp, g.const(f"{n}{name}_w", w(p + key + ".weight").T)], n + name + "_mm"
            )
            return g.op(
                "Add", [mm, g.const(f"{n}{name}_b", w(p + key + ".bias"))], n + name + "_add"
            )

        q = proj(x, "q", "attention.self.query")
        k = proj(x, "k", "attention.self.key")
        v = proj(x, "v", "attention.self.value")
        q = g.op("Reshape", [q, split_shape], n + "q_reshape")
        q = g.op("Transpose", [q], n + "q_t", perm=[0, 2, 1, 3])
        k = g.op("Reshape", [k, split_shape], n + "k_reshape")
        k = g.op("Transpose", [k], n + "k_t", perm=[0, 2, 3, 1])
        v = g.op("Reshape", [v, split_shape], n + "v_reshape")
        v = g.op("Transpose", [v], n + "v_t", perm=[0, 2, 1, 3])
        scores = g.op("MatMul", [q, k], n + "qk")
        scores = g.op("Div", [scores, scale], n + "qk_scale")
        scores = g.op("Add", [scores, additive_mask], n + "qk_mask")
        probs = g.op("Softmax", [scores], n + "softmax", axis=-1)
        ctx = g.op("MatMul", [probs, v], n + "ctx")
        ctx = g.op("Transpose", [ctx], n + "ctx_t", perm=[0, 2, 1, 3])
        ctx = g.op("Reshape", [ctx, merge_shape], n + "ctx_reshape")
        attn = proj(ctx, "attn_out", "attention.output.dense")
        x = g.op("Add", [attn, x], n + "attn_residual")
        x = g.op(
            "LayerNormalization",
            [
                x,
                g.const(n + "attn_ln_w", w(p + "attention.output.LayerNorm.weight")),
                g.const(n + "attn_ln_b", w(p + "attention.output.LayerNorm.bias")),
            ],
            n + "attn_ln",
            axis=-1,
            epsilon=cfg.layer_norm_eps,
        )
        # Feed-forward with exact GELU: x * 0.5 * (1 + erf(x / sqrt(2))).
        f = proj(x, "ffn_in", "intermediate.dense")
        e = g.op("Div", [f, sqrt2], n + "gelu_div")
        e = g.op("Erf", [e], n + "gelu_erf")
        e = g.op("Add", [e, one], n + "gelu_add")
        e = g.op("Mul", [f, e], n + "gelu_mul")
        f = g.op("Mul", [e, half], n + "gelu_half")
        f = proj(f, "ffn_out", "output.dense")
        x = g.op("Add", [f, x], n + "ffn_residual")
        x = g.op(
            "LayerNormalization",
            [
                x,
                g.const(n + "ffn_ln_w", w(p + "output.LayerNorm.weight")),
                g.const(n + "ffn_ln_b", w(p + "output.LayerNorm.bias")),
            ],
            n + "ffn_ln",
            axis=-1,
            epsilon=cfg.layer_norm_eps,
        )

    # -- mean pooling over real tokens, then L2 normalisation ----------------
    pm = g.op("Unsqueeze", ["attention_mask", ax2], "pool_unsq")
    pm = g.op("Cast", [pm], "pool_cast", to=TensorProto.FLOAT)
    summed = g.op("ReduceSum", [g.op("Mul", [x, pm], "pool_mul"), ax1], "pool_sum", keepdims=0)
    count = g.op("ReduceSum", [pm, ax1], "pool_count", keepdims=0)
    count = g.op("Max", [count, tiny], "pool_clamp")
    mean = g.op("Div", [summed, count], "pool_mean")
    sq = g.op("Mul", [mean, mean], "norm_square")
    sq = g.op("ReduceSum", [sq, ax_last], "norm_sq", keepdims=1)
    norm = g.op("Max", [g.op("Sqrt", [sq], "norm_sqrt"), norm_eps], "norm_clamp")
    g.nodes.append(helper.make_node("Div", [mean, norm], [OUTPUT_NAME], name="norm_div"))

    graph = helper.make_graph(
        g.nodes,
        "bert_sentence_encoder",
        [
            helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "seq"])
            for name in INPUT_NAMES
        ],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", h])],
        initializer=g.inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="paperwire"
    )
    model.ir_version = 8  # readable by every onnxruntime >= 1.14
    onnx.checker.check_model(model)
    return model
