"""The embedded SQLite memory store: namespaces, relevance, hostile queries, restarts, concurrent writers.

Effects are checked through a backdoor (a plain sqlite3 connection to the file) where the store's own
answer could hide a fault, as zarr's store tests do.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from proxy.memory.base import MemoryServiceError, NewMemory, UserMemories
from proxy.memory.local_store import LocalMemoryStore, default_path, match_expression, query_terms

FILLER = [
    "we talked about the weather in spring",
    "the build failed because of a missing dependency",
    "lunch was a sandwich with cheese",
    "the meeting moved to thursday afternoon",
    "a bug in the parser was fixed",
    "the train was late again",
]


@pytest.fixture(params=["in-memory", "file"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[LocalMemoryStore]:
    """Both kinds: an in-memory store uses one connection, a file store reads on pooled connections."""
    memory = LocalMemoryStore(":memory:" if request.param == "in-memory" else tmp_path / "memory.sqlite3")
    yield memory
    await memory.close()


async def counts(store: LocalMemoryStore) -> list[tuple[str, int]]:
    return [(client.user_id, client.memories) for client in await store.users()]


def _contents(records: list[Any]) -> list[str]:
    return [record.content for record in records]


async def test_recalls_a_users_own_memory_and_never_another_users(store: LocalMemoryStore) -> None:
    """The favourite-colour question finds the asking user's answer, not the other user's."""
    for text in FILLER:
        await store.add("alice", text)
    teal = await store.add("alice", "my favourite colour is teal")
    await store.add("bob", "my favourite colour is crimson")

    found = await store.search("alice", "what is my favourite colour?")

    assert found[0].id == teal
    assert found[0].content == "my favourite colour is teal"
    assert found[0].user_id == "alice"
    assert all(record.user_id == "alice" for record in found)
    assert "crimson" not in " ".join(_contents(found))
    assert _contents(await store.search("bob", "what is my favourite colour?")) == [
        "my favourite colour is crimson"
    ]
    assert await store.search("carol", "what is my favourite colour?") == []


async def test_list_is_per_user_newest_first_with_limit(store: LocalMemoryStore) -> None:
    for n in range(5):
        await store.add("alice", f"alice note {n}")
    await store.add("bob", "bob note")

    listed = await store.list("alice")

    assert _contents(listed) == [f"alice note {n}" for n in reversed(range(5))]
    assert [record.score for record in listed] == [0.0] * 5
    assert listed[0].created_at >= listed[-1].created_at
    assert _contents(await store.list("alice", limit=2)) == ["alice note 4", "alice note 3"]
    assert _contents(await store.list("bob")) == ["bob note"]
    assert await store.list("alice", limit=0) == []


async def test_forget_one_then_all_only_within_the_user(store: LocalMemoryStore) -> None:
    first = await store.add("alice", "the wifi password is swordfish")
    await store.add("alice", "the door code is 1234")
    bobs = await store.add("bob", "bob likes swordfish steaks")

    assert await store.forget("alice", bobs) == 0  # bob's id means nothing in alice's namespace
    assert await store.forget("alice", first) == 1
    assert await store.forget("alice", first) == 0
    assert _contents(await store.search("alice", "swordfish")) == []
    assert _contents(await store.list("alice")) == ["the door code is 1234"]

    assert await store.forget("alice") == 1
    assert await store.list("alice") == []
    assert _contents(await store.search("bob", "swordfish")) == ["bob likes swordfish steaks"]
    assert await counts(store) == [("bob", 1)]


async def test_users_says_when_each_clients_newest_memory_was_made(store: LocalMemoryStore) -> None:
    """tests/unit/test_postgres_store.py runs this one on its own store too."""
    await store.add_batch(
        [
            NewMemory("alice", "an old fact", created_at=1_000.0),
            NewMemory("alice", "a newer fact", created_at=2_000.0),
            NewMemory("bob", "bob's only fact", created_at=1_500.0),
        ]
    )
    assert await store.users() == [UserMemories("alice", 2, 2_000.0), UserMemories("bob", 1, 1_500.0)]


async def test_custom_id_replaces_within_a_user_and_keeps_the_id(store: LocalMemoryStore) -> None:
    first = await store.add("alice", "the project is called falcon", custom_id="doc-1")
    again = await store.add("alice", "the project is called osprey", custom_id="doc-1")
    bobs = await store.add("bob", "bob's project is called heron", custom_id="doc-1")
    other = await store.add("alice", "unrelated note", custom_id="doc-2")

    assert again == first
    assert len({first, bobs, other}) == 3
    assert _contents(await store.search("alice", "falcon")) == []  # the index forgot the old text
    assert _contents(await store.search("alice", "project osprey")) == ["the project is called osprey"]
    assert _contents(await store.search("bob", "project")) == ["bob's project is called heron"]
    assert await counts(store) == [("alice", 2), ("bob", 1)]


async def test_metadata_round_trips_and_bad_metadata_stores_nothing(store: LocalMemoryStore) -> None:
    await store.add("alice", "tabs over spaces", metadata={"model": "gpt-4o", "turn": 3, "tags": ["style"]})

    [record] = await store.list("alice")

    assert record.metadata == {"model": "gpt-4o", "turn": 3, "tags": ["style"]}
    assert len(record.id) == 32 and int(record.id, 16) >= 0
    with pytest.raises(TypeError):
        await store.add("alice", "never stored", metadata={"when": object()})
    assert _contents(await store.list("alice")) == ["tabs over spaces"]


HOSTILE = [
    'what\'s "x" AND (y',
    '"',
    '""""',
    "(",
    ")",
    "x AND",
    "OR OR OR",
    "NOT teal",
    "NEAR(teal colour, 2)",
    "teal NEAR/3 colour",
    "*",
    "teal*",
    "^teal",
    "content: teal",
    "{content}: teal",
    "col:umn",
    "-teal +colour",
    "'; DROP TABLE memories; --",
    "\x00\x01\x02",
    "🦜🦜 emoji only",
    "日本語の質問",
    "Zürich straße naïve café",
    "नमस्ते दुनिया",
    "\u0301\u0301 combining marks",
    "a" * 5000,
    " ".join(f"word{n}" for n in range(500)),
    "",
    "   \n\t ",
]


