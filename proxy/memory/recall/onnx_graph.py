"""all-MiniLM-L6-v2 as an ONNX graph, written from its installed safetensors and quantized to int8.

Why by hand: the usual way to an ONNX graph is torch's exporter, and torch is the 1.4 GB this project keeps
out. The model is small and plain (BERT: embeddings, 6 post-norm layers, exact GELU), so the graph is a
page of standard ONNX operators, the same computation ``NumpyEncoder`` does step by step, ending in the mean
pooling and L2 normalisation sentence-transformers adds.

Quantization is onnxruntime's dynamic one, on the matrix products only and per output channel: measured on
600 sentences of long conversations, that keeps a cosine of 0.992 to the float32 vectors on average (0.966 at
worst), where quantizing the word embeddings too falls to 0.95 (0.80 at worst).

Run as ``python -m proxy.memory.recall.onnx_graph MODEL_DIR OUT``: ``OnnxEncoder`` builds in a child
process, so the ~400 MB the build touches never stays in the proxy's memory, and onnxruntime's quantizer
logs to its own stderr, not the proxy's root logger.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import onnx

__all__ = ["GRAPH_VERSION", "build_graph", "write_quantized"]

GRAPH_VERSION = 1
"""Changes whenever the graph or its quantization does: part of the cached file's name."""

OPSET = 17
"""LayerNormalization's first opset; onnxruntime has run it since 1.14."""


class _GraphWriter:
    """Nodes and initializers in the order they are added, each node's output named after it."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def constant(self, name: str, value: Any) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, *inputs: str, **attributes: Any) -> str:
        from onnx import helper

        self._count += 1
        output = f"{op_type.lower()}_{self._count}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], name=output, **attributes))
        return output


def build_graph(model_dir: Path) -> onnx.ModelProto:
    """The float32 graph: inputs ``input_ids`` and ``attention_mask`` (int64, batch x length), output
    ``embedding`` (float32, batch x hidden), each row a unit vector."""
    import onnx
    from onnx import TensorProto, helper
    from safetensors.numpy import load_file

    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    weights = load_file(str(model_dir / "model.safetensors"))
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    head = hidden // heads
    g = _GraphWriter()

    def scalar(name: str, value: float) -> str:
        return g.constant(name, np.array(value, dtype=np.float32))

    def ints(name: str, *values: int) -> str:
        return g.constant(name, np.array(values, dtype=np.int64))

    def linear(x: str, prefix: str) -> str:
        weight = g.constant(f"{prefix}.weight", weights[f"{prefix}.weight"].T)  # stored (out, in)
        return g.op("Add", g.op("MatMul", x, weight), g.constant(f"{prefix}.bias", weights[f"{prefix}.bias"]))

    def layer_norm(x: str, prefix: str) -> str:
        scale = g.constant(f"{prefix}.weight", weights[f"{prefix}.weight"])
        bias = g.constant(f"{prefix}.bias", weights[f"{prefix}.bias"])
        return g.op("LayerNormalization", x, scale, bias, axis=-1, epsilon=config["layer_norm_eps"])

    # Embeddings: word + position (the first `length` rows) + token type 0.
    length = g.op("Slice", g.op("Shape", "input_ids"), ints("one", 1), ints("two", 2))
    positions = g.constant("positions", weights["embeddings.position_embeddings.weight"])
    position_rows = g.op("Slice", positions, ints("zero", 0), length, ints("rows", 0))
    words = g.op("Gather", g.constant("words", weights["embeddings.word_embeddings.weight"]), "input_ids")
    token_type = g.constant("token_type", weights["embeddings.token_type_embeddings.weight"][0])
    x = layer_norm(g.op("Add", g.op("Add", words, position_rows), token_type), "embeddings.LayerNorm")

    # Padding positions get a large negative score, so no real token attends to them.
    mask = g.op("Cast", "attention_mask", to=TensorProto.FLOAT)
    padding = g.op("Mul", g.op("Sub", scalar("one_f", 1.0), mask), scalar("padding_score", -1e4))
    padding = g.op("Unsqueeze", padding, ints("head_axes", 1, 2))  # batch x 1 x 1 x length
    split = ints("split_heads", 0, 0, heads, head)
    merge = ints("merge_heads", 0, 0, hidden)
    scale = scalar("score_scale", 1.0 / np.sqrt(head))
    half, root2 = scalar("half", 0.5), scalar("sqrt2", np.sqrt(2.0))
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}"

        def heads_of(name: str, perm: tuple[int, ...], x: str = x, p: str = p) -> str:
            projected = linear(x, f"{p}.attention.self.{name}")
            return g.op("Transpose", g.op("Reshape", projected, split), perm=perm)

        q = heads_of("query", (0, 2, 1, 3))
        k = heads_of("key", (0, 2, 3, 1))  # transposed for q @ k
        v = heads_of("value", (0, 2, 1, 3))
        scores = g.op("Add", g.op("Mul", g.op("MatMul", q, k), scale), padding)
        context = g.op("MatMul", g.op("Softmax", scores, axis=-1), v)
        context = g.op("Reshape", g.op("Transpose", context, perm=(0, 2, 1, 3)), merge)
        attended = g.op("Add", x, linear(context, f"{p}.attention.output.dense"))
        x = layer_norm(attended, f"{p}.attention.output.LayerNorm")
        h = linear(x, f"{p}.intermediate.dense")
        erf_term = g.op("Add", g.op("Erf", g.op("Div", h, root2)), scalar(f"one_{i}", 1.0))
        gelu = g.op("Mul", g.op("Mul", h, half), erf_term)  # exact GELU: x/2 (1 + erf(x/sqrt 2))
        x = layer_norm(g.op("Add", x, linear(gelu, f"{p}.output.dense")), f"{p}.output.LayerNorm")

    # Mean over the real tokens, then unit length.
    token_mask = g.op("Unsqueeze", mask, ints("hidden_axis", 2))
    summed = g.op("ReduceSum", g.op("Mul", x, token_mask), ints("token_axis", 1), keepdims=0)
    counts = g.op("ReduceSum", token_mask, "token_axis", keepdims=0)
    pooled = g.op("Div", summed, g.op("Max", counts, scalar("min_count", 1e-9)))
    norm = g.op("Max", g.op("ReduceL2", pooled, axes=[-1], keepdims=1), scalar("min_norm", 1e-12))
    g.nodes.append(helper.make_node("Div", [pooled, norm], ["embedding"], name="embedding"))

    graph = helper.make_graph(
        g.nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "length"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "length"]),
        ],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", hidden])],
        g.initializers,
    )
    opsets = [helper.make_opsetid("", OPSET)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="litellm-memory-proxy")
    model.ir_version = 8  # what onnxruntime releases back to 1.14 read
    onnx.checker.check_model(model)
    return model


def write_quantized(model_dir: Path, out: Path) -> None:
    """Build the graph and write its int8 form to ``out``."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="minilm-onnx-") as scratch:
        float_graph = Path(scratch) / "float32.onnx"
        onnx.save(build_graph(model_dir), str(float_graph))
        quantize_dynamic(
            str(float_graph),
            str(out),
            op_types_to_quantize=["MatMul"],
            per_channel=True,
            weight_type=QuantType.QInt8,
        )


if __name__ == "__main__":
    write_quantized(Path(sys.argv[1]), Path(sys.argv[2]))
