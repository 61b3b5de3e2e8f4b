"""The embedded SQLite memory store: namespaces, relevance, hostile queries, restarts, concurrent writers.

Effects are checked through a backdoor (a plain sqlite3 connection to the file) where the store's own
answer could hide a fault, as zarr's store tests do.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from conformance.suites.store import FILLER, StoreSuite
from proxy.memory.recall import lexical
from proxy.memory.recall.lexical import ranked_by_words
from proxy.memory.stores.base import MemoryStoreError
from proxy.memory.stores.local import schema
from proxy.memory.stores.local.schema import SCHEMA_VERSION, WORDS, namespace, own_index_table
from proxy.memory.stores.local.store import (
    _EXPORT_LATER,
    _EXPORT_NEXT_USERS,
    _EXPORT_SAME_MOMENT,
    _NEIGHBOURS,
    READERS,
    LocalMemoryStore,
    default_path,
    match_expression,
    query_terms,
)


@pytest.fixture(params=["in-memory", "file"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[LocalMemoryStore]:
    """Both kinds: an in-memory store uses one connection, a file store reads on pooled connections."""
    memory = LocalMemoryStore(":memory:" if request.param == "in-memory" else tmp_path / "memory.sqlite3")
    yield memory
    await memory.close()


class TestLocalStore(StoreSuite):
    """The store contract, in memory (one connection) and in a file (readers pooled beside the writer)."""

    @pytest.fixture(params=["in-memory", "file"])
    async def store(self, request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[LocalMemoryStore]:
        memory = LocalMemoryStore(":memory:" if request.param == "in-memory" else tmp_path / "memory.sqlite3")
        yield memory
        await memory.close()


async def counts(store: LocalMemoryStore) -> list[tuple[str, int]]:
    return [(client.user_id, client.memories) for client in await store.users()]


def _contents(records: list[Any]) -> list[str]:
    return [record.content for record in records]


async def test_a_long_query_searches_with_its_rarest_words_only(store: LocalMemoryStore) -> None:
    for n in range(12):
        await store.add("alice", f"codeword{n} appears here")

    found = await store.search("alice", " ".join(f"codeword{n}" for n in range(12)), limit=50)

    assert len(found) == 6


@pytest.mark.parametrize(
    ("exact", "own_index_at"),
    [(lexical.EXACT_HITS, schema.OWN_INDEX_AT), (0, schema.OWN_INDEX_AT), (lexical.EXACT_HITS, 5)],
    ids=["all-at-once", "candidates-first", "own-index"],
)
async def test_a_namespace_is_ranked_by_bm25_as_fts5_would_rank_it_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exact: int, own_index_at: int
) -> None:
    """The shared index ranks a namespace with its own statistics: scores equal FTS5's bm25() over an
    index holding that namespace's memories only, whatever another namespace holds; so do they when the
    matches are many and the best candidates are picked first in SQL, and in a large namespace's own
    index."""
    monkeypatch.setattr(lexical, "EXACT_HITS", exact)
    monkeypatch.setattr(schema, "OWN_INDEX_AT", own_index_at)
    texts = [
        "the deploy runs on kubernetes, deploys twice a day",
        "deploy keys live in vault",
        "kubernetes kubernetes kubernetes cluster notes for the platform team meeting",
        "lunch is at noon",
        "vault unseal keys are split between three people",
        "a control character \x01 beside deploy does not count as a deploy",
    ]
    store = LocalMemoryStore(tmp_path / "memory.sqlite3")
    try:
        await store.add_many("alice", texts)
        await store.add_many("bob", [f"deploy kubernetes vault {n}" for n in range(40)])
    finally:
        await store.close()
    alone = sqlite3.connect(":memory:")
    alone.execute(
        "CREATE VIRTUAL TABLE t USING fts5 (content, tokenize = 'porter unicode61 remove_diacritics 2')"
    )
    with sqlite3.connect(tmp_path / "memory.sqlite3") as conn:
        rows = conn.execute("SELECT rowid, content FROM memories WHERE user_id = 'alice'").fetchall()
        alone.executemany("INSERT INTO t (rowid, content) VALUES (?, ?)", rows)
        space = namespace(conn, "alice")
        assert space is not None
        assert space.own_index == (own_index_at == 5)
        for terms in (["deploy"], ["deploy", "kubernetes", "vault"], ["keys", "noon"]):
            held = {
                t: alone.execute("SELECT count(*) FROM t WHERE t MATCH ?", (t,)).fetchone()[0] for t in terms
            }
            ours = ranked_by_words(conn, space.table, space.filter, (space.size, space.tokens), held, 10)
            theirs = alone.execute(
                "SELECT rowid, -bm25(t) FROM t WHERE t MATCH ? ORDER BY bm25(t), rowid",
                (match_expression(terms),),
            ).fetchall()
            assert [rowid for rowid, _ in ours] == [rowid for rowid, _ in theirs], terms
            assert [score for _, score in ours] == pytest.approx([score for _, score in theirs]), terms


async def test_a_namespace_that_grows_large_moves_to_an_index_of_its_own_and_ranks_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past OWN_INDEX_AT a namespace's memories leave the shared index for one of their own (FTS5 ranks
    there itself, faster): the same memories found in the same order, forgetting still works, and the
    shared index keeps every other namespace's and none of its."""
    monkeypatch.setattr(schema, "OWN_INDEX_AT", 8)
    path = tmp_path / "memory.sqlite3"
    texts = [f"note {n}: the deploy {'runs' if n % 3 else 'fails'} on host{n % 4}" for n in range(7)]
    store = LocalMemoryStore(path)
    try:
        await store.add_many("alice", texts)
        await store.add_many("bob", ["the deploy is bob's", "bob deploys on fridays"])
        before = [r.content for r in await store.search("alice", "deploy fails host1", limit=5)]
        await store.add("alice", "a lunch note with no shared word")  # the eighth: over the line
        after = [r.content for r in await store.search("alice", "deploy fails host1", limit=5)]
        gone = next(r for r in await store.search("alice", "fails", limit=10))
        assert await store.forget("alice", gone.id) == 1
        left = [r.content for r in await store.search("alice", "fails", limit=10)]
        bobs = [r.content for r in await store.search("bob", "deploy", limit=5)]
    finally:
        await store.close()
    assert after == before and len(before) == 5
    assert gone.content not in left and len(left) == 2
    assert sorted(bobs) == sorted(["the deploy is bob's", "bob deploys on fridays"])
    with sqlite3.connect(path) as backdoor:
        alice, bob = (namespace(backdoor, user) for user in ("alice", "bob"))
        assert alice is not None and bob is not None
        assert (alice.own_index, bob.own_index) == (True, False)
        table = own_index_table(alice.id)
        for index in (WORDS, table):
            backdoor.execute(f"INSERT INTO {index} ({index}) VALUES ('integrity-check')")
        count = f"SELECT count(*) FROM {WORDS} WHERE {WORDS} MATCH ?"
        assert backdoor.execute(count, (f'space : "{alice.id}"',)).fetchone() == (0,)
        assert backdoor.execute(count, (f'space : "{bob.id}"',)).fetchone() == (2,)
        assert backdoor.execute(f"SELECT count(*) FROM {table} WHERE {table} MATCH 'note'").fetchone() == (
            7,
        )  # 6 notes left, and lunch's


