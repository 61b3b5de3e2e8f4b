"""What recall by meaning costs before any memory is read: the question's embedding, and the dense search.

For each embedding runtime (:data:`proxy.memory.recall.embeddings.RUNTIMES`, numpy's float32 reference and
onnxruntime's int8):

- ``load_s``: open the model (for onnx, ``cold_load_s`` builds its graph into an empty cache first, as a
  first start does; ``load_s`` finds it cached);
- ``question_ms``: p50/p95 of embedding one of the memory benchmark's questions, never asked before
  (10-17 tokens: keyword and paraphrase questions, and unrelated ones);
- ``statement_ms``: the same for a memory's text (an everyday exchange, ~25 tokens);
- ``cosine``: mean and worst cosine to the reference runtime's vectors over all those texts.

``dense_ms``: p50 of the dense search itself (:class:`~proxy.memory.recall.dense.DenseIndex`: one
matrix-vector product and a partial sort) over 10,000 and 100,000 unit vectors of one namespace, on one
BLAS thread as the proxy runs it. Each runtime runs in a child process of its own, so none inherits
another's warm caches.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.memory_data import FACTS, UNRELATED, filler

__all__ = ["DENSE_SIZES", "markdown", "run"]

DENSE_SIZES = (10_000, 100_000)
REPEATS = 5
"""Each text is embedded this many times (its median kept); the figures are over texts."""


def _questions() -> list[str]:
    return [*(q for fact in FACTS for q in (fact.keyword, fact.paraphrase)), *UNRELATED]


def _timed(encode: Any, texts: list[str]) -> dict[str, float]:
    times = []
    for text in texts:
        runs = []
        for _ in range(REPEATS):
            started = time.perf_counter()
            encode([text])
            runs.append((time.perf_counter() - started) * 1000)
        times.append(statistics.median(runs))
    times.sort()
    return {"p50": statistics.median(times), "p95": times[max(int(len(times) * 0.95) - 1, 0)]}


def measure(runtime: str) -> dict[str, Any]:
    """One runtime's figures, in this process (a fresh one: :func:`run` starts it)."""
    from proxy.memory.recall.embeddings import NumpyEncoder, default_model_dir, open_encoder
    from proxy.memory.recall.meaning import EMBEDDED_TOKENS

    model_dir = default_model_dir()
    if model_dir is None:
        raise SystemExit("the embedding model is not installed")
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="embedding-bench-") as cache:
        if runtime == "onnx":
            from proxy.memory.recall.onnx_encoder import OnnxEncoder

            started = time.perf_counter()
            OnnxEncoder(model_dir, cache_dir=Path(cache))
            figures["cold_load_s"] = time.perf_counter() - started
            started = time.perf_counter()
            encoder = OnnxEncoder(model_dir, cache_dir=Path(cache))
        else:
            started = time.perf_counter()
            encoder = open_encoder(model_dir, runtime)
        figures["load_s"] = time.perf_counter() - started

    def encode(texts: list[str]) -> np.ndarray:
        return encoder.encode(texts, max_tokens=EMBEDDED_TOKENS)

    questions, statements = _questions(), filler(60, seed=11)
    encode(questions[:3])  # warm
    figures["question_ms"] = _timed(encode, questions)
    figures["statement_ms"] = _timed(encode, statements)
    reference = encoder if isinstance(encoder, NumpyEncoder) else NumpyEncoder(model_dir)
    texts = questions + statements
    cosines = np.sum(encode(texts) * reference.encode(texts, max_tokens=EMBEDDED_TOKENS), axis=1)
    figures["cosine"] = {"mean": float(cosines.mean()), "worst": float(cosines.min())}
    figures["runtime"] = encoder.runtime
    return figures


def dense_search() -> dict[str, float]:
    """p50 of one namespace's dense search at :data:`DENSE_SIZES`."""
    from threadpoolctl import threadpool_limits

    from proxy.memory.recall.dense import DenseIndex

    threadpool_limits(limits=1, user_api="blas")
    rng = np.random.default_rng(5)
    figures = {}
    for size in DENSE_SIZES:
        vectors = rng.standard_normal((size, 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        index = DenseIndex(np.arange(size, dtype=np.int64), vectors)
        times = []
        for n in range(200):
            started = time.perf_counter()
            index.nearest(vectors[n], limit=20, min_similarity=0.35)
            times.append((time.perf_counter() - started) * 1000)
        figures[str(size)] = statistics.median(times)
    return figures


def _child(argument: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "bench.embedding_speed", argument], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"bench.embedding_speed {argument} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


def run() -> dict[str, Any]:
    """Every runtime's figures and the dense search's, each from a fresh process."""
    return {
        "runtimes": {runtime: _child(runtime) for runtime in ("numpy", "onnx")},
        "dense_ms": _child("dense"),
    }


def markdown(results: dict[str, Any]) -> list[str]:
    lines = [
        "Query embedding (all-MiniLM-L6-v2, one thread; each text embedded anew; cosine to the float32 "
        "reference over the same texts):",
        "",
        "| runtime | question p50 ms | question p95 ms | memory p50 ms | cosine mean | cosine worst "
        "| load s |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for row in results["runtimes"].values():
        load = f"{row['load_s']:.2f}"
        if "cold_load_s" in row:
            load += f" ({row['cold_load_s']:.1f} the first time)"
        lines.append(
            f"| {row['runtime']} | {row['question_ms']['p50']:.2f} | {row['question_ms']['p95']:.2f} "
            f"| {row['statement_ms']['p50']:.2f} | {row['cosine']['mean']:.4f} "
            f"| {row['cosine']['worst']:.4f} | {load} |"
        )
    dense = ", ".join(f"{int(size):,} vectors {ms:.2f} ms" for size, ms in results["dense_ms"].items())
    lines += ["", f"Dense search of one namespace, p50: {dense}."]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.embedding_speed", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("what", choices=["numpy", "onnx", "dense", "all"], nargs="?", default="all")
    what = parser.parse_args(argv).what
    if what == "all":
        print("\n".join(markdown(run())))
    else:
        print(json.dumps(dense_search() if what == "dense" else measure(what)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
