"""The embedded default memory store: one SQLite file with FTS5 ranking, no account and no network.

Why SQLite: it ships with Python, survives restarts, and with WAL mode several proxy processes on one
machine can write to the same file at once. Why these choices:

- **Per-user namespaces**: every statement filters on ``user_id``; nothing crosses users.
- **Relevance**: an external-content FTS5 index (porter stemming over unicode61, diacritics folded)
  ranked by ``bm25``. The MATCH expression is built here from words only, each one quoted, so no client
  text is ever parsed as FTS5 syntax (``what's "x" AND (y`` is just the words ``x`` and ``y``).
- **Fast recall**: bm25 costs one to two microseconds for every row a query matches, so a long question full
  of common words would rank thousands of rows. Like Lucene's MoreLikeThis and CommonTermsQuery, the
  query keeps only its few rarest words, and words found in a large share of all memories only count
  when there is nothing rarer; on 10,000 memories this halves the time of a sentence-long query at
  almost no cost in what is found. Stemming stands in for prefix matching ("colours" finds "colour"),
  which would double it.
- **Concurrency**: WAL (readers never block writers), ``busy_timeout`` so a writer waits for another
  process instead of failing with "database is locked", ``BEGIN IMMEDIATE`` so a write never has to
  upgrade a read lock (the case a busy timeout cannot fix), and ``CREATE ... IF NOT EXISTS`` so two
  processes starting on a new file do not race.
- **Off the event loop**: sqlite3 blocks, so every call runs in a worker thread through
  :func:`asyncio.to_thread`. Writes share one connection under a lock (sqlite3 connections are not safe
  to use from two threads at once; SQLite lets one writer in at a time anyway). Reads each borrow a
  read-only connection from a small pool, so under load recalls run side by side (sqlite3 releases the
  GIL while SQLite works) and never wait behind a write-back. An in-memory database has no file to
  share, so there every call uses the one connection.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import os
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from proxy.memory.base import MemoryRecord, MemoryServiceError

__all__ = [
    "MEMORY_PATH",
    "LocalMemoryStore",
    "MemoryRecord",
    "default_path",
    "match_expression",
    "query_terms",
]

MEMORY_PATH = ":memory:"
"""A private in-memory database (tests, throwaway runs); nothing reaches the disk."""

BUSY_TIMEOUT_MS = 5000
"""How long a writer waits for another process's write before giving up (short transactions: rarely)."""

MAX_QUERY_TERMS = 32
"""Distinct words of a query looked at, so a pasted essay cannot make recall slow."""

MAX_RANKED_TERMS = 6
"""Words of a query that are searched for and ranked by: its rarest ones."""

COMMON_TERM_FRACTION = 0.1
"""A word in more than this share of all memories says little (bm25 gives it a low weight) yet matches
many rows; it is dropped from a query that has rarer words."""

CACHE_KIB = 32 * 1024
"""Page cache per connection (an upper bound, filled lazily); the default 2 MB makes recall re-read
the index once the file outgrows it."""

MMAP_BYTES = 256 * 1024 * 1024
"""How much of the file a read connection maps into memory (address space, not RAM)."""

_T = TypeVar("_T")

# Words: runs of letters and digits. The underscore is a separator, as it is for the unicode61 tokenizer.
_WORD = re.compile(r"[^\W_]+")

# Function words that say nothing about what to recall, plus the fragments contractions split into.
# Dropping them keeps recall fast (they would match nearly every memory) and keeps bm25 on the words
# that matter; a query made only of them recalls nothing.
_STOPWORD_TEXT = """
    a about above after again against all am an and any are as at be because been before being below
    between both but by can cannot could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not now of off on once only or other ought our ours ourselves out
    over own same shall she should so some such than that the their theirs them themselves then there
    these they this those through to too under until up very was we were what when where which while
    who whom whose why will with would you your yours yourself yourselves
    s t d ll m re ve doesn didn isn aren wasn weren wouldn shouldn couldn
    please tell know remember recall
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS memories (
        rowid      INTEGER PRIMARY KEY,
        id         TEXT NOT NULL UNIQUE,
        user_id    TEXT NOT NULL,
        custom_id  TEXT,
        content    TEXT NOT NULL,
        metadata   TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL
    )""",
    """CREATE UNIQUE INDEX IF NOT EXISTS memories_user_custom_id
        ON memories (user_id, custom_id) WHERE custom_id IS NOT NULL""",
    "CREATE INDEX IF NOT EXISTS memories_user_created ON memories (user_id, created_at)",
    """CREATE VIRTUAL TABLE IF NOT EXISTS memories_fts USING fts5 (
        content, content = 'memories', content_rowid = 'rowid',
        tokenize = 'porter unicode61 remove_diacritics 2'
    )""",
    """CREATE TRIGGER IF NOT EXISTS memories_ai AFTER INSERT ON memories BEGIN
        INSERT INTO memories_fts (rowid, content) VALUES (new.rowid, new.content);
    END""",
    """CREATE TRIGGER IF NOT EXISTS memories_ad AFTER DELETE ON memories BEGIN
        INSERT INTO memories_fts (memories_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
    END""",
    """CREATE TRIGGER IF NOT EXISTS memories_au AFTER UPDATE OF content ON memories BEGIN
        INSERT INTO memories_fts (memories_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
        INSERT INTO memories_fts (rowid, content) VALUES (new.rowid, new.content);
    END""",
)
"""One statement each (``executescript`` would commit the transaction they run in)."""

