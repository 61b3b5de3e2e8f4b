"""The shared memory store: PostgreSQL with pgvector, for several proxies (or machines) on one database.

The same store as the local one, on a server: per-client namespaces (every statement a client's call
runs filters on ``user_id``), upsert by ``(user_id, custom_id)``, recall by words and by meaning fused by
:func:`~proxy.memory.recall.ranking.fuse` with the same ``min_similarity``, vectors of what the person said
(:mod:`proxy.memory.recall.meaning`) from the process's one encoder. Why these choices:

- **psycopg 3 and its async pool**: no thread per query; a connection is checked as it is borrowed, so a
  database that restarted costs no failed recall. Imported only when this store is configured.
- **Start-up**: :meth:`open` connects once to create or migrate the schema
  (:mod:`proxy.memory.stores.postgres.schema`, under an advisory lock), then opens the pool; asked again (the
  readiness probe) it borrows a connection, which checks the database answers.
- **Writes**: a batch of write-backs is one transaction (one round trip per memory in pipeline mode);
  its vectors and word-index text are computed first on the store's own thread, off the event loop.
- **The model loading**: until it is ready recall is by words only (:attr:`recall_mode` says so) and
  memories are written without vectors; once it is, a background task gives them vectors, in batches
  locked with ``SKIP LOCKED`` so that proxies starting together split the work instead of repeating it.
- **Failures**: every database error is a :class:`~proxy.memory.stores.base.MemoryStoreError` on one line,
  the DSN's password masked (recall fails open on it upstream).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import functools
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from proxy.memory.recall.embeddings import Encoder, EncoderLoader
from proxy.memory.recall.lexical import common_count, pick_rarest
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
from proxy.memory.stores.postgres.dsn import dsn_passwords
from proxy.memory.stores.postgres.schema import (
    CLIENTS_SEEN,
    CONVERSATIONS,
    MEMORIES,
    REQUESTS,
    SIGNED_OUT,
    create_or_migrate,
)
from proxy.memory.stores.postgres.search import (
    COLUMNS,
    MEANING_BY_INDEX,
    MEANING_EXACT,
    SEARCH_BREADTH,
    counts_statement,
    indexed_text,
    search_breadth,
    search_terms,
    term_weights,
    vector_literal,
    words_statement,
)
from proxy.redaction import redact

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

__all__ = ["INSTALL_HINT", "PostgresMemoryStore"]

logger = logging.getLogger("proxy.memory.stores.postgres.store")

INSTALL_HINT = "pip install 'litellm-memory-proxy[postgres]'"
POOL_SIZE = 8
"""Connections per process at most: recalls and write-backs of one proxy side by side."""
POOL_TIMEOUT = 5.0
"""Seconds a call waits for a connection (the database down or every connection busy) before failing."""
CONNECT_TIMEOUT = 10.0
"""Seconds :meth:`PostgresMemoryStore.open` waits for its first connection (a host that never answers)."""
BACKFILL_BATCH = 64
"""Memories without a vector embedded per background step (a few hundred milliseconds of one core)."""
BACKFILL_PAUSE = 0.05
"""Seconds between background steps: room for recalls and write-backs."""

_UPSERT = f"""
INSERT INTO {MEMORIES} AS m
    (id, user_id, custom_id, content, metadata, created_at, words, embedding, embedded_by)
VALUES (%(id)s, %(user)s, %(custom_id)s, %(content)s, %(metadata)s, %(created_at)s,
        to_tsvector('english', %(words)s), %(embedding)s::vector, %(model)s)
ON CONFLICT (user_id, custom_id) DO UPDATE SET
    content = excluded.content, metadata = excluded.metadata, created_at = excluded.created_at,
    words = excluded.words,
    embedding = CASE WHEN excluded.embedding IS NULL AND m.content = excluded.content
        THEN m.embedding ELSE excluded.embedding END,
    embedded_by = CASE WHEN excluded.embedding IS NULL AND m.content = excluded.content
        THEN m.embedded_by ELSE excluded.embedded_by END
