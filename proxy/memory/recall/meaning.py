"""What recall by meaning compares, the same in every store that embeds: what the person said, cut to
:data:`EMBEDDED_TOKENS`, as a vector named after the model and that choice (:func:`vector_model`).

Shared so that the local and the PostgreSQL store recall alike: a store that embedded the whole exchange,
or read further into it, would find other memories for the same question.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from proxy.memory.recall.embeddings import Encoder, EncoderLoader
from proxy.memory.turns import said_by_the_user

__all__ = [
    "CACHED_VECTORS",
    "DEFAULT_MIN_SIMILARITY",
    "EMBEDDED_TOKENS",
    "EncoderBacked",
    "embed",
    "forget_vectors",
    "vector_model",
]

DEFAULT_MIN_SIMILARITY = 0.32
"""Cosine similarity below which a memory is not recalled by meaning alone. On the memory benchmark's
paraphrase set three facts were at 0.33-0.35 to their question, each the nearest memory (0.35 found 84%,
0.32 finds 96%); of its questions with no answer only one came as close as 0.31 (and the Berlin Wall's
0.38 to the Berlin marathon). LoCoMo found one question fewer (64.4% against 64.5%)."""

EMBEDDED_TOKENS = 128
"""Tokens of a memory or a question that recall by meaning reads: what a person says to be remembered or
asks fits (the memory benchmark's longest is 15); a pasted blob is cut, which keeps its cost bounded (the
model's own limit, 256, costs ~80 ms of one core here)."""


def vector_model(encoder: Encoder) -> str:
    """The name a store keeps ``encoder``'s vectors under. What a vector is of (what the person said in a
    memory) is part of it, so vectors of another kind or model are never compared, and are made anew."""
    return f"{encoder.name}:said-by-the-user"


CACHED_VECTORS = 2048
"""Texts whose vectors are kept (about 1.5 KB each for MiniLM's 384 dimensions)."""

_cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
_cache_lock = threading.Lock()


def embed(encoder: Encoder, texts: Sequence[str]) -> np.ndarray:
    """The unit vectors of memories (of what the person said in each) or of questions; CPU-bound, so
    stores call it off the event loop.

    The latest :data:`CACHED_VECTORS` texts' vectors are kept: a prompt is embedded for recall and, a
    moment later, the same words again as the memory of its exchange (unless it is a bare question, whose
    answer is: :func:`~proxy.memory.turns.said_by_the_user`); a client that asks again (a retry, an
    agent's next step) asks the same words. Embedding costs 5-10 ms of a core per text here; a kept
    vector nothing.
    """
    said = [said_by_the_user(text) for text in texts]
    keys = [(encoder.name, text) for text in said]
    with _cache_lock:
        found = {key: _cache[key] for key in keys if key in _cache}
        for key in found:
            _cache.move_to_end(key)
    missing = list(dict.fromkeys(key for key in keys if key not in found))
    if missing:
        vectors = encoder.encode([text for _, text in missing], max_tokens=EMBEDDED_TOKENS)
        made = dict(zip(missing, vectors, strict=True))
        found.update(made)
        with _cache_lock:
            _cache.update(made)
            while len(_cache) > CACHED_VECTORS:
                _cache.popitem(last=False)
    if not keys:
        return encoder.encode([], max_tokens=EMBEDDED_TOKENS)
    return np.stack([found[key] for key in keys])


def forget_vectors() -> None:
    """Empty the kept vectors (the memory benchmark times embedding itself)."""
    with _cache_lock:
        _cache.clear()


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
