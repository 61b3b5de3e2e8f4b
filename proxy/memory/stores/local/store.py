"""The embedded default memory store: one SQLite file, recall by words and by meaning, no network.

Why SQLite: it ships with Python, survives restarts, and with WAL mode several proxy processes on one
machine can write to the same file at once. Why these choices:

- **Per-client namespaces**: every statement filters on ``user_id``; one full-text index holds every
  namespace, and what decides a namespace's recall (how rare a word is, how long its memories are) is
  computed over its memories alone (:mod:`proxy.memory.recall.lexical`).
- **Recall by words** (:mod:`proxy.memory.recall.lexical`): FTS5 with porter stemming, ranked by bm25,
searching
  with a question's rarest words only.
- **Recall by meaning** (:mod:`proxy.memory.recall.dense`), where the embedding model is installed: each
memory's
  vector is stored beside it, and a question's vector is compared with all of the client's. The model
  loads in the background (:class:`~proxy.memory.recall.embeddings.EncoderLoader`): until it is ready recall
  is by words only, and memories written without a vector are given one in the background afterwards.
  :func:`~proxy.memory.recall.ranking.fuse` merges the two.
- **Concurrency**: WAL (readers never block writers), ``busy_timeout`` so a writer waits for another
  process instead of failing with "database is locked", ``BEGIN IMMEDIATE`` so a write never has to
  upgrade a read lock (the case a busy timeout cannot fix), and ``CREATE ... IF NOT EXISTS`` so two
  processes starting on a new file do not race.
- **Off the event loop**: sqlite3 blocks, so every call runs in a worker thread: reads through
  :func:`asyncio.to_thread`, writes (with their embedding) on the store's own writer thread, so a burst
  of write-backs never queues in front of recalls or LiteLLM. Writes share one connection under a lock
  (sqlite3 connections are not safe to use from two threads at once; SQLite lets one writer in at a time
  anyway). Reads each borrow a read-only connection from a pool of at most :data:`READERS`, so under load
  recalls run side by side (sqlite3 releases the GIL while SQLite works) and never wait behind a
  write-back. An in-memory database has no file to share, so there every call uses the one connection.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import functools
import json
import logging
import math
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from proxy.memory.recall.dense import VectorCache
from proxy.memory.recall.embeddings import EncoderLoader
from proxy.memory.recall.lexical import (
    match_expression,
    query_terms,
    ranked_by_words,
    rarest_terms,
)
from proxy.memory.recall.meaning import DEFAULT_MIN_SIMILARITY, EncoderBacked, embed, vector_model
from proxy.memory.recall.ranking import (
    FUSED_CANDIDATES,
    NEIGHBOUR_REACH,
    Candidate,
    answered,
    fuse,
    neighbour_sources,
)
from proxy.memory.stores.base import (
    MemoryRecord,
    MemoryRefused,
    MemoryStoreError,
    NewMemory,
    StoredMemory,
    UserMemories,
)
from proxy.memory.stores.local.schema import (
    Namespace,
    create_or_migrate,
    index_memory,
    namespace,
    unindex_memory,
)
from proxy.paths import data_home

__all__ = [
    "DEFAULT_MIN_SIMILARITY",
    "MEMORY_PATH",
    "LocalMemoryStore",
    "MemoryRecord",
    "default_path",
    "match_expression",
    "query_terms",
    "vector_model",
]

logger = logging.getLogger("proxy.memory.stores.local.store")

MEMORY_PATH = ":memory:"
"""A private in-memory database (tests, throwaway runs); nothing reaches the disk."""

BUSY_TIMEOUT_MS = 5000
"""How long a writer waits for another process's write before giving up (short transactions: rarely)."""

CACHE_KIB = 4 * 1024
"""Page cache per connection. It fills up to this bound as the file grows and stays full, so it is what
the process keeps of the file: at 32 MB per connection (and the file mapped into memory as well) an hour's
soak grew the proxy's RSS by tens of MB with the file. Pages past it come from the kernel's page cache, which
the machine shares and reclaims. Recall among 10,000 memories with writes going on was no slower without the
mapping (p50 1.6-1.7 ms, against 1.7-2.2 ms with it)."""