RETURNING m.id
"""
"""A memory, or the new content of the user's memory with its ``custom_id`` (its id kept). Its vector is
the new one; without one, an unchanged text keeps the old vector and a changed text loses it."""

_WITHOUT_VECTORS = f"""
SELECT user_id, seq, content FROM {MEMORIES} WHERE embedded_by IS DISTINCT FROM %s
ORDER BY seq LIMIT %s FOR UPDATE SKIP LOCKED
"""
_PUT_VECTOR = (
    f"UPDATE {MEMORIES} SET embedding = %s::vector, embedded_by = %s WHERE user_id = %s AND seq = %s"
)


EXPORT_PAGE = 1000
"""Memories an export reads per query."""
_EXPORT_PAGE = (
    f"SELECT seq, id, user_id, content, created_at, metadata, custom_id FROM {MEMORIES} "
    "WHERE user_id = %s AND (created_at, seq) > (%s, %s) ORDER BY created_at, seq LIMIT %s"
)
_EXPORT_ALL_PAGE = (
    f"SELECT seq, id, user_id, content, created_at, metadata, custom_id FROM {MEMORIES} "
    "WHERE (user_id, created_at, seq) > (%s, %s, %s) ORDER BY user_id, created_at, seq LIMIT %s"
)


class PostgresMemoryStore(EncoderBacked):
    """Memories in a PostgreSQL database (pgvector installed or installable), namespaced by ``user_id``.

    Nothing connects in the constructor: :meth:`open` (the proxy calls it at start-up) or else the first
    call does. ``semantic`` (an :class:`EncoderLoader`) adds recall by meaning.
    """

    def __init__(
        self,
        dsn: str,
        *,
        semantic: EncoderLoader | None = None,
        min_similarity: float = DEFAULT_MIN_SIMILARITY,
    ) -> None:
        self._dsn = dsn
        self._passwords = sorted(dsn_passwords(dsn), key=len, reverse=True)
        self._semantic = semantic.start() if semantic is not None else None
        self._min_similarity = min_similarity
        self._pool: AsyncConnectionPool | None = None
        self._closing: set[asyncio.Task[None]] = set()
        """Pools being closed in the background after the database went away."""
        self._opening = asyncio.Lock()
        self._closed = False
        self._backfill: asyncio.Task[None] | None = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="memory embedder")

    def __repr__(self) -> str:
        return f"PostgresMemoryStore({self._hide(self._dsn)!r})"

    async def open(self) -> None:
        """Connect, create or migrate the schema (once), and check that the database answers now."""
        async with self._connection():
            pass

    async def add(
        self,
        user_id: str,
        content: str,
        *,
        metadata: dict[str, Any] | None = None,
        custom_id: str | None = None,
    ) -> str:
        """Remember ``content`` for ``user_id``; returns its id. A ``custom_id`` already used by this user
        replaces that memory (content, metadata and time) and keeps its id."""
        return (await self.add_batch([NewMemory(user_id, content, metadata or {}, custom_id)]))[0]

    async def add_batch(self, memories: Sequence[NewMemory]) -> builtins.list[str]:
        """Remember ``memories`` (of any users) in one transaction, as :meth:`add` would each; returns their
        ids. Their vectors and index text are made on the store's own thread first."""
        if not memories:
            return []
        metadata = [json.dumps(memory.metadata) for memory in memories]  # fails here if not JSON-able
        encoder = self._encoder()
        prepare = functools.partial(_rows, memories, metadata, encoder, time.time())
        try:
            rows = await asyncio.get_running_loop().run_in_executor(self._worker, prepare)
        except RuntimeError:  # the thread has shut down
            raise MemoryStoreError("the PostgreSQL memory store is closed") from None
        async with self._connection() as conn, conn.cursor() as cursor:
            await cursor.executemany(_UPSERT, rows, returning=True)
            ids = [await _returned_id(cursor)]
            while cursor.nextset():  # one result per memory
                ids.append(await _returned_id(cursor))
            return ids

    async def search(self, user_id: str, query: str, *, limit: int = 5) -> builtins.list[MemoryRecord]:
        """This user's memories most relevant to ``query``, best first: the words it shares with them
        (``score``: idf-weighted ``ts_rank``) and, with the embedding model, its meaning (``score``: cosine
        similarity). A query with nothing to go on (no searchable words and no model) recalls nothing."""
        terms = search_terms(query)
        if limit <= 0 or not query.strip():
            return []
        encoder = self._encoder()
        vector = (await asyncio.to_thread(embed, encoder, [query]))[0] if encoder is not None else None
        async with self._connection() as conn:
            lexical = answered(await _by_words(conn, user_id, terms, max(limit, FUSED_CANDIDATES)), terms)
            dense = await self._by_meaning(conn, user_id, encoder, vector, max(limit, FUSED_CANDIDATES))
            neighbours = await _neighbours(conn, neighbour_sources(lexical, dense))
        return fuse(lexical, dense, neighbours=neighbours, query=query, limit=limit)

    async def _by_meaning(
        self,
        conn: AsyncConnection[Any],
        user_id: str,
        encoder: Encoder | None,
        vector: np.ndarray | None,
        limit: int,
    ) -> builtins.list[Candidate]:
        if encoder is None or vector is None:
            return []
        model = vector_model(encoder)
        params = {"vector": vector_literal(vector), "user": user_id, "model": model, "limit": limit}
        await conn.execute(SEARCH_BREADTH, {"breadth": str(search_breadth(limit))})
        rows = await (await conn.execute(MEANING_BY_INDEX, params)).fetchall()
        if len(rows) < limit:  # the index found too few of this client's: look at all of them
            rows = await (await conn.execute(MEANING_EXACT, params)).fetchall()
        return [Candidate(_record(row), float(row[5])) for row in rows if row[5] >= self._min_similarity]

    async def list(self, user_id: str, *, limit: int = 100) -> builtins.list[MemoryRecord]:
        """This user's memories, newest first (``score`` 0.0)."""
        if limit <= 0:
            return []
        async with self._connection() as conn:
            cursor = await conn.execute(
                f"SELECT {COLUMNS} FROM {MEMORIES} WHERE user_id = %s "
                "ORDER BY created_at DESC, seq DESC LIMIT %s",
                (user_id, limit),
            )
            return [_record(row) for row in await cursor.fetchall()]

    async def users(self) -> builtins.list[UserMemories]:
        """Every user with memories (how many, the newest one's time), by user id."""
        async with self._connection() as conn:
            cursor = await conn.execute(
                f"SELECT user_id, count(*), max(created_at) FROM {MEMORIES} GROUP BY user_id ORDER BY user_id"
            )
            return [
                UserMemories(str(user), int(count), float(newest))
                for user, count, newest in await cursor.fetchall()
            ]

    async def export(self, user_id: str | None) -> AsyncIterator[StoredMemory]:
        """Every memory of ``user_id`` (``None``: of every user, by user id), oldest first,
        :data:`EXPORT_PAGE` at a time after the last one read (user, time, then ``seq``): no page repeats
        or skips a memory, however many there are."""
        after: tuple[str, float, int] = (user_id or "", float("-inf"), 0)
        while True:
            async with self._connection() as conn:
                if user_id is not None:
                    cursor = await conn.execute(_EXPORT_PAGE, (user_id, *after[1:], EXPORT_PAGE))
                else:
                    cursor = await conn.execute(_EXPORT_ALL_PAGE, (*after, EXPORT_PAGE))
                rows = await cursor.fetchall()
            for seq, memory_id, user, content, created_at, metadata, custom_id in rows:
                yield StoredMemory(user, memory_id, content, json.loads(metadata), created_at, custom_id)
                after = (user, created_at, seq)
            if len(rows) < EXPORT_PAGE:
                return

    async def forget(self, user_id: str, memory_id: str | None = None) -> int:
        """Delete one of this user's memories, or all of them when ``memory_id`` is None; returns how many.
        Another user's id is never deleted: the id only counts inside the user's namespace."""
        where, params = (
            ("user_id = %s", [user_id])
            if memory_id is None
            else ("user_id = %s AND id = %s", [user_id, memory_id])
        )
        async with self._connection() as conn:
            cursor = await conn.execute(f"DELETE FROM {MEMORIES} WHERE {where}", params)
            return cursor.rowcount

    async def prune(self, user_id: str, *, keep: int | None = None, before: float | None = None) -> int:
        """Forget ``user_id``'s memories past its ``keep`` newest, and those made ``before``."""
        conditions: list[str] = []
        params: list[Any] = [user_id]
        if before is not None:
            conditions.append("created_at < %s")
            params.append(before)
        if keep is not None:
            conditions.append(
                f"seq NOT IN (SELECT seq FROM {MEMORIES} WHERE user_id = %s "
                "ORDER BY created_at DESC, seq DESC LIMIT %s)"
            )
            params += [user_id, keep]
        if not conditions:
            return 0
        async with self._connection() as conn:
            where = f"user_id = %s AND ({' OR '.join(conditions)})"
            cursor = await conn.execute(f"DELETE FROM {MEMORIES} WHERE {where}", params)
            return cursor.rowcount

    async def conversations(self, keys: Sequence[bytes], now: float) -> dict[bytes, str]:
        """The ledger's unexpired conversations under ``keys`` (:mod:`proxy.memory.shared_ledger`)."""
        async with self._connection() as conn:
            cursor = await conn.execute(
                f"SELECT key, conversation FROM {CONVERSATIONS} WHERE key = ANY(%s) AND expires > %s",
                (builtins.list(keys), now),
            )
            return {bytes(key): text for key, text in await cursor.fetchall()}

    async def keep_conversation(
        self, key: bytes, conversation: str, expires: float, *, prune: int | None
    ) -> None:
        """Write one ledger entry; with ``prune``, also drop the expired ones and all but the newest
        ``prune``."""
        async with self._connection() as conn:
            await conn.execute(
                f"INSERT INTO {CONVERSATIONS} (key, conversation, expires) VALUES (%s, %s, %s) "
                "ON CONFLICT (key) DO UPDATE "
                "SET conversation = excluded.conversation, expires = excluded.expires",
                (key, conversation, expires),
            )
            if prune is not None:
                await conn.execute(f"DELETE FROM {CONVERSATIONS} WHERE expires <= %s", (time.time(),))
                await conn.execute(
                    f"DELETE FROM {CONVERSATIONS} WHERE expires < (SELECT expires FROM {CONVERSATIONS} "
                    "ORDER BY expires DESC LIMIT 1 OFFSET %s)",
                    (prune - 1,),
                )

    async def keep_request(
        self, record: str, client: str, at: float, *, prune: tuple[int, int] | None
    ) -> None:
        """Write one request record (:mod:`proxy.shared_records`); with ``prune`` (records, clients),
        keep only that many of the newest."""
        async with self._connection() as conn:
            await conn.execute(f"INSERT INTO {REQUESTS} (record) VALUES (%s)", (record,))
            await conn.execute(
                f"INSERT INTO {CLIENTS_SEEN} (client, at) VALUES (%s, %s) ON CONFLICT (client) "
                f"DO UPDATE SET at = greatest({CLIENTS_SEEN}.at, excluded.at)",
                (client, at),
            )
            if prune is not None:
                records, clients = prune
                await conn.execute(
                    f"DELETE FROM {REQUESTS} WHERE id <= (SELECT max(id) FROM {REQUESTS}) - %s", (records,)
                )
                await conn.execute(
                    f"DELETE FROM {CLIENTS_SEEN} WHERE at < "
                    f"(SELECT at FROM {CLIENTS_SEEN} ORDER BY at DESC LIMIT 1 OFFSET %s)",
                    (clients - 1,),
                )

    async def requests(self, limit: int, request_id: int | None = None) -> builtins.list[tuple[int, str]]:
        """The newest ``limit`` request records (id, record), newest first; or the one with ``request_id``."""
        async with self._connection() as conn:
            if request_id is not None:
                cursor = await conn.execute(f"SELECT id, record FROM {REQUESTS} WHERE id = %s", (request_id,))
            else:
                cursor = await conn.execute(
                    f"SELECT id, record FROM {REQUESTS} ORDER BY id DESC LIMIT %s", (limit,)
                )
            return [(int(row_id), text) for row_id, text in await cursor.fetchall()]

    async def sign_out(self, session: bytes, expires: float) -> None:
        """Record a console session's digest as signed out (:mod:`proxy.signed_out`); drop the expired."""
        async with self._connection() as conn:
            await conn.execute(f"DELETE FROM {SIGNED_OUT} WHERE expires < %s", (time.time(),))
            await conn.execute(
                f"INSERT INTO {SIGNED_OUT} (session, expires) VALUES (%s, %s) "
                "ON CONFLICT (session) DO NOTHING",
                (session, expires),
            )

    async def signed_out(self, session: bytes) -> bool:
        async with self._connection() as conn:
            cursor = await conn.execute(f"SELECT 1 FROM {SIGNED_OUT} WHERE session = %s", (session,))
            return await cursor.fetchone() is not None

    async def clients_seen(self) -> dict[str, float]:
        async with self._connection() as conn:
            cursor = await conn.execute(f"SELECT client, at FROM {CLIENTS_SEEN}")
            return {client: float(at) for client, at in await cursor.fetchall()}

    async def close(self) -> None:
        """Stop the background embedding and close the pool; safe to call more than once."""
        self._closed = True
        if self._backfill is not None:
            self._backfill.cancel()
            await asyncio.gather(self._backfill, return_exceptions=True)
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()
        await asyncio.gather(*self._closing, return_exceptions=True)
        await asyncio.to_thread(self._worker.shutdown)

    def _encoder(self) -> Encoder | None:
        """The encoder once it is ready; the first call that sees it starts embedding older memories."""
        encoder = self._semantic.encoder if self._semantic is not None else None
        if encoder is not None and self._backfill is None and not self._closed:
            self._backfill = asyncio.get_running_loop().create_task(
                self._embed_older(encoder), name="memory backfill"
            )
        return encoder

    async def _embed_older(self, encoder: Encoder) -> None:
        """In the background: give every memory written without a vector (for this model) one."""
        model = vector_model(encoder)
        try:
            while True:
                async with self._connection() as conn:
                    rows = await (await conn.execute(_WITHOUT_VECTORS, (model, BACKFILL_BATCH))).fetchall()
                    if not rows:
                        return
                    texts = [content for _, _, content in rows]
                    vectors = await asyncio.get_running_loop().run_in_executor(
                        self._worker, embed, encoder, texts
                    )
                    updates = [
                        (vector_literal(vector), model, user_id, seq)
                        for (user_id, seq, _), vector in zip(rows, vectors, strict=True)
                    ]
                    async with conn.cursor() as cursor:
                        await cursor.executemany(_PUT_VECTOR, updates)
                await asyncio.sleep(BACKFILL_PAUSE)
        except (MemoryStoreError, RuntimeError):
            return  # closed, or the database went away: the next process to start carries on
        except Exception:
            logger.exception("embedding older memories failed; they stay searchable by words")

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        """A pooled connection in a transaction (committed when the block ends, rolled back if it
        raises); any database failure becomes a :class:`MemoryStoreError`."""
        pool = await self._ready()
        psycopg, psycopg_pool = _driver()
        try:
            async with pool.connection() as conn:
                yield conn
        except psycopg.Error as exc:
            if _connection_lost(exc, psycopg, psycopg_pool):
                self._forget_pool(pool)
            # What the database refuses in the memory itself (a NUL byte, a constraint), not its state.
            refused = isinstance(exc, psycopg.DataError | psycopg.IntegrityError)
            raise (MemoryRefused if refused else MemoryStoreError)(self._failure(exc)) from exc

    def _forget_pool(self, pool: AsyncConnectionPool) -> None:
        """The database went away (a connection broke, or none came in time): drop the pool, so that the
        next call connects afresh. psycopg_pool's own reconnection backs off exponentially, and kept a
        returned server unused for tens of seconds; a new pool connects at once."""
        if self._pool is not pool:
            return
        self._pool = None
        task = asyncio.get_running_loop().create_task(pool.close(timeout=0))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _ready(self) -> AsyncConnectionPool:
        """The pool, made on first use: the schema created or migrated first, on a connection of its own
        (its error says what is wrong, where a pool would only time out)."""
        if self._pool is not None:
            return self._pool
        async with self._opening:
            if self._closed:
                raise MemoryStoreError("the PostgreSQL memory store is closed")
            if self._pool is None:
                psycopg, psycopg_pool = _driver()
                try:
                    async with asyncio.timeout(CONNECT_TIMEOUT):
                        conn = await psycopg.AsyncConnection.connect(self._dsn)
                    async with conn:
                        await create_or_migrate(conn)
                except TimeoutError:
                    raise MemoryStoreError(
                        f"PostgreSQL memory store: no connection within {CONNECT_TIMEOUT:g}s"
                    ) from None
                except psycopg.Error as exc:
                    raise MemoryStoreError(self._failure(exc)) from exc
                pool = psycopg_pool.AsyncConnectionPool(
                    self._dsn,
                    min_size=1,
                    max_size=POOL_SIZE,
                    open=False,
                    check=psycopg_pool.AsyncConnectionPool.check_connection,
                    timeout=POOL_TIMEOUT,
                    name="memory",
                )
                await pool.open()
                self._pool = pool
        return self._pool

    def _failure(self, exc: BaseException) -> str:
        """A database error as one line (it may end up in a header), the DSN's password masked."""
        return self._hide(" ".join(f"PostgreSQL memory store: {exc}".split()))

    def _hide(self, text: str) -> str:
        for password in self._passwords:
            text = text.replace(password, "[REDACTED]")
        return redact(text)