@pytest.mark.parametrize("query", HOSTILE)
async def test_hostile_queries_never_raise(store: LocalMemoryStore, query: str) -> None:
    await store.add("alice", "my favourite colour is teal")
    await store.add("alice", "x and y are near the content column")

    found = await store.search("alice", query)

    assert isinstance(found, list)
    assert all(record.user_id == "alice" for record in found)


async def test_operators_in_a_query_are_plain_words(store: LocalMemoryStore) -> None:
    """FTS5 keywords and syntax in the text are searched for as words, never obeyed."""
    await store.add("alice", "the store is NEAR the station")
    await store.add("alice", "my favourite colour is teal")

    assert _contents(await store.search("alice", "NEAR(")) == ["the store is NEAR the station"]
    # As syntax, NOT would exclude teal; as a (stop)word it is ignored and teal is found.
    assert _contents(await store.search("alice", "NOT teal")) == ["my favourite colour is teal"]
    assert _contents(await store.search("alice", 'what\'s "teal" AND (colour')) == [
        "my favourite colour is teal"
    ]


@pytest.mark.parametrize("query", ["", "   ", "?!.,", "what is it?", "The AND of THE"])
async def test_a_query_without_searchable_words_recalls_nothing(store: LocalMemoryStore, query: str) -> None:
    await store.add("alice", "it is what it is, and the end of the story")

    assert await store.search("alice", query) == []


async def test_more_matching_terms_rank_higher(store: LocalMemoryStore) -> None:
    for text in FILLER:
        await store.add("alice", text)
    one = await store.add("alice", "kayak trip planned")
    three = await store.add("alice", "kayak trip to norway fjords planned")
    two = await store.add("alice", "kayak trip to norway planned")

    found = await store.search("alice", "kayak norway fjords")

    assert [record.id for record in found] == [three, two, one]
    scores = [record.score for record in found]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[1] > scores[2] > 0


async def test_search_stems_and_folds_and_respects_limit(store: LocalMemoryStore) -> None:
    for text in FILLER:
        await store.add("alice", text)
    await store.add("alice", "she loves the colours of autumn")
    await store.add("alice", "we met at a café in Zürich")

    assert _contents(await store.search("alice", "favourite colour")) == ["she loves the colours of autumn"]
    assert _contents(await store.search("alice", "cafe zurich")) == ["we met at a café in Zürich"]
    assert len(await store.search("alice", "the weather build lunch meeting parser train", limit=3)) == 3
    assert await store.search("alice", "weather", limit=0) == []


