"""The PostgreSQL memory store on a real server (pgvector): namespaces no method crosses, upserts, recall
by words and by meaning, batches that are all or nothing, a schema that two processes can create at once,
and a password that never shows.

Each test gets a database of its own (:mod:`conformance.postgres`); effects are checked through a backdoor
(a plain psycopg connection) where the store's own answer could hide a fault.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import sys
import threading
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import psycopg
import pytest

from bench.memory_data import filler
from bench.memory_postgres import seed_filler
from conformance.suites.store import FILLER, StoreSuite
from proxy.config import ContextRetrieval
from proxy.memory.recall.embeddings import EncoderLoader
from proxy.memory.service import MemoryService
from proxy.memory.stores.base import MemoryStoreError, NewMemory
from proxy.memory.stores.postgres import store as postgres_store
from proxy.memory.stores.postgres.schema import MEMORIES, SCHEMA_VERSION
from proxy.memory.stores.postgres.store import PostgresMemoryStore

VOLVO = "I drive a red Volvo"
PASSWORD = "hunter2-" + secrets.token_hex(8)

needs_model = pytest.mark.usefixtures("embedding_model_dir")


@pytest.fixture
async def store(postgres_database: str) -> AsyncIterator[PostgresMemoryStore]:
    opened = PostgresMemoryStore(postgres_database)
    await opened.open()
    yield opened
    await opened.close()


@pytest.fixture(scope="module")
def loader(embedding_model_dir: Path) -> EncoderLoader:
    loaded = EncoderLoader()
    assert loaded.wait(timeout=60) is not None, loaded.status
    return loaded


@pytest.fixture
async def semantic_store(postgres_database: str, loader: EncoderLoader) -> AsyncIterator[PostgresMemoryStore]:
    opened = PostgresMemoryStore(postgres_database, semantic=loader)
    yield opened
    await opened.close()


class TestPostgresStore(StoreSuite):
    """The store contract, on a database of each test's own."""

    @pytest.fixture
    async def store(self, postgres_database: str) -> AsyncIterator[PostgresMemoryStore]:
        opened = PostgresMemoryStore(postgres_database)
        await opened.open()
        yield opened
        await opened.close()