async def test_a_version_3_file_keeps_every_memory_and_moves_a_large_namespace_at_its_next_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "memory.sqlite3"
    store = LocalMemoryStore(path)
    try:
        await store.add_many("alice", [f"release note {n} for the billing service" for n in range(9)])
    finally:
        await store.close()
    with sqlite3.connect(path) as backdoor:  # as 0.8.0 wrote it: no own_index column, version 3
        backdoor.execute("ALTER TABLE namespaces DROP COLUMN own_index")
        backdoor.execute("PRAGMA user_version = 3")
    monkeypatch.setattr(schema, "OWN_INDEX_AT", 5)
    store = LocalMemoryStore(path)
    try:
        found_in_shared = await store.search("alice", "billing", limit=20)
        await store.add("alice", "one more billing note")
        found_in_own = await store.search("alice", "billing", limit=20)
    finally:
        await store.close()
    assert len(found_in_shared) == 9 and len(found_in_own) == 10
    with sqlite3.connect(path) as backdoor:
        assert backdoor.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        alice = namespace(backdoor, "alice")
        assert alice is not None and alice.own_index


async def test_the_schema_stays_the_same_size_however_many_namespaces(tmp_path: Path) -> None:
    """Namespaces are rows, not tables: a file's schema (what every new connection parses) is as small
    with 200 namespaces as with one."""
    path = tmp_path / "memory.sqlite3"
    store = LocalMemoryStore(path)
    try:
        await store.add("one", "a memory")
        with sqlite3.connect(path) as conn:
            entries = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        for n in range(200):
            await store.add(f"project:p{n}", f"memory number {n}")
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == entries
        assert len(await store.users()) == 201
        assert _contents(await store.search("project:p7", "memory number 7")) == ["memory number 7"]
    finally:
        await store.close()