_COLUMNS = "m.id, m.user_id, m.content, m.created_at, m.metadata"

# CROSS JOIN pins the FTS index as the outer loop: the planner could otherwise walk the user's rows and
# probe the index once per row, which is slow for a user with many memories.
_SEARCH = f"""
SELECT json_group_array(json_array(
    m.id, m.user_id, m.content, printf('%!.17g', m.created_at), m.metadata, printf('%!.17g', rank)
)) FROM (
    SELECT {_COLUMNS}, bm25(memories_fts) AS rank
    FROM memories_fts CROSS JOIN memories AS m ON m.rowid = memories_fts.rowid
    WHERE memories_fts MATCH ? AND m.user_id = ?
    ORDER BY rank
    LIMIT ?
) AS m
"""
"""The best matches as one JSON array in one row (see :meth:`LocalMemoryStore.search` for why); the
numbers as text with all 17 digits (``%!.17g``), which JSON's REAL formatting (15) would round."""

_UPSERT = """
INSERT INTO memories (id, user_id, custom_id, content, metadata, created_at) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (user_id, custom_id) WHERE custom_id IS NOT NULL DO UPDATE SET
    content = excluded.content, metadata = excluded.metadata, created_at = excluded.created_at
RETURNING id
"""


def default_path() -> Path:
    """``$XDG_DATA_HOME/litellm-memory-proxy/memory.sqlite3``, where user data belongs by the XDG spec.

    A relative ``XDG_DATA_HOME`` is ignored, as the spec says, so the file does not move with the
    working directory.
    """
    data_home = os.environ.get("XDG_DATA_HOME", "")
    base = Path(data_home) if data_home and os.path.isabs(data_home) else Path.home() / ".local" / "share"
    return base / "litellm-memory-proxy" / "memory.sqlite3"


def query_terms(query: str) -> builtins.list[str]:
    """The distinct words of free text worth searching for (no stopwords), in order, at most 32.

    Only letters and digits survive, so ``AND``, ``NEAR``, ``*``, ``(``, ``:`` and ``"`` in the text
    can never become FTS5 syntax.
    """
    terms: builtins.list[str] = []
    for word in _WORD.findall(query.lower()):  # lower(), not casefold(): unicode61 keeps "ß"
        if word in _STOPWORDS or word in terms:
            continue
        terms.append(word)
        if len(terms) == MAX_QUERY_TERMS:
            break
    return terms


def match_expression(terms: Sequence[str]) -> str:
    """An FTS5 MATCH expression finding any of ``terms``: each one quoted, OR-ed.

    OR (not AND) so that a memory sharing only some words is still found, and bm25 ranks one that
    shares more of them higher. Quoting makes every term a literal, even ``OR`` or ``NEAR``.
    """
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