def _connection_lost(exc: BaseException, psycopg: ModuleType, psycopg_pool: ModuleType) -> bool:
    """Whether ``exc`` says the server went away (a broken connection, SQLSTATE classes 08 and 57P: a
    shutdown or a crash), not that it is busy: a full pool, a deadlock or a cancelled query keep the pool."""
    if not isinstance(exc, psycopg.OperationalError) or isinstance(exc, psycopg_pool.PoolTimeout):
        return False
    state = getattr(exc, "sqlstate", None) or ""
    return not state or state.startswith(("08", "57P"))


@functools.cache
def _driver() -> tuple[ModuleType, ModuleType]:
    """psycopg and psycopg_pool, imported only when this store is used; missing, a clear error."""
    try:
        import psycopg
        import psycopg_pool
    except ImportError as exc:
        raise MemoryStoreError(
            f"context_retrieval.provider postgres needs {exc.name}: {INSTALL_HINT}"
        ) from None
    return psycopg, psycopg_pool


async def _by_words(
    conn: AsyncConnection[Any], user_id: str, terms: builtins.list[str], limit: int
) -> builtins.list[Candidate]:
    """The client's memories sharing the question's rarest words, best first."""
    if not terms:
        return []
    chosen, weights = terms, [1.0]
    if len(terms) > 1:
        params: dict[str, Any] = {"user": user_id} | {f"t{n}": term for n, term in enumerate(terms)}
        size, *counts = await (
            await conn.execute(counts_statement(len(terms), capped=True), params)
        ).fetchone()
        picked = pick_rarest(terms, counts, common_count(size))
        if picked is None:  # only common words: counted in full, the least common of them
            counts = (
                await (await conn.execute(counts_statement(len(terms), capped=False), params)).fetchone()
            )[1:]
            picked = pick_rarest(terms, counts, None) or []
        found = dict(zip(terms, counts, strict=True))
        chosen, weights = picked, term_weights([found[term] for term in picked], size)
    if not chosen:
        return []
    params = (
        {"user": user_id, "limit": limit}
        | {f"t{n}": term for n, term in enumerate(chosen)}
        | {f"w{n}": weight for n, weight in enumerate(weights)}
    )
    rows = await (await conn.execute(words_statement(len(chosen)), params)).fetchall()
    return [Candidate(_record(row), float(row[5])) for row in rows]