def test_query_terms_are_quoted_words_without_stopwords_or_syntax() -> None:
    terms = query_terms('What\'s my "favourite" COLOUR? colour AND (x) NEAR*')

    assert terms == ["favourite", "colour", "x", "near"]
    assert match_expression(terms) == '"favourite" OR "colour" OR "x" OR "near"'
    assert match_expression(['a"b']) == '"a""b"'
    assert len(query_terms(" ".join(f"w{n}" for n in range(100)))) == 32


async def test_many_concurrent_calls_from_one_event_loop(store: LocalMemoryStore) -> None:
    """Calls overlapping on one loop share one connection safely (worker threads behind a lock)."""
    writes = [store.add(f"user{n % 4}", f"parallel note {n} about otters") for n in range(80)]
    reads = [store.search(f"user{n % 4}", "otters") for n in range(20)]

    results = await asyncio.gather(*writes, *reads)

    assert len(set(results[:80])) == 80
    assert await counts(store) == [(f"user{n}", 20) for n in range(4)]


async def test_survives_a_reopen_of_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "there" / "memory.sqlite3"
    first = LocalMemoryStore(path)
    kept = await first.add("alice", "my favourite colour is teal", metadata={"source": "test"})
    await first.add("bob", "bob prefers green")
    await first.close()

    second = LocalMemoryStore(str(path))
    try:
        found = await second.search("alice", "favourite colour")
        assert [(record.id, record.metadata) for record in found] == [(kept, {"source": "test"})]
        assert await counts(second) == [("alice", 1), ("bob", 1)]
    finally:
        await second.close()
    with sqlite3.connect(path) as backdoor:
        assert backdoor.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_close_is_idempotent_and_a_closed_store_refuses_work(tmp_path: Path) -> None:
    store = LocalMemoryStore(tmp_path / "memory.sqlite3")
    await store.add("alice", "something")

    await store.close()
    await store.close()

    with pytest.raises(MemoryStoreError, match="closed"):
        await store.search("alice", "something")


async def test_a_recall_never_waits_behind_a_write(tmp_path: Path) -> None:
    """Reads use their own connections: a write holding the writer (a slow write-back) delays no recall."""
    store = LocalMemoryStore(tmp_path / "memory.sqlite3")
    await store.add("alice", "my favourite colour is teal")
    try:
        with store._lock:  # what a write in progress holds
            found = await asyncio.wait_for(store.search("alice", "favourite colour"), timeout=5)
        assert _contents(found) == ["my favourite colour is teal"]
    finally:
        await store.close()


async def test_concurrent_recalls_share_a_few_connections_and_close_them(tmp_path: Path) -> None:
    store = LocalMemoryStore(tmp_path / "memory.sqlite3")
    for text in [*FILLER, "my favourite colour is teal"]:
        await store.add("alice", text)
    results = await asyncio.gather(*(store.search("alice", "favourite colour") for _ in range(40)))
    assert all(_contents(found) == ["my favourite colour is teal"] for found in results)
    readers = list(store._idle_readers)
    assert 1 <= len(readers) <= READERS
    await store.close()
    with pytest.raises(sqlite3.ProgrammingError):  # closed with the store
        readers[0].execute("SELECT 1")
    with pytest.raises(MemoryStoreError, match="closed"):
        await store.search("alice", "colour")