async def test_a_word_in_most_memories_counts_only_when_nothing_rarer_does(
    store: LocalMemoryStore,
) -> None:
    """Common words would match (and make recall rank) nearly everything; a rarer word decides."""
    for n in range(20):
        await store.add("alice", f"project status update number {n}")
    await store.add("alice", "project kestrel launches in may")

    assert _contents(await store.search("alice", "project kestrel")) == ["project kestrel launches in may"]
    assert len(await store.search("alice", "project", limit=50)) == 21
    assert len(await store.search("alice", "status update", limit=50)) == 20  # all common: all count


async def test_when_every_word_is_common_the_rarest_of_them_still_lead(store: LocalMemoryStore) -> None:
    """In a small store every word passes the common threshold; counting stops there, and the words must
    still be ranked by their real frequency, not by their spelling."""
    for _ in range(4):
        await store.add("alice", "alpha bravo charlie delta echo foxtrot")
    await store.add("alice", "the zulu key is 42")

    found = await store.search("alice", "alpha bravo charlie delta echo foxtrot zulu")

    assert "the zulu key is 42" in _contents(found)


async def test_search_reports_the_same_memory_as_list_does(store: LocalMemoryStore) -> None:
    """Times and scores come back with all their digits (SQLite's JSON would round them to 15)."""
    await store.add("alice", "my favourite colour is teal")
    [listed] = await store.list("alice")
    [found] = await store.search("alice", "favourite colour")
    assert found.created_at == listed.created_at
    assert (found.id, found.content, found.metadata) == (listed.id, listed.content, listed.metadata)
    assert found.score > 0


async def test_a_long_query_searches_with_its_rarest_words_only(store: LocalMemoryStore) -> None:
    for n in range(12):
        await store.add("alice", f"codeword{n} appears here")

    found = await store.search("alice", " ".join(f"codeword{n}" for n in range(12)), limit=50)

    assert len(found) == 6


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

    with pytest.raises(MemoryServiceError, match="closed"):
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
    assert 1 <= len(readers) <= min(32, (os.cpu_count() or 1) + 4)  # at most one per worker thread
    await store.close()
    with pytest.raises(sqlite3.ProgrammingError):  # closed with the store
        readers[0].execute("SELECT 1")
    with pytest.raises(MemoryServiceError, match="closed"):
        await store.search("alice", "colour")


async def test_a_reader_that_failed_mid_transaction_is_not_reused(tmp_path: Path) -> None:
    """A pooled connection left inside a transaction would answer every later recall from a stale snapshot."""
    store = LocalMemoryStore(tmp_path / "memory.sqlite3")
    await store.add("alice", "first note about falcons")

    def fails_inside_a_transaction(conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN")
        conn.execute("SELECT count(*) FROM memories").fetchone()  # the snapshot is taken here
        conn.execute("SELECT * FROM no_such_table")

    try:
        with pytest.raises(MemoryServiceError, match="no_such_table"):
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
        namespaces = backdoor.execute("SELECT id, user_id, size FROM namespaces").fetchall()
        assert sorted((user, size) for _, user, size in namespaces) == sorted(counts)
        for space, _, _ in namespaces:  # each client's own index holds each of its memories once
            backdoor.execute(f"INSERT INTO fts_{space} (fts_{space}) VALUES ('integrity-check')")
            indexed = backdoor.execute(f"SELECT count(*) FROM fts_{space} WHERE fts_{space} MATCH 'shared'")
            assert indexed.fetchone()[0] == WRITES_EACH


async def test_recall_depends_on_the_asking_clients_memories_only(store: LocalMemoryStore) -> None:
    """Word statistics are per client: another client full of the question's words changes nothing."""
    question = "Where should I go surfing this weekend near where I live?"
    await store.add("x", "I live in Lisbon and I love surfing")
    alone = _contents(await store.search("x", question))
    for n in range(30):
        await store.add("y", f"surfing near where we live, session {n}")
    await store.add("y", "shall we go somewhere near this weekend?")
    assert alone == ["I live in Lisbon and I love surfing"]
    assert _contents(await store.search("x", question)) == alone
    assert all(r.user_id == "y" for r in await store.search("y", question, limit=50))


async def test_a_version_1_file_is_migrated_with_every_memory_kept(tmp_path: Path) -> None:
    """The store used to keep one index for all clients; opening such a file moves it to one per client."""
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
        assert backdoor.execute("PRAGMA user_version").fetchone() == (2,)
        assert backdoor.execute("SELECT name FROM sqlite_master WHERE name = 'memories_fts'").fetchall() == []


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