READERS = 4
"""Read-only connections at most: recalls past this many wait for one (the cores are the limit anyway). An
unbounded pool kept as many connections, and their descriptors, as the busiest moment ever needed."""

BACKFILL_BATCH = 64
"""Memories without a vector embedded per background step (a few hundred milliseconds of one core)."""

EXPORT_PAGE = 1000
"""Memories an export reads per step: one short read each, so writers never wait behind an export."""

_T = TypeVar("_T")

_UPSERT_FIND = "SELECT rowid, id, content FROM memories WHERE user_id = ? AND custom_id = ?"
_INSERT = """
INSERT INTO memories (id, user_id, custom_id, content, metadata, created_at) VALUES (?, ?, ?, ?, ?, ?)
RETURNING rowid, id
"""
_PUT_VECTOR = """
INSERT OR REPLACE INTO vectors (rowid, model, seq, vector)
VALUES (?, ?, (SELECT coalesce(max(seq), 0) + 1 FROM vectors), ?)
"""
_COLUMNS = "m.id, m.user_id, m.content, m.created_at, m.metadata"
_EXPORT_COLUMNS = "rowid, id, user_id, content, created_at, metadata, custom_id"
_EXPORT_SAME_MOMENT = f"""
SELECT {_EXPORT_COLUMNS} FROM memories
WHERE user_id = ? AND created_at = ? AND rowid > ? ORDER BY rowid LIMIT ?
"""
_EXPORT_LATER = f"""
SELECT {_EXPORT_COLUMNS} FROM memories WHERE user_id = ? AND created_at > ? ORDER BY created_at, rowid LIMIT ?
"""
_EXPORT_NEXT_USERS = f"""
SELECT {_EXPORT_COLUMNS} FROM memories WHERE user_id > ? ORDER BY user_id, created_at, rowid LIMIT ?
"""


def default_path() -> Path:
    """``$XDG_DATA_HOME/litellm-memory-proxy/memory.sqlite3``, where user data belongs by the XDG spec."""
    return data_home() / "memory.sqlite3"


