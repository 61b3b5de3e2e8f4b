"""The embedding model on onnxruntime in int8: a question's vector in about a millisecond.

Why: embedding the question is most of what recall by meaning costs (numpy's float32 MiniLM takes ~6 ms for
12 tokens on one core here, words-only recall a fraction of one), and it runs on every request. onnxruntime
runs the same model quantized to int8 (proxy/memory/recall/onnx_graph.py) in ~1 ms, with vectors within a
cosine of 0.98 of the reference's on average (tests/unit/test_onnx_encoder.py holds it to that).

The graph is built once per model file, in a child process, and kept in the cache folder
(``$XDG_CACHE_HOME/litellm-memory-proxy/models``) under a name made of the weights' digest and the graph's
version, so an upgraded model or builder makes a new one and nothing stale is ever run. Where the folder
cannot be written, the graph is built for the run and not kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from proxy.memory.recall.embeddings import Encoder
from proxy.memory.recall.onnx_graph import GRAPH_VERSION
from proxy.paths import cache_home

__all__ = ["BUILD_TIMEOUT_SECONDS", "OnnxEncoder", "cached_graph"]

logger = logging.getLogger("proxy.memory.recall.onnx_encoder")

BUILD_TIMEOUT_SECONDS = 300.0
"""A graph build takes ~3 s here; one that hangs falls back to numpy rather than waiting for good."""


def _weights_digest(model_dir: Path) -> str:
    digest = hashlib.sha256()
    with (model_dir / "model.safetensors").open("rb") as weights:
        while block := weights.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()[:16]


def cached_graph(model_dir: Path, cache_dir: Path | None = None) -> Path | None:
    """The int8 graph of the model in ``model_dir``, cached (built now if it was not); None when the cache
    folder cannot be written."""
    folder = cache_dir or cache_home() / "models"
    path = folder / f"minilm-{_weights_digest(model_dir)}-g{GRAPH_VERSION}-int8.onnx"
    if path.is_file():
        return path
    try:
        folder.mkdir(parents=True, exist_ok=True)
        scratch = tempfile.mkdtemp(prefix=".building-", dir=folder)
    except OSError as exc:
        logger.info("the model cache %s cannot be written (%s): the graph is built for this run", folder, exc)
        return None
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, scratch, ignore_errors=True)
        built = Path(scratch) / path.name
        _build(model_dir, built)
        os.replace(built, path)  # whole or not at all, whichever of two builders ends first
    return path


def _build(model_dir: Path, out: Path) -> None:
    logger.info("building the embedding model's int8 graph (once per model): %s", out.name)
    done = subprocess.run(
        [sys.executable, "-m", "proxy.memory.recall.onnx_graph", str(model_dir), str(out)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_SECONDS,
        check=False,
    )
    if done.returncode != 0 or not out.is_file():
        last_line = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"building the onnx graph failed (exit {done.returncode}): {last_line}")


class OnnxEncoder(Encoder):
    """The model quantized to int8, run by onnxruntime on one thread per call."""

    runtime = "onnxruntime int8"

    batch = 1
    """One text per run: dynamic quantization scales activations by the whole batch, so a text's vector
    would depend on the texts beside it (a cosine of 0.96 at worst between alone and in a batch of 32);
    alone is also faster, with no padding to compute (0.9 s for 544 texts, 1.6 s in batches)."""

    def __init__(self, model_dir: Path, cache_dir: Path | None = None) -> None:
        import onnxruntime

        super().__init__(model_dir)
        options = onnxruntime.SessionOptions()
        # One thread per call, like numpy's BLAS here: the store embeds from several threads at once.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # its shape-merging warnings are about the graph, not a request
        self.graph = cached_graph(model_dir, cache_dir)
        with contextlib.ExitStack() as cleanup:
            graph = self.graph
            if graph is None:  # built for this run only: the session keeps what it needs of the file
                graph = Path(cleanup.enter_context(tempfile.TemporaryDirectory())) / "minilm-int8.onnx"
                _build(model_dir, graph)
            providers = ["CPUExecutionProvider"]
            self._session = onnxruntime.InferenceSession(str(graph), options, providers=providers)

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feed = {"input_ids": ids, "attention_mask": mask.astype(np.int64)}
        (vectors,) = self._session.run(["embedding"], feed)
        return np.asarray(vectors, dtype=np.float32)
