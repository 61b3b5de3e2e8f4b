"""What recall by meaning compares, the same in every store that embeds: what the person said, cut to
:data:`EMBEDDED_TOKENS`, as a vector named after the model and that choice (:func:`vector_model`).

Shared so that the local and the PostgreSQL store recall alike: a store that embedded the whole exchange,
or read further into it, would find other memories for the same question.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np

from proxy.memory.recall.embeddings import Encoder, EncoderLoader
from proxy.memory.turns import said_by_the_user

__all__ = ["DEFAULT_MIN_SIMILARITY", "EMBEDDED_TOKENS", "EncoderBacked", "embed", "vector_model"]

DEFAULT_MIN_SIMILARITY = 0.35
"""Cosine similarity below which a memory is not recalled by meaning alone."""

EMBEDDED_TOKENS = 128
"""Tokens of a memory or a question that recall by meaning reads: what a person says to be remembered or
asks fits (the memory benchmark's longest is 15); a pasted blob is cut, which keeps its cost bounded (the
model's own limit, 256, costs ~80 ms of one core here)."""


def vector_model(encoder: Encoder) -> str:
    """The name a store keeps ``encoder``'s vectors under. What a vector is of (what the person said in a
    memory) is part of it, so vectors of another kind or model are never compared, and are made anew."""
    return f"{encoder.name}:said-by-the-user"


def embed(encoder: Encoder, texts: Sequence[str]) -> np.ndarray:
    """The unit vectors of memories (of what the person said in each) or of questions; CPU-bound, so
    stores call it off the event loop."""
    return encoder.encode([said_by_the_user(text) for text in texts], max_tokens=EMBEDDED_TOKENS)


class EncoderBacked:
    """What a store that recalls by meaning with an :class:`EncoderLoader` (``_semantic``, None when
    meaning was not asked for) says of it through the store interface."""

    _semantic: EncoderLoader | None

    @property
    def recall_mode(self) -> str | None:
        """Why recall is by words only (None when it is by meaning too, or meaning was not asked for)."""
        if self._semantic is None:
            return None
        status = self._semantic.status
        return f"by words only: {status}" if status else None

    async def wait_for_model(self, seconds: float) -> None:
        """Until the embedding model has loaded (or failed to load): for a tool that can wait for it."""
        if self._semantic is not None:
            await asyncio.to_thread(self._semantic.wait, seconds)
