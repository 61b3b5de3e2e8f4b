"""A store written by an earlier release opens with every memory kept and recalls as it did.

``fixtures/stores/local-0.5.0/`` is a SQLite store that release 0.5.0 wrote
(``scripts/write_store_fixture.py`` at its commit), with what it held and what a fixed set of questions
recalled first. Today's store opens a copy and must hold the same memories (ids, custom ids, contents,
times), keep every vector (none is made anew), and rank each question's first five memories as it ranks
them once the same memories are written anew: an upgrade changes nothing about recall. The five are the
release's five, its first still first; their order below that is today's (0.11.0 ranks the memories
beside a match higher, which reorders one question's five).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from proxy.memory.recall.embeddings import EncoderLoader
from proxy.memory.stores.base import NewMemory
from proxy.memory.stores.local.store import LocalMemoryStore

FIXTURES = Path(__file__).parents[2] / "fixtures" / "stores"


@pytest.fixture(scope="module")
def loader(embedding_model_dir: Path) -> EncoderLoader:
    loaded = EncoderLoader()
    assert loaded.wait(timeout=60) is not None, loaded.status
    return loaded


async def holds_and_ranks_as_written(store: Any, expected: dict[str, Any]) -> None:
    """Every memory as the release wrote it; for each question the memories the release found, the same one
    first, in the order today's store ranks the same memories written anew (vectors and index made today)."""
    kept: dict[str, list[dict[str, Any]]] = {}
    for user, memories in expected["memories"].items():
        kept[user] = [
            {"id": m.id, "custom_id": m.custom_id, "content": m.content, "created_at": m.created_at}
            async for m in store.export(user)
        ]
        assert kept[user] == memories, user
    contents = {m["id"]: m["content"] for memories in kept.values() for m in memories}
    upgraded = [await ranked(store, asked) for asked in expected["top5"]]
    for (question, found), asked in zip(upgraded, expected["top5"], strict=True):
        then = [contents[memory_id] for memory_id in asked["ids"]]
        assert (found[0], sorted(found)) == (then[0], sorted(then)), question  # the release's five, its first
    for user, memories in kept.items():
        await store.forget(user)
        await store.add_batch([written_anew(user, memory) for memory in memories])
    assert upgraded == [await ranked(store, asked) for asked in expected["top5"]]


def written_anew(user: str, memory: dict[str, Any]) -> NewMemory:
    return NewMemory(user, memory["content"], custom_id=memory["custom_id"], created_at=memory["created_at"])


async def ranked(store: Any, asked: dict[str, Any]) -> tuple[str, list[str]]:
    """A question and the contents of the first five memories it recalls (ids change when written anew)."""
    found = await store.search(asked["user"], asked["question"], limit=5)
    return asked["question"], [record.content for record in found]


@pytest.mark.parametrize("release", ["0.5.0"])
async def test_a_store_of_an_earlier_release_is_kept_whole_and_ranks_alike(tmp_path, loader, release):
    written = FIXTURES / f"local-{release}"
    expected = json.loads((written / "expected.json").read_text())
    path = tmp_path / "memory.sqlite3"
    shutil.copy(written / "memory.sqlite3", path)
    store = LocalMemoryStore(path, semantic=loader)
    try:
        await store.open()
        await holds_and_ranks_as_written(store, expected)
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM vectors").fetchone()[0] == expected["vectors"]
        per_namespace = conn.execute("SELECT name FROM sqlite_master WHERE name GLOB 'fts_*'").fetchall()
        assert per_namespace == []  # the one shared index replaced them


@pytest.mark.parametrize("release", ["0.5.0"])
async def test_a_postgresql_database_of_an_earlier_release_is_kept_whole_and_ranks_alike(
    postgres_database, loader, release
):
    """The same for PostgreSQL: the schema 0.5.0 made, dumped with its rows, loaded into an empty database."""
    import psycopg

    from proxy.memory.stores.postgres.store import PostgresMemoryStore

    written = FIXTURES / f"postgres-{release}"
    expected = json.loads((written / "expected.json").read_text())
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute((written / "dump.sql").read_text())
    store = PostgresMemoryStore(postgres_database, semantic=loader)
    try:
        await store.open()
        await holds_and_ranks_as_written(store, expected)
    finally:
        await store.close()
    with psycopg.connect(postgres_database) as conn:
        [(vectors,)] = conn.execute("SELECT count(*) FROM memory_proxy.memories WHERE embedding IS NOT NULL")
    assert vectors == expected["vectors"]