async def test_reads_past_the_pool_wait_for_a_connection_instead_of_opening_more(tmp_path: Path) -> None:
    """Every open connection keeps descriptors and a page cache: a burst must not leave a bigger pool."""
    store = LocalMemoryStore(tmp_path / "memory.sqlite3")
    await store.add("alice", "my favourite colour is teal")
    busy: set[int] = set()
    most = 0
    guard = threading.Lock()

    def slow_read(conn: sqlite3.Connection) -> int:
        nonlocal most
        with guard:
            busy.add(id(conn))
            most = max(most, len(busy))
        time.sleep(0.05)
        with guard:
            busy.discard(id(conn))
        return conn.execute("SELECT count(*) FROM memories").fetchone()[0]

    try:
        counts = await asyncio.gather(*(store._read(slow_read) for _ in range(READERS * 3)))
        assert counts == [1] * (READERS * 3)
        assert most == READERS
        assert len(store._idle_readers) == READERS
    finally:
        await store.close()


async def test_a_reader_that_failed_mid_transaction_is_not_reused(tmp_path: Path) -> None:
    """A pooled connection left inside a transaction would answer every later recall from a stale snapshot."""
    store = LocalMemoryStore(tmp_path / "memory.sqlite3")
    await store.add("alice", "first note about falcons")

    def fails_inside_a_transaction(conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN")
        conn.execute("SELECT count(*) FROM memories").fetchone()  # the snapshot is taken here
        conn.execute("SELECT * FROM no_such_table")

    try:
        with pytest.raises(MemoryStoreError, match="no_such_table"):
            await store._read(fails_inside_a_transaction)
        assert store._idle_readers == []
        await store.add("alice", "second note about falcons")
        assert len(await store.search("alice", "falcons")) == 2
    finally:
        await store.close()


async def test_a_reader_left_inside_a_transaction_is_not_reused(tmp_path: Path) -> None:
    store = LocalMemoryStore(tmp_path / "memory.sqlite3")
    await store.add("alice", "first note about falcons")

    def leaves_a_transaction_open(conn: sqlite3.Connection) -> int:
        conn.execute("BEGIN")
        return conn.execute("SELECT count(*) FROM memories").fetchone()[0]

    try:
        assert await store._read(leaves_a_transaction_open) == 1
        assert store._idle_readers == []
    finally:
        await store.close()


async def test_a_recall_sees_a_write_that_finished_before_it(tmp_path: Path) -> None:
    """WAL readers see every committed write: a pooled reader never answers from an old snapshot."""
    store = LocalMemoryStore(tmp_path / "memory.sqlite3")
    try:
        await store.add("alice", "first note about falcons")
        assert len(await store.search("alice", "falcons")) == 1
        await store.add("alice", "second note about falcons")
        assert len(await store.search("alice", "falcons")) == 2
    finally:
        await store.close()


async def test_closing_an_unused_store_creates_no_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "memory.sqlite3"
    await LocalMemoryStore(path).close()

    assert not path.parent.exists()


def test_default_path_follows_xdg_data_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    expected = tmp_path / "litellm-memory-proxy" / "memory.sqlite3"
    assert default_path() == expected
    assert LocalMemoryStore().path == str(expected)

    monkeypatch.setenv("XDG_DATA_HOME", "relative/dir")  # the XDG spec says: ignore it
    assert default_path() == Path.home() / ".local" / "share" / "litellm-memory-proxy" / "memory.sqlite3"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_path() == Path.home() / ".local" / "share" / "litellm-memory-proxy" / "memory.sqlite3"


WRITERS = 3
WRITES_EACH = 200


def _write_many(path: str, user_id: str, start: Any, errors: Any) -> None:
    """One proxy-like process: opens the (maybe new) file and adds memories one transaction at a time."""

    async def run() -> None:
        store = LocalMemoryStore(path)
        try:
            for n in range(WRITES_EACH):
                await store.add(user_id, f"note {n} from {user_id} about the shared file")
                if n % 50 == 0:
                    await store.search(user_id, "shared file")
        finally:
            await store.close()

    try:
        start.wait(timeout=60)
        asyncio.run(run())
    except BaseException as exc:
        errors.put(f"{user_id}: {type(exc).__name__}: {exc}")
        raise


def test_several_processes_write_the_same_new_file_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writers in separate processes, released together on a file none created yet, lose nothing."""
    # A spawned child imports this module by its name to find _write_many, and inherits sys.path:
    # put the directory that name is relative to on it, wherever pytest was started from.
    monkeypatch.syspath_prepend(str(Path(__file__).parents[__name__.count(".")]))
    path = str(tmp_path / "shared" / "memory.sqlite3")
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(WRITERS)
    errors = context.Queue()
    processes = [
        context.Process(target=_write_many, args=(path, f"proc{n}", start, errors)) for n in range(WRITERS)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)

    reported = [errors.get(timeout=1) for _ in range(errors.qsize())] if not errors.empty() else []
    assert reported == []
    assert [process.exitcode for process in processes] == [0] * WRITERS
    with sqlite3.connect(path) as backdoor:
        counts = backdoor.execute("SELECT user_id, count(*) FROM memories GROUP BY user_id").fetchall()
        assert sorted(counts) == [(f"proc{n}", WRITES_EACH) for n in range(WRITERS)]
        assert backdoor.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        namespaces = backdoor.execute("SELECT id, user_id, size, tokens FROM namespaces").fetchall()
        assert sorted((user, size) for _, user, size, _ in namespaces) == sorted(counts)
        backdoor.execute(f"INSERT INTO {WORDS} ({WORDS}) VALUES ('integrity-check')")
        for space, _, _, tokens in namespaces:  # the index holds each client's memories once, counted once
            indexed = backdoor.execute(
                f"SELECT count(*) FROM {WORDS} WHERE {WORDS} MATCH ?", (f'space : "{space}" AND shared',)
            )
            assert indexed.fetchone()[0] == WRITES_EACH
            words = backdoor.execute("SELECT sum(tokens) FROM memories WHERE space = ?", (space,))
            assert words.fetchone()[0] == tokens


async def test_a_version_1_file_is_migrated_with_every_memory_kept(tmp_path: Path) -> None:
    """Version 1 kept one index for all clients and no namespaces; opening such a file gives them theirs."""
    path = tmp_path / "memory.sqlite3"
    with sqlite3.connect(path) as old:
        for statement in VERSION_1_SCHEMA:
            old.execute(statement)
        for n, (user, text) in enumerate(
            [("alice", "my favourite colour is teal"), ("bob", "teal is boring")]
        ):
            old.execute(
                "INSERT INTO memories (id, user_id, content, created_at) VALUES (?, ?, ?, ?)",
                (f"id{n}", user, text, n),
            )
    store = LocalMemoryStore(path)
    try:
        assert _contents(await store.search("alice", "favourite colour teal")) == [
            "my favourite colour is teal"
        ]
        assert _contents(await store.search("bob", "teal")) == ["teal is boring"]
        assert await counts(store) == [("alice", 1), ("bob", 1)]
    finally:
        await store.close()
    with sqlite3.connect(path) as backdoor:
        assert backdoor.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert backdoor.execute("SELECT name FROM sqlite_master WHERE name = 'memories_fts'").fetchall() == []


async def test_memories_an_older_release_writes_beside_this_one_are_indexed_and_forgotten_cleanly(
    tmp_path: Path,
) -> None:
    """An older proxy still running on the file writes memories with no namespace and no index entry:
    one written while this store runs can be forgotten without harming the index, and the next store to
    open the file indexes the others."""
    path = tmp_path / "memory.sqlite3"
    store = LocalMemoryStore(path)
    await store.add("alice", "the first memory about parsnips")

    def older_release_writes(text: str) -> None:
        with sqlite3.connect(path) as old:
            old.execute(
                "INSERT INTO memories (id, user_id, content, created_at) VALUES (?, 'alice', ?, 0)",
                (text[:8], text),
            )

    older_release_writes("gone soon: turnips")
    assert await store.forget("alice") == 2
    await store.add("alice", "parsnips again")
    older_release_writes("unseen carrots")
    await store.close()
    reopened = LocalMemoryStore(path)
    try:
        assert _contents(await reopened.search("alice", "carrots")) == ["unseen carrots"]
        assert _contents(await reopened.search("alice", "parsnips")) == ["parsnips again"]
    finally:
        await reopened.close()
    with sqlite3.connect(path) as backdoor:
        backdoor.execute(f"INSERT INTO {WORDS} ({WORDS}) VALUES ('integrity-check')")
        assert backdoor.execute("SELECT size, tokens FROM namespaces WHERE user_id = 'alice'").fetchone() == (
            2,
            4,
        )


VERSION_1_SCHEMA = (
    """CREATE TABLE memories (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL,
        custom_id TEXT, content TEXT NOT NULL, metadata TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL)""",
    """CREATE VIRTUAL TABLE memories_fts USING fts5 (content, content = 'memories', content_rowid = 'rowid',
        tokenize = 'porter unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER memories_ai AFTER INSERT ON memories BEGIN
        INSERT INTO memories_fts (rowid, content) VALUES (new.rowid, new.content); END""",
)


async def test_add_many_writes_one_transaction_searchable_as_single_adds(store: LocalMemoryStore) -> None:
    ids = await store.add_many(
        "alice", [*FILLER, "my favourite colour is teal"], metadata={"source": "import"}
    )
    assert len(set(ids)) == len(FILLER) + 1
    [found] = await store.search("alice", "favourite colour")
    assert (found.id, found.metadata) == (ids[-1], {"source": "import"})
    assert await counts(store) == [("alice", len(FILLER) + 1)]


async def test_a_matchs_neighbours_are_seeks_not_a_read_of_their_moment(tmp_path: Path) -> None:
    """A batch written at once shares one ``created_at``: the memories beside a match must be seeks to
    (user, moment, rowid), not a read of every memory of that moment (11 ms among 10,000 of one batch)."""
    memory = LocalMemoryStore(tmp_path / "memory.sqlite3")
    await memory.add_many("alice", [f"note {n}" for n in range(50)])
    await memory.close()
    with sqlite3.connect(tmp_path / "memory.sqlite3") as backdoor:
        plan = [row[3] for row in backdoor.execute(f"EXPLAIN QUERY PLAN {_NEIGHBOURS}", ("[]",))]

    assert any("created_at=? AND rowid>?" in step for step in plan), plan
    assert any("created_at=? AND rowid<?" in step for step in plan), plan
    assert all("SCAN n" not in step for step in plan), plan


@pytest.mark.parametrize(
    ("statement", "seek"),
    [
        (_EXPORT_SAME_MOMENT, "user_id=? AND created_at=? AND rowid>?"),
        (_EXPORT_LATER, "user_id=? AND created_at>?"),
        (_EXPORT_NEXT_USERS, "user_id>?"),
    ],
)
async def test_an_export_page_is_seeks_not_a_read_of_the_moment_it_stopped_in(
    tmp_path: Path, statement: str, seek: str
) -> None:
    """A batch written at once shares one moment. Paged by a row value, each page read the moment again
    from its start: 200,000 memories took 3.1 s to export, 1.05 s as seeks, and the gap grows with the
    square. Each part of a page must be one seek of the ``(user_id, created_at)`` index."""
    memory = LocalMemoryStore(tmp_path / "memory.sqlite3")
    await memory.add_many("alice", [f"note {n}" for n in range(50)])
    await memory.close()
    parameters = [None] * statement.count("?")
    with sqlite3.connect(tmp_path / "memory.sqlite3") as backdoor:
        plan = [row[3] for row in backdoor.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)]

    assert plan == [f"SEARCH memories USING INDEX memories_user_created ({seek})"], plan
