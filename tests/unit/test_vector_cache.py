"""Recall by meaning keeps the latest texts' vectors: a text embedded once is not embedded again."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from proxy.memory.recall import meaning


class CountingEncoder:
    """An encoder whose vector of a text is its length, and which counts the texts it was asked."""

    name = "counting"
    dimensions = 2

    def __init__(self) -> None:
        self.asked: list[str] = []

    def encode(self, texts: Sequence[str], *, max_tokens: int = 0) -> np.ndarray:
        self.asked += texts
        return np.array([[len(text), 1.0] for text in texts], dtype=np.float32).reshape(-1, 2)


def test_a_question_and_then_its_memory_are_embedded_once():
    """What the person said, embedded for recall, is not embedded again when its exchange is stored (the
    vector is of what the person said), nor when said again; vectors come back in the order asked."""
    encoder = CountingEncoder()
    question = "we build it with bazel, remember #cache-1"
    first = meaning.embed(encoder, [question])
    stored = meaning.embed(encoder, [f"user: {question}\nassistant: noted", "another text #cache-1"])
    again = meaning.embed(encoder, [question])
    assert encoder.asked == [question, "another text #cache-1"]
    assert np.array_equal(first[0], stored[0]) and np.array_equal(first, again)
    assert stored[1][0] == len("another text #cache-1")
    assert meaning.embed(encoder, []).shape == (0, 2)


def test_the_cache_is_bounded_and_keeps_the_latest(monkeypatch):
    """Past CACHED_VECTORS texts the oldest is forgotten (and embedded again when asked)."""
    monkeypatch.setattr(meaning, "CACHED_VECTORS", 3)
    monkeypatch.setattr(meaning, "_cache", type(meaning._cache)())
    encoder = CountingEncoder()
    meaning.embed(encoder, ["a", "b", "c", "d"])
    meaning.embed(encoder, ["d", "a"])
    assert encoder.asked == ["a", "b", "c", "d", "a"]
    assert len(meaning._cache) == 3