def backdoor(dsn: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(statement, params).fetchall()


def _contents(records: list[Any]) -> list[str]:
    return [record.content for record in records]


async def test_no_method_changes_another_clients_rows(
    store: PostgresMemoryStore, postgres_database: str
) -> None:
    """The contract's cross-client test, then a look past the store: the table holds alice's row alone."""
    await TestPostgresStore().test_no_method_reads_or_changes_another_clients_memories(store)
    [vault] = await store.list("alice")
    rows = backdoor(postgres_database, f"SELECT id, user_id, content FROM {MEMORIES}")
    assert rows == [(vault.id, "alice", "the vault code is 8812")]


async def test_a_nul_in_what_is_stored_does_not_fail_the_write(store: PostgresMemoryStore) -> None:
    """PostgreSQL's text cannot hold NUL (SQLite's can): it is stored as U+FFFD instead of failing."""
    await store.add("alice", "before\x00after", metadata={"note": "a\x00b"})
    [record] = await store.list("alice")
    assert (record.content, record.metadata) == ("before\ufffdafter", {"note": "a\x00b"})


async def test_a_batch_is_one_transaction(store: PostgresMemoryStore, postgres_database: str) -> None:
    good = [NewMemory("alice", "first of the batch"), NewMemory("bob", "second of the batch")]
    # A custom id far past what a b-tree index entry can hold: the database refuses that one row.
    refused = NewMemory("alice", "refused", custom_id=secrets.token_hex(50_000))

    with pytest.raises(MemoryStoreError, match="PostgreSQL memory store"):
        await store.add_batch([*good, refused])
    assert backdoor(postgres_database, f"SELECT count(*) FROM {MEMORIES}") == [(0,)]

    ids = await store.add_batch([*good, NewMemory("alice", "again", custom_id="x")])
    assert len(set(ids)) == 3
    assert backdoor(postgres_database, f"SELECT id, content FROM {MEMORIES} ORDER BY seq") == [
        (ids[0], "first of the batch"),
        (ids[1], "second of the batch"),
        (ids[2], "again"),
    ]


async def test_the_schema_is_made_once_when_stores_open_together(postgres_database: str) -> None:
    stores = [PostgresMemoryStore(postgres_database) for _ in range(4)]
    try:
        await asyncio.gather(*(store.open() for store in stores))
        await stores[0].add("alice", "written after the race")
        again = PostgresMemoryStore(postgres_database)  # a restart: the schema is current
        await again.open()
        stores.append(again)
        assert _contents(await again.list("alice")) == ["written after the race"]
    finally:
        await asyncio.gather(*(store.close() for store in stores))
    versions = backdoor(postgres_database, "SELECT version FROM memory_proxy.schema_version")
    assert versions == [(SCHEMA_VERSION,)]


async def test_a_database_migrated_by_a_newer_proxy_is_refused(postgres_database: str) -> None:
    first = PostgresMemoryStore(postgres_database)
    await first.open()
    await first.close()
    with psycopg.connect(postgres_database) as conn:
        conn.execute("INSERT INTO memory_proxy.schema_version (version) VALUES (%s)", (SCHEMA_VERSION + 1,))
    newer = PostgresMemoryStore(postgres_database)
    with pytest.raises(MemoryStoreError, match="newer than this proxy's"):
        await newer.open()
    await newer.close()


async def test_a_database_that_goes_away_is_a_memory_store_error(
    postgres_server: str, postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres_store, "POOL_TIMEOUT", 0.2)  # how long a call waits for a connection
    store = PostgresMemoryStore(postgres_database)
    await store.add("alice", "remember me")
    name = psycopg.conninfo.conninfo_to_dict(postgres_database)["dbname"]
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(psycopg.sql.SQL("DROP DATABASE {} WITH (FORCE)").format(psycopg.sql.Identifier(name)))
    try:
        with pytest.raises(MemoryStoreError) as caught:
            await store.search("alice", "remember")
        assert "\n" not in str(caught.value)  # it may become a header
    finally:
        await store.close()


async def test_the_password_never_shows(unreachable_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """In errors, the status endpoint, readiness and reprs: a URI's password and a key/value one."""
    port = urlsplit(unreachable_url).port
    for dsn in (
        f"postgresql://memory:{PASSWORD}@127.0.0.1:{port}/memory",
        f"host=127.0.0.1 port={port} user=memory password={PASSWORD} connect_timeout",  # malformed
    ):
        settings = ContextRetrieval(provider="postgres", dsn=dsn)
        service = MemoryService(settings)
        await service.start()
        problem = await service.problem()
        shown = [problem, json.dumps(service.status()), repr(service.store), repr(settings), caplog.text]
        await service.close()
        assert problem is not None and problem.startswith("PostgreSQL memory store: ")
        assert all(PASSWORD not in text for text in shown), shown


def test_open_store_makes_it_and_the_driver_is_imported_only_when_it_connects() -> None:
    """Another provider's proxy never needs psycopg installed; this one's needs it only to connect."""
    check = (
        "import sys; from proxy.config import ContextRetrieval; from proxy.memory.service import open_store; "
        "store = open_store(ContextRetrieval(provider='postgres', dsn='postgresql://m@db/m')); "
        "assert type(store).__name__ == 'PostgresMemoryStore', store; "
        "assert not [m for m in sys.modules if m.startswith('psycopg')]"
    )
    subprocess.run([sys.executable, "-c", check], check=True)


class FakeEncoder:
    """Vectors made to measure: "question" is one axis; "close N" memories lie at cosine ~0.95 to it,
    "far N" ones at ~0.8 (each with a direction of its own)."""

    name = "fake"
    dimensions = 384

    def encode(self, texts: list[str], *, max_tokens: int = 256) -> np.ndarray:
        axis = np.eye(self.dimensions, dtype=np.float32)[0]
        vectors = []
        for text in texts:
            if text == "question":
                vectors.append(axis)
                continue
            own = np.random.default_rng(zlib.crc32(text.encode())).normal(size=self.dimensions)
            own[0] = 0
            cosine = 0.95 if text.startswith("close") else 0.8
            vectors.append(cosine * axis + np.sqrt(1 - cosine**2) * own / np.linalg.norm(own))
        return np.array(vectors, dtype=np.float32)


class FakeLoader(EncoderLoader):
    def _load(self) -> None:
        self._encoder = FakeEncoder()  # type: ignore[assignment]
        self._status = None
        self._done.set()


async def test_a_client_with_a_small_share_of_the_table_still_gets_its_nearest(
    postgres_database: str,
) -> None:
    """The HNSW index filters by client after finding the nearest vectors of all clients: when those are
    another client's, this client's are compared in full instead of recalling fewer (or none).

    The planner is steered to the index as it would be on a large table (on a few hundred rows it reads
    the client's rows by its user_id index, which hides the problem).
    """
    on_the_index = "-c enable_seqscan=off -c enable_bitmapscan=off -c enable_sort=off"
    dsn = psycopg.conninfo.make_conninfo(postgres_database, options=on_the_index)
    store = PostgresMemoryStore(dsn, semantic=FakeLoader())
    try:
        await store.wait_for_model(10)
        await store.add_batch([NewMemory("big", f"close {n}") for n in range(300)])
        await store.add_batch([NewMemory("small", f"far {n}") for n in range(3)])

        found = await store.search("small", "question", limit=5)

        assert sorted(_contents(found)) == ["far 0", "far 1", "far 2"]
        assert {record.signal for record in found} == {"meaning"}
        assert len(await store.search("big", "question", limit=5)) == 5
    finally:
        await store.close()


# Recall by meaning (the embedding model installed).


@needs_model
async def test_a_question_in_other_words_is_recalled_by_meaning(semantic_store: PostgresMemoryStore) -> None:
    await semantic_store.add_batch([NewMemory("alice", text) for text in filler(30)])
    await semantic_store.add("alice", VOLVO)

    [found, *_] = await semantic_store.search("alice", "What car do I own?")

    assert (found.content, found.signal) == (VOLVO, "meaning")
    assert found.score > 0.35
    assert await semantic_store.search("alice", "How long should sourdough proof overnight?") == []


@needs_model
async def test_meaning_never_crosses_clients_nor_recalls_the_forgotten(
    semantic_store: PostgresMemoryStore,
) -> None:
    await semantic_store.add("bob", VOLVO)
    volvo = await semantic_store.add("alice", VOLVO)
    await semantic_store.add_batch([NewMemory("alice", text) for text in FILLER])

    assert await semantic_store.forget("alice", volvo) == 1
    assert VOLVO not in _contents(await semantic_store.search("alice", "What car do I own?"))
    assert _contents(await semantic_store.search("bob", "What car do I own?")) == [VOLVO]


@needs_model
async def test_a_changed_memory_is_recalled_by_its_new_meaning(semantic_store: PostgresMemoryStore) -> None:
    await semantic_store.add("alice", "I drive a red Volvo", custom_id="car")
    await semantic_store.add("alice", "My dog is a golden retriever", custom_id="car")

    assert _contents(await semantic_store.search("alice", "What car do I own?")) == []
    [found] = await semantic_store.search("alice", "What kind of pet do I have?")
    assert (found.content, found.signal) == ("My dog is a golden retriever", "meaning")


@needs_model
async def test_while_the_model_loads_recall_is_by_words_then_older_memories_get_vectors(
    postgres_database: str,
) -> None:
    release = threading.Event()

    class SlowLoader(EncoderLoader):
        def _load(self) -> None:
            release.wait(timeout=30)
            super()._load()

    store = PostgresMemoryStore(postgres_database, semantic=SlowLoader())
    try:
        await store.add("alice", "my favourite colour is teal")
        await store.add("alice", VOLVO)
        assert store.recall_mode == "by words only: the embedding model is still loading"
        assert [r.signal for r in await store.search("alice", "favourite colour")] == ["words"]
        assert await store.search("alice", "What car do I own?") == []
        without = f"SELECT count(*) FROM {MEMORIES} WHERE embedding IS NULL"
        assert backdoor(postgres_database, without) == [(2,)]

        release.set()
        await store.wait_for_model(30)
        assert store.recall_mode is None
        for _ in range(100):  # the first call that sees the model starts the background embedding
            found = await store.search("alice", "What car do I own?")
            if found:
                break
            await asyncio.sleep(0.05)
        assert (found[0].content, found[0].signal) == (VOLVO, "meaning")
        assert backdoor(postgres_database, without) == [(0,)]
    finally:
        release.set()
        await store.close()


async def test_the_conversation_ledger_is_shared_through_the_database(
    postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two hosts' ledgers on one database: what one served, the other finds by its longest prefix; the
    table is made beside the memories without a new schema version (an older proxy runs beside it)."""
    from proxy.memory.conversations import Conversation, Pin, prefix_hashes
    from proxy.memory.shared_ledger import StoreLedger

    one, other = PostgresMemoryStore(postgres_database), PostgresMemoryStore(postgres_database)
    await one.open()
    await other.open()
    try:
        hashes = prefix_hashes("ns", [{"role": "user", "content": f"turn {n}"} for n in range(5)])
        served = Conversation(pins=(Pin("- the deploy key rotates on Fridays", 0, "prefix"),))
        writer, reader = StoreLedger(one, max_entries=3), StoreLedger(other)
        writer.save(hashes[2], served)
        await writer.close()  # the write is in
        assert await reader.find(hashes[:4]) == (2, served)
        assert await reader.find(hashes[:2]) is None
        monkeypatch.setattr("proxy.memory.shared_ledger.PRUNE_EVERY", 4)
        for n in range(8):  # writes 2-9: the 5th and the 9th prune to the newest 3
            writer.save(bytes([n]) * 32, served)
            await writer.close()
        [(count,)] = backdoor(postgres_database, "SELECT count(*) FROM memory_proxy.conversations")
        assert count == 3
        assert await reader.find([bytes([7]) * 32]) == (0, served)  # the newest are the ones kept
        [(version,)] = backdoor(postgres_database, "SELECT max(version) FROM memory_proxy.schema_version")
        assert version == SCHEMA_VERSION == 1
    finally:
        await one.close()
        await other.close()


async def test_request_records_are_kept_for_every_host_the_newest_only(store: PostgresMemoryStore) -> None:
    for n in range(7):
        await store.keep_request(json.dumps({"n": n}), f"client-{n % 3}", float(n), prune=None)
    await store.keep_request(json.dumps({"n": 7}), "client-9", 7.0, prune=(4, 2))
    newest = await store.requests(100)
    assert [json.loads(text)["n"] for _, text in newest] == [7, 6, 5, 4]
    assert await store.requests(1, newest[-1][0]) == [newest[-1]]
    assert await store.clients_seen() == {"client-9": 7.0, "client-0": 6.0}


@needs_model
async def test_recall_by_meaning_asks_the_index_for_every_candidate_it_fuses(
    semantic_store: PostgresMemoryStore, postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pgvector's HNSW search returns at most ``hnsw.ef_search`` rows (40 by default): asked for more, it
    always came back short and recall compared every vector of the client instead (40 ms at 10,000)."""
    await semantic_store.add("alice", VOLVO)  # the schema, and the model's name on a vector
    [(model,)] = backdoor(postgres_database, f"SELECT embedded_by FROM {MEMORIES} LIMIT 1")
    seed_filler(postgres_database, "alice", filler(2_000), model)  # enough rows for the planner to use it
    monkeypatch.setattr(postgres_store, "MEANING_EXACT", "SELECT 1 / 0")  # the full comparison fails

    [found, *_] = await semantic_store.search("alice", "What car do I own?")
    assert found.content == VOLVO