class LocalMemoryStore(EncoderBacked):
    """Memories in one SQLite file, namespaced by ``user_id`` and searched by relevance.

    ``path`` None means :func:`default_path`; ``":memory:"`` keeps everything in memory. Nothing is opened
    in the constructor, so constructing a store inside the event loop never blocks it: :meth:`open` (the
    proxy calls it at start-up) or else the first call opens the file, creates its directory and schema.
    ``semantic`` (an :class:`EncoderLoader`) adds recall by meaning.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        semantic: EncoderLoader | None = None,
        min_similarity: float = DEFAULT_MIN_SIMILARITY,
    ) -> None:
        raw = default_path() if path is None else os.fspath(path)
        self.path: str = raw if raw == MEMORY_PATH else str(Path(raw).expanduser())
        self._semantic = semantic.start() if semantic is not None else None
        self._min_similarity = min_similarity
        self._vectors: VectorCache | None = None
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self._readers_lock = threading.Lock()
        self._idle_readers: builtins.list[sqlite3.Connection] = []
        self._reader_slots = threading.BoundedSemaphore(READERS)
        self._backfill: threading.Thread | None = None
        self._stop = threading.Event()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="memory writer")

    def __repr__(self) -> str:
        return f"LocalMemoryStore({self.path!r})"

    @property
    def vector_model(self) -> str | None:
        """The name vectors are stored under for the loaded model (None until it is ready)."""
        cache = self._cache()
        return cache.model if cache is not None else None

    def _cache(self) -> VectorCache | None:
        """The vector cache once the encoder is ready (and the background embedding of older memories)."""
        encoder = self._semantic.encoder if self._semantic is not None else None
        if encoder is None:
            return None
        if self._vectors is None:
            self._vectors = VectorCache(vector_model(encoder), encoder.dimensions)
            self._backfill = threading.Thread(target=self._embed_older, name="memory backfill", daemon=True)
            self._backfill.start()
        return self._vectors

    def _embed(self, texts: builtins.list[str]) -> np.ndarray | None:
        """The vectors of memories (of what the person said in each) or of queries."""
        encoder = self._semantic.encoder if self._semantic is not None else None
        if encoder is None:
            return None
        return embed(encoder, texts)

    async def open(self) -> None:
        """Open the file now: its directory, WAL mode and schema (created or migrated)."""
        await self._run(lambda _: None)

    async def add(
        self,
        user_id: str,
        content: str,
        *,
        metadata: dict[str, Any] | None = None,
        custom_id: str | None = None,
    ) -> str:
        """Remember ``content`` for ``user_id``; returns its id.

        A ``custom_id`` already used by this user replaces that memory (content, metadata and time) and
        keeps its id, so storing the same document twice does not remember it twice.
        """
        return (await self.add_batch([NewMemory(user_id, content, metadata or {}, custom_id)]))[0]

    async def add_many(
        self,
        user_id: str,
        contents: Sequence[str],
        *,
        metadata: dict[str, Any] | None = None,
        embed: bool = True,
    ) -> builtins.list[str]:
        """Remember many memories for ``user_id`` in one transaction (an import, a benchmark's seed); returns
        their ids. With ``embed`` and the model ready they get their vectors now, else in the background."""
        memories = [NewMemory(user_id, content, metadata or {}) for content in contents]
        return await self.add_batch(memories, embed=embed)

    async def add_batch(self, memories: Sequence[NewMemory], *, embed: bool = True) -> builtins.list[str]:
        """Remember ``memories`` (of any users) in one transaction, as :meth:`add` would each; returns their
        ids. Embedding and writing happen on the store's own writer thread: a burst of write-backs neither
        waits for nor holds up the threads recall and LiteLLM use."""
        if not memories:
            return []
        encoded = [json.dumps(memory.metadata) for memory in memories]  # fails here if not JSON-able
        vectors = self._cache() if embed else None
        loop = asyncio.get_running_loop()
        write = functools.partial(self._write_batch, memories, encoded, vectors)
        try:
            written = loop.run_in_executor(self._writer, write)
        except RuntimeError:  # the writer has shut down
            raise MemoryStoreError("the local memory store is closed") from None
        return await written

    def _write_batch(
        self, memories: Sequence[NewMemory], encoded: builtins.list[str], vectors: VectorCache | None
    ) -> builtins.list[str]:
        # Embedded before the write lock is taken: the backfill and other processes need not wait for it.
        embedded = self._embed([memory.content for memory in memories]) if vectors is not None else None
        with_vectors = (
            [(vectors.model, vector) for vector in embedded]
            if vectors is not None and embedded is not None
            else [None] * len(memories)
        )
        now = time.time()

        def write(conn: sqlite3.Connection) -> builtins.list[str]:
            with _immediate(conn):
                return [
                    _upsert(conn, memory, metadata, now, vector)
                    for memory, metadata, vector in zip(memories, encoded, with_vectors, strict=True)
                ]

        return self._locked(write)

    async def search(self, user_id: str, query: str, *, limit: int = 5) -> builtins.list[MemoryRecord]:
        """This user's memories most relevant to ``query``, best first: the words it shares with them
        (``score`` = -bm25) and, with the embedding model, its meaning (``score`` = cosine similarity).

        A query with nothing to go on (no searchable words and no model) recalls nothing.
        """
        terms = query_terms(query)
        if limit <= 0 or not query.strip():
            return []

        def read(conn: sqlite3.Connection) -> builtins.list[MemoryRecord]:
            with _snapshot(conn):  # the namespace's figures and its index as of one moment
                space = namespace(conn, user_id)
                if space is None:
                    return []
                lexical = self._by_words(conn, space, user_id, terms, max(limit, FUSED_CANDIDATES))
                lexical = answered(lexical, terms)
                dense = self._by_meaning(conn, space, user_id, query, max(limit, FUSED_CANDIDATES))
                neighbours = _neighbours(conn, neighbour_sources(lexical, dense))
            return fuse(lexical, dense, neighbours=neighbours, query=query, limit=limit)

        return await self._read(read)

    def _by_words(
        self, conn: sqlite3.Connection, space: Namespace, user_id: str, terms: builtins.list[str], limit: int
    ) -> builtins.list[Candidate]:
        if not terms:
            return []
        chosen = rarest_terms(conn, space.table, space.filter, space.size, terms)
        ranked = ranked_by_words(conn, space.table, space.filter, (space.size, space.tokens), chosen, limit)
        return _candidates(conn, user_id, ranked)

    def _by_meaning(
        self, conn: sqlite3.Connection, space: Namespace, user_id: str, query: str, limit: int
    ) -> builtins.list[Candidate]:
        vectors = self._cache()
        if vectors is None:
            return []
        query_vector = self._embed([query])
        if query_vector is None:
            return []
        index = vectors.current(conn, user_id, space.removed)
        hits = index.nearest(query_vector[0], limit=limit, min_similarity=self._min_similarity)
        return _candidates(conn, user_id, hits)

    async def list(self, user_id: str, *, limit: int = 100) -> builtins.list[MemoryRecord]:
        """This user's memories, newest first (``score`` 0.0)."""
        if limit <= 0:
            return []

        def read(conn: sqlite3.Connection) -> builtins.list[MemoryRecord]:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM memories AS m WHERE m.user_id = ? "
                "ORDER BY m.created_at DESC, m.rowid DESC LIMIT ?",
                (user_id, limit),
            ).fetchall()
            return [_record(row) for row in rows]

        return await self._read(read)

    async def forget(self, user_id: str, memory_id: str | None = None) -> int:
        """Delete one of this user's memories, or all of them when ``memory_id`` is None; returns how many.

        Another user's id is never deleted: the id only counts inside the user's namespace.
        """

        if memory_id is None:
            return await self._delete("user_id = ?", (user_id,))
        return await self._delete("user_id = ? AND id = ?", (user_id, memory_id))

    async def prune(self, user_id: str, *, keep: int | None = None, before: float | None = None) -> int:
        """Forget ``user_id``'s memories past its ``keep`` newest, and those made ``before``."""
        conditions, params = [], [user_id]
        if before is not None:
            conditions.append("created_at < ?")
            params.append(before)
        if keep is not None:
            conditions.append(
                "rowid NOT IN (SELECT rowid FROM memories WHERE user_id = ? "
                "ORDER BY created_at DESC, rowid DESC LIMIT ?)"
            )
            params += [user_id, keep]
        if not conditions:
            return 0
        return await self._delete(f"user_id = ? AND ({' OR '.join(conditions)})", tuple(params))

    async def _delete(self, where: str, params: tuple[Any, ...]) -> int:
        """Delete the memories ``where`` selects (it names their user itself), from the table, the word
        index and the vectors, in one transaction."""

        def delete(conn: sqlite3.Connection) -> int:
            with _immediate(conn):
                rows = conn.execute(f"SELECT rowid, content FROM memories WHERE {where}", params).fetchall()
                if not rows:
                    return 0
                for rowid, content in rows:
                    unindex_memory(conn, rowid, content)
                rowids = [(rowid,) for rowid, _ in rows]
                conn.executemany("DELETE FROM vectors WHERE rowid = ?", rowids)
                conn.executemany("DELETE FROM memories WHERE rowid = ?", rowids)
                return len(rows)

        return await self._run(delete)

    async def users(self) -> builtins.list[UserMemories]:
        """Every user with memories (how many, the newest one's time), by user id."""

        def read(conn: sqlite3.Connection) -> builtins.list[UserMemories]:
            rows = conn.execute(
                "SELECT user_id, size, (SELECT max(created_at) FROM memories m WHERE m.user_id = n.user_id)"
                " FROM namespaces n WHERE size > 0 ORDER BY user_id"
            ).fetchall()
            return [UserMemories(str(user), int(count), float(newest or 0)) for user, count, newest in rows]

        return await self._read(read)

    async def export(self, user_id: str | None) -> AsyncIterator[StoredMemory]:
        """Every memory of ``user_id`` (``None``: of every user, by user id), oldest first, read
        :data:`EXPORT_PAGE` at a time after the last one read (user, time, then rowid): no page repeats or
        skips a memory, however many there are."""
        after: tuple[str, float, int] = (user_id or "", -math.inf, 0)
        while True:
            rows = await self._read(functools.partial(_export_page, only=user_id, after=after))
            for rowid, memory_id, user, content, created_at, metadata, custom_id in rows:
                yield StoredMemory(user, memory_id, content, json.loads(metadata), created_at, custom_id)
                after = (user, created_at, rowid)
            if len(rows) < EXPORT_PAGE:
                return

    def _embed_older(self) -> None:
        """In the background: give every memory written without a vector (for this model) one."""
        assert self._vectors is not None
        model = self._vectors.model
        while not self._stop.is_set():
            try:
                rows = self._locked(functools.partial(_without_vectors, model=model))
                if not rows:
                    return
                embedded = self._embed([content for _, content in rows])
                assert embedded is not None
                self._locked(functools.partial(_put_vectors, rows=rows, vectors=embedded, model=model))
            except MemoryStoreError:
                return  # closed, or the file went away: the next store to open it carries on
            except Exception:
                logger.exception("embedding older memories failed; they stay searchable by words")
                return
            self._stop.wait(0.05)  # room for recalls and write-backs between batches

    async def close(self) -> None:
        """Close the file (a WAL checkpoint may run, hence the thread); safe to call more than once."""
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        self._stop.set()
        self._writer.shutdown(wait=True)
        if self._backfill is not None:
            self._backfill.join(timeout=10)
        with self._lock:
            self._closed = True
            if self._conn is not None:
                conn, self._conn = self._conn, None
                conn.close()
        with self._readers_lock:  # readers in use are closed when they come back
            idle, self._idle_readers = self._idle_readers, []
        for conn in idle:
            conn.close()

    async def _run(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        return await asyncio.to_thread(self._locked, work)

    async def _read(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        if self.path == MEMORY_PATH:
            return await self._run(work)
        return await asyncio.to_thread(self._borrowed, work)

    def _borrowed(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``work`` on an idle read-only connection (a new one when none is idle), then give it back.

        A connection that failed, or is somehow still inside a transaction (it would keep reading an old
        snapshot), is closed instead of going back to the pool.
        """
        if self._conn is None:
            self._locked(lambda _: None)  # the writer opens the file first: directory, WAL and schema
        with self._reader_slots:
            with self._readers_lock:
                if self._closed:
                    raise MemoryStoreError("the local memory store is closed")
                conn = self._idle_readers.pop() if self._idle_readers else None
            reusable = False
            try:
                if conn is None:
                    conn = self._open_reader()
                result = work(conn)
                reusable = not conn.in_transaction
                return result
            except sqlite3.Error as exc:
                raise MemoryStoreError(f"local memory store: {exc}") from exc
            finally:
                if conn is not None:
                    self._give_back(conn, reusable)

    def _give_back(self, conn: sqlite3.Connection, reusable: bool) -> None:
        with self._readers_lock:
            if reusable and not self._closed:
                self._idle_readers.append(conn)
                return
        conn.close()

    def _open_reader(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            conn.execute("PRAGMA query_only = ON")
        except BaseException:
            conn.close()
            raise
        return conn

    def _locked(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        with self._lock:
            if self._closed:
                raise MemoryStoreError("the local memory store is closed")
            try:
                if self._conn is None:
                    self._conn = self._open()
                return work(self._conn)
            except (sqlite3.IntegrityError, sqlite3.DataError) as exc:  # the memory, not the file
                raise MemoryRefused(f"local memory store: {exc}") from exc
            except (sqlite3.Error, OSError) as exc:  # OSError: the directory cannot be made
                raise MemoryStoreError(f"local memory store: {exc}") from exc

    def _open(self) -> sqlite3.Connection:
        if self.path != MEMORY_PATH:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # Autocommit (isolation_level None): transactions are the explicit BEGIN IMMEDIATE ones below.
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            # The busy timeout first: switching to WAL and creating the schema can meet another process.
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            _use_wal(conn)
            # NORMAL is durable across a crash of the process in WAL mode; only power loss can drop
            # the last few commits, a fair price for fast writes of conversation memories.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            with _immediate(conn):
                create_or_migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL (a lasting property of the file), retrying while another process holds it.

    The switch needs a moment of exclusive access, and SQLite reports "database is locked" for it at
    once, without waiting for the busy timeout, when another process is opening the same new file: the
    race of two proxies starting together. Once the file is in WAL mode the switch is a no-op.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            busy = getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY
            if not busy or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


class _immediate:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error): take the write lock up front."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self._conn.execute("BEGIN IMMEDIATE")
        return self._conn

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is None:
            self._conn.execute("COMMIT")
        elif self._conn.in_transaction:  # some errors already rolled back; do not hide them
            self._conn.execute("ROLLBACK")


@contextlib.contextmanager
def _snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """A read transaction: every statement inside sees the file as of its first read."""
    conn.execute("BEGIN")
    try:
        yield
    finally:
        if conn.in_transaction:  # an error may have ended it already
            conn.execute("COMMIT")


def _upsert(
    conn: sqlite3.Connection,
    memory: NewMemory,
    metadata: str,
    now: float,
    vector: tuple[str, np.ndarray] | None,
) -> str:
    """Insert ``memory``, or replace the user's memory with its ``custom_id``; returns the memory's id.
    ``vector`` is (model, vector) when the model is ready."""
    space = namespace(conn, memory.user_id, create=True)
    assert space is not None
    existing = (
        conn.execute(_UPSERT_FIND, (memory.user_id, memory.custom_id)).fetchone()
        if memory.custom_id
        else None
    )
    when = now if memory.created_at is None else memory.created_at
    if existing is None:
        rowid, memory_id = conn.execute(
            _INSERT, (uuid.uuid4().hex, memory.user_id, memory.custom_id, memory.content, metadata, when)
        ).fetchone()
        index_memory(conn, space, rowid, memory.content)
    else:
        rowid, memory_id, old = existing
        conn.execute(
            "UPDATE memories SET content = ?, metadata = ?, created_at = ? WHERE rowid = ?",
            (memory.content, metadata, when, rowid),
        )
        if old == memory.content:
            vector = None  # the memory's vector still holds
        else:
            unindex_memory(conn, rowid, old)
            index_memory(conn, space, rowid, memory.content)
            conn.execute("DELETE FROM vectors WHERE rowid = ?", (rowid,))
    if vector is not None:
        model, values = vector
        conn.execute(_PUT_VECTOR, (rowid, model, values.tobytes()))
    return str(memory_id)


def _without_vectors(conn: sqlite3.Connection, *, model: str) -> builtins.list[tuple[int, str]]:
    return conn.execute(
        "SELECT m.rowid, m.content FROM memories AS m LEFT JOIN vectors AS v "
        "ON v.rowid = m.rowid AND v.model = ? WHERE v.rowid IS NULL LIMIT ?",
        (model, BACKFILL_BATCH),
    ).fetchall()


def _export_page(
    conn: sqlite3.Connection, *, only: str | None, after: tuple[str, float, int]
) -> builtins.list[tuple[Any, ...]]:
    """The next :data:`EXPORT_PAGE` memories after ``after`` (user, time, rowid), as up to three index seeks:
    the rest of that moment, the user's later moments, then (``only`` None) the next users. Not one
    ``(user_id, created_at, rowid) > (?, ?, ?)``: SQLite seeks a row value by its first column alone, so
    each page of a batch written at one moment would read the whole moment again (quadratic)."""
    user, moment, rowid = after
    rows = conn.execute(_EXPORT_SAME_MOMENT, (user, moment, rowid, EXPORT_PAGE)).fetchall()
    if len(rows) < EXPORT_PAGE:
        rows += conn.execute(_EXPORT_LATER, (user, moment, EXPORT_PAGE - len(rows))).fetchall()
    if len(rows) < EXPORT_PAGE and only is None:
        rows += conn.execute(_EXPORT_NEXT_USERS, (user, EXPORT_PAGE - len(rows))).fetchall()
    return rows


def _put_vectors(
    conn: sqlite3.Connection, *, rows: builtins.list[tuple[int, str]], vectors: np.ndarray, model: str
) -> None:
    """Store each row's vector, unless the memory changed or went away while it was being embedded."""
    with _immediate(conn):
        for (rowid, content), vector in zip(rows, vectors, strict=True):
            still = conn.execute("SELECT content FROM memories WHERE rowid = ?", (rowid,)).fetchone()
            if still is not None and still[0] == content:
                conn.execute(_PUT_VECTOR, (rowid, model, vector.tobytes()))


def _candidates(
    conn: sqlite3.Connection, user_id: str, ranked: Sequence[tuple[int, float]]
) -> builtins.list[Candidate]:
    """The memories of ``user_id`` behind ``ranked`` (rowid, score) pairs, in their order."""
    if not ranked:
        return []
    marks = ", ".join("?" * len(ranked))
    # +user_id: a check on the rows found, not an index to walk. Offered the index, SQLite's planner read
    # the namespace's every memory by it for 20 rowids (0.74 ms at 10,000, 0.02 ms so).
    rows = conn.execute(
        f"SELECT m.rowid, {_COLUMNS} FROM memories AS m WHERE m.rowid IN ({marks}) AND +m.user_id = ?",
        (*(rowid for rowid, _ in ranked), user_id),
    ).fetchall()
    by_rowid = {row[0]: _record(row[1:]) for row in rows}
    return [Candidate(by_rowid[rowid], score) for rowid, score in ranked if rowid in by_rowid]


def _neighbours(
    conn: sqlite3.Connection, found: Sequence[Candidate]
) -> dict[str, tuple[builtins.list[str], builtins.list[str]]]:
    """For each of ``found``, the ids of the memories stored before and after it in its namespace, nearest
    first, as far as :data:`~proxy.memory.recall.ranking.NEIGHBOUR_REACH` reaches: by ``(created_at, rowid)``,
    two seeks a side along the ``(user_id, created_at)`` index (:data:`_NEIGHBOURS`). Ids only: fusion
    weighs the memories words or meaning found, whose records it has."""
    if not found:
        return {}
    ids = json.dumps(list(dict.fromkeys(candidate.record.id for candidate in found)))
    (rows,) = conn.execute(_NEIGHBOURS, (ids,)).fetchone()
    return {memory_id: (before, after) for memory_id, before, after in json.loads(rows)}


def _nearest(side: str) -> str:
    """The ids of the memories stored right ``before`` (or ``after``) memory ``m``, nearest first, as a
    JSON array: the rest of its moment by rowid, then the moments before (after) it, each a seek of at most
    :data:`~proxy.memory.recall.ranking.NEIGHBOUR_REACH` rows."""
    beyond, order = ("<", "DESC") if side == "before" else (">", "ASC")
    reach = NEIGHBOUR_REACH[side]
    return f"""(SELECT json_group_array(id) FROM (
        SELECT * FROM (
            SELECT n.id, n.created_at, n.rowid AS r FROM memories AS n
            WHERE n.user_id = m.user_id AND n.created_at = m.created_at AND n.rowid {beyond} m.rowid
            ORDER BY n.rowid {order} LIMIT {reach})
        UNION ALL
        SELECT * FROM (
            SELECT n.id, n.created_at, n.rowid AS r FROM memories AS n
            WHERE n.user_id = m.user_id AND n.created_at {beyond} m.created_at
            ORDER BY n.created_at {order}, n.rowid {order} LIMIT {reach})
        ORDER BY created_at {order}, r {order} LIMIT {reach}))"""


_NEIGHBOURS = f"""
SELECT json_group_array(json_array(id, json(before), json(after))) FROM (
    SELECT m.id AS id, {_nearest("before")} AS before, {_nearest("after")} AS after
    FROM json_each(?) AS found JOIN memories AS m ON m.id = found.value
)
"""
"""Two seeks a side, not ``(created_at, rowid) > (?, ?)``: SQLite seeks that row value by ``created_at``
alone and reads every memory of the same moment past it (a batch written at once shares one): 11 ms for 20
matches among 10,000 such, 0.1 ms so. One row, as :mod:`~proxy.memory.recall.lexical` ranks: each row of
a statement gives up the GIL, and a busy event loop's thread can keep it a switch interval."""


def _record(row: tuple[Any, ...], *, score: float = 0.0) -> MemoryRecord:
    return MemoryRecord(
        id=row[0],
        user_id=row[1],
        content=row[2],
        created_at=row[3],
        metadata=json.loads(row[4]),
        score=score,
    )
