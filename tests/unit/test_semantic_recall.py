"""Recall by meaning in the local store: the encoder's vectors, paraphrases found, unrelated ones not,
older memories embedded in the background, forgetting, and other processes' writes."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import numpy as np
import pytest

from bench.memory_data import filler
from proxy.memory.recall.embeddings import EncoderLoader, NumpyEncoder
from proxy.memory.stores.local.store import LocalMemoryStore

REFERENCE = (
    Path(__file__).resolve().parents[2] / "fixtures" / "embeddings" / "all-minilm-l6-v2-reference.json"
)

pytestmark = pytest.mark.usefixtures("embedding_model_dir")

FILLER = filler(30)
"""Everyday coding questions and small talk, from the memory benchmark's data set."""
VOLVO = "I drive a red Volvo"


@pytest.fixture(scope="module")
def loader(embedding_model_dir: Path) -> EncoderLoader:
    loaded = EncoderLoader()
    assert loaded.wait(timeout=60) is not None, loaded.status
    return loaded


@pytest.fixture
async def store(loader: EncoderLoader, tmp_path: Path):
    opened = LocalMemoryStore(tmp_path / "memory.sqlite3", semantic=loader)
    yield opened
    await opened.close()


async def fill(store: LocalMemoryStore, user: str = "alice") -> None:
    for text in FILLER:
        await store.add(user, text)


def test_the_numpy_encoder_computes_the_reference_implementations_vectors(embedding_model_dir: Path):
    """The numpy encoder gives sentence-transformers' own vectors (scripts/reference_embeddings.py); the
    int8 one is held to it in tests/unit/test_onnx_encoder.py."""
    reference = json.loads(REFERENCE.read_text())
    ours = NumpyEncoder(embedding_model_dir).encode(reference["texts"])
    expected = np.array(reference["vectors"], dtype=np.float32)
    assert ours.shape == expected.shape == (len(reference["texts"]), 384)
    assert np.abs(ours - expected).max() < 1e-5
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


async def test_a_question_in_other_words_is_recalled_by_meaning(store: LocalMemoryStore, tmp_path: Path):
    await fill(store)
    await store.add("alice", VOLVO)
    [found, *_] = await store.search("alice", "What car do I own?")
    assert (found.content, found.signal) == (VOLVO, "meaning")
    assert found.score > 0.35
    words_only = LocalMemoryStore(store.path)  # the same file without the model: no shared word, no recall
    try:
        assert VOLVO not in [r.content for r in await words_only.search("alice", "What car do I own?")]
    finally:
        await words_only.close()


async def test_a_shared_word_still_leads(store: LocalMemoryStore):
    await fill(store)
    await store.add("alice", "the deploy key rotates on Fridays")
    [first, *_] = await store.search("alice", "when does the deploy key rotate?")
    assert (first.content, first.signal) == ("the deploy key rotates on Fridays", "words")


async def test_an_unrelated_question_recalls_nothing(store: LocalMemoryStore):
    """Every memory has a nearest neighbour; one that is not close enough is not recalled."""
    await fill(store)
    await store.add("alice", VOLVO)
    assert await store.search("alice", "How long should sourdough proof overnight?") == []


async def test_meaning_never_crosses_clients(store: LocalMemoryStore):
    await store.add("bob", VOLVO)
    await fill(store, "alice")
    assert [r for r in await store.search("alice", "What car do I own?") if r.content == VOLVO] == []


async def test_memories_written_before_the_model_loaded_are_embedded_in_the_background(
    loader: EncoderLoader, tmp_path: Path
):
    path = tmp_path / "memory.sqlite3"
    before = LocalMemoryStore(path)
    await fill(before)
    await before.add("alice", VOLVO)
    await before.close()
    after = LocalMemoryStore(path, semantic=loader)
    try:
        for _ in range(100):
            found = await after.search("alice", "What car do I own?")
            if found and found[0].content == VOLVO:
                break
            await asyncio.sleep(0.1)
        assert found[0].content == VOLVO
    finally:
        await after.close()


async def test_a_forgotten_memory_is_not_recalled_by_meaning(store: LocalMemoryStore):
    await fill(store)
    volvo = await store.add("alice", VOLVO)
    assert (await store.search("alice", "What car do I own?"))[0].id == volvo  # the matrix is cached now
    await store.forget("alice", volvo)
    assert all(r.id != volvo for r in await store.search("alice", "What car do I own?"))


async def test_another_process_on_the_same_file_sees_new_memories_by_meaning(
    loader: EncoderLoader, store: LocalMemoryStore
):
    await fill(store)
    other = LocalMemoryStore(store.path, semantic=loader)
    try:
        assert await other.search("alice", "What car do I own?") == []  # its matrix is cached now
        await store.add("alice", VOLVO)
        assert (await other.search("alice", "What car do I own?"))[0].content == VOLVO
    finally:
        await other.close()


async def test_while_the_model_loads_recall_is_by_words_and_says_so(tmp_path: Path):
    release = threading.Event()

    class SlowLoader(EncoderLoader):
        def _load(self) -> None:
            release.wait(timeout=30)
            super()._load()

    slow = SlowLoader()
    store = LocalMemoryStore(tmp_path / "memory.sqlite3", semantic=slow)
    try:
        await store.add("alice", "my favourite colour is teal")
        assert store.recall_mode == "by words only: the embedding model is still loading"
        assert [r.signal for r in await store.search("alice", "favourite colour")] == ["words"]
    finally:
        release.set()
        await store.close()
    assert slow.wait(timeout=30) is not None
    assert store.recall_mode is None


async def test_add_many_embeds_what_it_writes(store: LocalMemoryStore):
    await store.add_many("alice", [*FILLER, VOLVO])
    [found, *_] = await store.search("alice", "What car do I own?")
    assert (found.content, found.signal) == (VOLVO, "meaning")


def test_a_long_text_is_read_up_to_its_token_limit(loader: EncoderLoader):
    """What lies past ``max_tokens`` changes nothing (it is never read, so it costs nothing)."""
    long = "the staging server needs a restart after the certificate rotation " * 20
    first = loader.encoder.encode([long], max_tokens=16)
    assert np.allclose(first, loader.encoder.encode([long + " and more words at the end"], max_tokens=16))
    assert not np.allclose(first, loader.encoder.encode([long]))