async def _neighbours(
    conn: AsyncConnection[Any], found: Sequence[Candidate]
) -> dict[str, tuple[builtins.list[str], builtins.list[str]]]:
    """For each of ``found``, the ids of the memories stored before and after it in its client's memories,
    nearest first, as far as :data:`~proxy.memory.recall.ranking.NEIGHBOUR_REACH` reaches, by
    ``(created_at, seq)``: one walk along the ``memories_newest`` index a side. Ids only: fusion weighs the
    memories words or meaning found, whose records it has."""
    if not found:
        return {}
    params = {"ids": list(dict.fromkeys(candidate.record.id for candidate in found))}
    rows = await (await conn.execute(_NEIGHBOURS, params)).fetchall()
    return {memory_id: (before, after) for memory_id, before, after in rows}


def _nearest(side: str) -> str:
    """The ids of the memories stored right ``before`` (or ``after``) memory ``m``, nearest first."""
    beyond, order = ("<", "DESC") if side == "before" else (">", "ASC")
    return f"""LEFT JOIN LATERAL (
    SELECT coalesce(array_agg(id ORDER BY created_at {order}, seq {order}), '{{}}') AS ids FROM (
        SELECT id, created_at, seq FROM {MEMORIES} AS n
        WHERE n.user_id = m.user_id AND (n.created_at, n.seq) {beyond} (m.created_at, m.seq)
        ORDER BY n.created_at {order}, n.seq {order} LIMIT {NEIGHBOUR_REACH[side]}
    ) AS near
) AS {side} ON true"""