class LocalMemoryStore:
    """Memories in one SQLite file, namespaced by ``user_id`` and searched by relevance.

    ``path`` None means :func:`default_path`; ``":memory:"`` keeps everything in memory. Opening is lazy
    (the first call opens the file, creates its directory and the schema) so constructing a store inside
    the event loop never blocks it.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        raw = default_path() if path is None else os.fspath(path)
        self.path: str = raw if raw == MEMORY_PATH else str(Path(raw).expanduser())
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self._readers_lock = threading.Lock()
        self._idle_readers: builtins.list[sqlite3.Connection] = []

    def __repr__(self) -> str:
        return f"LocalMemoryStore({self.path!r})"

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
        encoded = json.dumps(metadata or {})  # fails here, before the database, if not JSON-able
        row = (uuid.uuid4().hex, user_id, custom_id, content, encoded, time.time())

        def write(conn: sqlite3.Connection) -> str:
            with _immediate(conn):
                return str(conn.execute(_UPSERT, row).fetchone()[0])

        return await self._run(write)

    async def search(self, user_id: str, query: str, *, limit: int = 5) -> builtins.list[MemoryRecord]:
        """This user's memories most relevant to ``query``, best first (``score`` = -bm25, higher better).

        A query with no searchable words (empty, punctuation, only stopwords) recalls nothing.
        """
        terms = query_terms(query)
        if not terms or limit <= 0:
            return []

        # Two statements, each answered in one row: sqlite3 gives up the GIL around every step of a
        # statement, and in a busy proxy each step's return can wait a whole switch interval (5 ms) for
        # the event loop's thread, so rows fetched one by one made a recall several times slower under load.
        def read(conn: sqlite3.Connection) -> builtins.list[MemoryRecord]:
            chosen = _rarest(conn, terms)
            if not chosen:
                return []
            (found,) = conn.execute(_SEARCH, (match_expression(chosen), user_id, limit)).fetchone()
            rows = sorted(
                ([*row[:3], float(row[3]), row[4], float(row[5])] for row in json.loads(found)),
                key=lambda row: row[5],
            )
            return [_record(row, score=-row[5]) for row in rows]

        return await self._read(read)

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

        def delete(conn: sqlite3.Connection) -> int:
            with _immediate(conn):
                if memory_id is None:
                    cursor = conn.execute("DELETE FROM memories WHERE user_id = ?", (user_id,))
                else:
                    cursor = conn.execute(
                        "DELETE FROM memories WHERE user_id = ? AND id = ?", (user_id, memory_id)
                    )
                return cursor.rowcount

        return await self._run(delete)

    async def users(self) -> builtins.list[tuple[str, int]]:
        """Every user with memories and how many, by user id (for the CLI)."""

        def read(conn: sqlite3.Connection) -> builtins.list[tuple[str, int]]:
            rows = conn.execute(
                "SELECT user_id, count(*) FROM memories GROUP BY user_id ORDER BY user_id"
            ).fetchall()
            return [(str(user), int(count)) for user, count in rows]

        return await self._read(read)

    async def close(self) -> None:
        """Close the file (a WAL checkpoint may run, hence the thread); safe to call more than once."""
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
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
        with self._readers_lock:
            if self._closed:
                raise MemoryServiceError("the local memory store is closed")
            conn = self._idle_readers.pop() if self._idle_readers else None
        reusable = False
        try:
            if conn is None:
                conn = self._open_reader()
            result = work(conn)
            reusable = not conn.in_transaction
            return result
        except sqlite3.Error as exc:
            raise MemoryServiceError(f"local memory store: {exc}") from exc
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
            # Pages mapped rather than copied into the connection's cache: a write-back elsewhere makes
            # SQLite drop that cache at the next read, and re-reading through mmap is cheap (recall p50
            # with writes going on: 3.1 -> 2.1 ms at 10,000 memories).
            conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _locked(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        with self._lock:
            if self._closed:
                raise MemoryServiceError("the local memory store is closed")
            try:
                if self._conn is None:
                    self._conn = self._open()
                return work(self._conn)
            except (sqlite3.Error, OSError) as exc:  # OSError: the directory cannot be made
                raise MemoryServiceError(f"local memory store: {exc}") from exc

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
                for statement in _SCHEMA:
                    conn.execute(statement)
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


def _counts_query(terms: int, *, capped: bool) -> str:
    """One statement for the common-word threshold and each term's number of matches.

    One statement, not one per term: every ``execute`` gives up the GIL and must get it back, and in a
    busy proxy each return can wait a whole switch interval (5 ms) for the event loop's thread. ``capped``
    counts each term only up to the threshold: past it the exact number changes nothing but the cost (a
    word in a third of 10,000 memories would be counted 3,000 times over).
    """
    limit = " LIMIT (SELECT common FROM threshold)" if capped else ""
    count = f"(SELECT count(*) FROM (SELECT 1 FROM memories_fts WHERE memories_fts MATCH ?{limit}))"
    return (
        # max(rowid) stands in for count(*): an index lookup instead of a scan of every row, and close
        # enough for a "common word" threshold (deleted rows only make it larger).
        "WITH threshold AS (SELECT CAST(coalesce(max(rowid), 0) * ? AS INTEGER) + 1 AS common FROM memories) "
        f"SELECT common, {', '.join([count] * terms)} FROM threshold"
    )


def _rarest(conn: sqlite3.Connection, terms: Sequence[str]) -> builtins.list[str]:
    """The few terms to search with: found somewhere, not common when rarer ones exist, rarest first.

    Document frequencies are over all memories, as bm25's are. Counting stops at the threshold; only a
    query made of common words alone (or a store so small that every word is common) needs them counted in
    full, to keep the rarest of them.
    """
    if len(terms) == 1:
        return builtins.list(terms)
    expressions = [match_expression([term]) for term in terms]
    for capped in (True, False):
        common, *counts = conn.execute(
            _counts_query(len(terms), capped=capped), (COMMON_TERM_FRACTION, *expressions)
        ).fetchone()
        found = sorted((count, term) for count, term in zip(counts, terms, strict=True) if count > 0)
        rare = [term for count, term in found if count < common]
        if rare or not found:
            return rare[:MAX_RANKED_TERMS]
    return [term for _, term in found][:MAX_RANKED_TERMS]


def _record(row: tuple[Any, ...], *, score: float = 0.0) -> MemoryRecord:
    return MemoryRecord(
        id=row[0],
        user_id=row[1],
        content=row[2],
        created_at=row[3],
        metadata=json.loads(row[4]),
        score=score,
    )
