"""OpenAI embeddings (``POST /v1/embeddings``): a deterministic vector per input, so a test can predict it."""

from __future__ import annotations

import hashlib
from typing import Any

__all__ = ["DIMENSIONS", "embedding_of", "embeddings_body"]

DIMENSIONS = 8
"""The length of every vector the fake gives (unless the request asks for ``dimensions``)."""


def embedding_of(text: str, dimensions: int = DIMENSIONS) -> list[float]:
    """The vector the fake gives ``text``: numbers in [-1, 1) read from its SHA-256."""
    digest = hashlib.sha256(text.encode()).digest()
    return [round(digest[i % len(digest)] / 128 - 1, 6) for i in range(dimensions)]


def embeddings_body(payload: dict[str, Any]) -> dict[str, Any]:
    """The embeddings answer: one item per input (a string, or a list of strings or of token lists)."""
    given = payload.get("input")
    inputs = [given] if isinstance(given, str) or not isinstance(given, list) else given
    if inputs and all(isinstance(item, int) for item in inputs):
        inputs = [inputs]  # one input given as tokens
    dimensions = payload.get("dimensions")
    size = dimensions if isinstance(dimensions, int) and 0 < dimensions <= 4096 else DIMENSIONS
    tokens = sum(len(str(item).split()) for item in inputs)
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": index, "embedding": embedding_of(str(item), size)}
            for index, item in enumerate(inputs)
        ],
        "model": payload.get("model") or "fake-embedding",
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