_NEIGHBOURS = f"""
SELECT m.id, before.ids, after.ids
FROM unnest(%(ids)s::text[]) AS found (id)
JOIN {MEMORIES} AS m ON m.id = found.id
{_nearest("before")}
{_nearest("after")}
"""


def _rows(
    memories: Sequence[NewMemory], metadata: Sequence[str], encoder: Encoder | None, now: float
) -> builtins.list[dict[str, Any]]:
    """The upsert's parameters for each memory: its index text, and its vector when the model is ready.
    PostgreSQL's text cannot hold NUL, which is stored as U+FFFD (the write would fail otherwise)."""
    vectors = embed(encoder, [memory.content for memory in memories]) if encoder is not None else None
    model = vector_model(encoder) if encoder is not None else None
    return [
        {
            "id": uuid.uuid4().hex,
            "user": memory.user_id,
            "custom_id": memory.custom_id,
            "content": memory.content.replace("\x00", "\ufffd"),
            "metadata": encoded,
            "created_at": memory.created_at if memory.created_at is not None else now,
            "words": indexed_text(memory.content),
            "embedding": vector_literal(vectors[n]) if vectors is not None else None,
            "model": model,
        }
        for n, (memory, encoded) in enumerate(zip(memories, metadata, strict=True))
    ]


async def _returned_id(cursor: Any) -> str:
    row = await cursor.fetchone()
    assert row is not None, "an upsert returns its memory's id"
    return str(row[0])


def _record(row: Sequence[Any]) -> MemoryRecord:
    return MemoryRecord(
        id=row[0], user_id=row[1], content=row[2], created_at=row[3], metadata=json.loads(row[4])
    )
