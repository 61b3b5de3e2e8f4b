"""Request records that every process of a proxy writes and the console reads: its workers', its hosts'.

One process keeps its records in memory (:class:`proxy.activity.Activity`); with several, the console
would show whichever one answered it. So each process also writes its records, off the request path, where
every other one reads them, the newest :data:`proxy.activity.KEPT_REQUESTS` kept, with ids that are the
same from every process:

- :class:`StoreRecords`: the PostgreSQL store's tables, for every host (and worker) on that database;
- :class:`SharedRecords`: a SQLite file in the private folder the launcher makes for a ``--workers`` run
  (:data:`WORKERS_DIR_ENV`, removed when the run ends), for the workers of one machine.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from proxy.memory.stores.base import MemoryStoreError
from proxy.shared_file import FirstFailure, SharedFile

__all__ = ["RECORDS_FILE", "WORKERS_DIR_ENV", "RequestsTable", "SharedRecords", "StoreRecords", "workers_dir"]

logger = logging.getLogger(__name__)

WORKERS_DIR_ENV = "MEMORY_PROXY_WORKERS_DIR"
"""The folder the launcher makes for one ``--workers`` run; set only in its workers."""
RECORDS_FILE = "requests.sqlite3"
PRUNE_EVERY = 100

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (id INTEGER PRIMARY KEY AUTOINCREMENT, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS seen (client TEXT PRIMARY KEY, at REAL NOT NULL) WITHOUT ROWID;
"""
_CONSEQUENCE = "the console shows this process's requests only"


def workers_dir() -> Path | None:
    """The run's shared folder when this process is one of several workers, else None."""
    value = os.environ.get(WORKERS_DIR_ENV)
    return Path(value) if value else None


class SharedRecords:
    """The newest request records of every worker of a run, in a SQLite file of the run's folder."""

    def __init__(self, path: Path, *, kept: int, clients_seen: int) -> None:
        self._file = SharedFile(path, _SCHEMA, logger, "workers' request records")
        self._kept = kept
        self._clients_seen = clients_seen
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="request records")
        self._writes = 0

    @classmethod
    def of_this_run(cls, *, kept: int, clients_seen: int) -> SharedRecords | None:
        """The run's records when this process is one of several workers, else None."""
        run = workers_dir()
        return cls(run / RECORDS_FILE, kept=kept, clients_seen=clients_seen) if run is not None else None

    def add(self, record: Any, seen_as: str) -> None:
        """Write ``record`` (a :class:`~proxy.activity.RequestRecord`) in the records' own thread."""
        encoded = json.dumps(asdict(record), ensure_ascii=False, separators=(",", ":"))
        self._writer.submit(self._add, encoded, seen_as, record.at)

    def _add(self, encoded: str, seen_as: str, at: float) -> None:
        try:
            with self._file.lock:
                connection = self._file.connection()
                connection.execute("BEGIN IMMEDIATE")
                connection.execute("INSERT INTO requests (record) VALUES (?)", (encoded,))
                connection.execute(
                    "INSERT INTO seen (client, at) VALUES (?, ?) "
                    "ON CONFLICT (client) DO UPDATE SET at = max(at, excluded.at)",
                    (seen_as, at),
                )
                connection.execute("COMMIT")
                self._writes += 1
                if self._writes % PRUNE_EVERY == 1:
                    connection.execute(
                        "DELETE FROM requests WHERE id <= (SELECT max(id) FROM requests) - ?", (self._kept,)
                    )
                    connection.execute(
                        "DELETE FROM seen WHERE at < (SELECT at FROM seen ORDER BY at DESC LIMIT 1 OFFSET ?)",
                        (self._clients_seen - 1,),
                    )
        except (sqlite3.Error, OSError) as exc:
            self._rollback()
            self._file.failed_once("write", exc, _CONSEQUENCE)

    def _rollback(self) -> None:
        try:
            with self._file.lock:
                self._file.connection().execute("ROLLBACK")
        except (sqlite3.Error, OSError):
            pass  # nothing was begun, or the file is gone: nothing to undo

    async def recent(self, limit: int) -> list[tuple[int, dict[str, Any]]] | None:
        """The newest ``limit`` records (their ids and fields), newest first; None when unreadable."""
        query = "SELECT id, record FROM requests ORDER BY id DESC LIMIT ?"
        return await asyncio.to_thread(self._read, query, (min(limit, self._kept),))

    async def get(self, request_id: int) -> tuple[int, dict[str, Any]] | None:
        query = "SELECT id, record FROM requests WHERE id = ?"
        found = await asyncio.to_thread(self._read, query, (request_id,))
        return found[0] if found else None

    def _read(self, query: str, parameters: tuple[Any, ...]) -> list[tuple[int, dict[str, Any]]] | None:
        try:
            with self._file.lock:
                rows = self._file.connection().execute(query, parameters).fetchall()
        except (sqlite3.Error, OSError) as exc:
            self._file.failed_once("read", exc, _CONSEQUENCE)
            return None
        return [(row_id, json.loads(text)) for row_id, text in rows]

    async def last_seen(self) -> dict[str, float] | None:
        return await asyncio.to_thread(self._seen)

    def _seen(self) -> dict[str, float] | None:
        try:
            with self._file.lock:
                rows = self._file.connection().execute("SELECT client, at FROM seen").fetchall()
        except (sqlite3.Error, OSError) as exc:
            self._file.failed_once("read", exc, _CONSEQUENCE)
            return None
        return dict(rows)

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        self._file.close()


@runtime_checkable
class RequestsTable(Protocol):
    """A store that keeps request records in tables of its own (PostgreSQL's)."""

    async def keep_request(
        self, record: str, client: str, at: float, *, prune: tuple[int, int] | None
    ) -> None: ...

    async def requests(self, limit: int, request_id: int | None = None) -> list[tuple[int, str]]: ...

    async def clients_seen(self) -> dict[str, float]: ...


class StoreRecords:
    """Every host's request records, in the PostgreSQL store (written by a task of their own each)."""

    def __init__(self, store: RequestsTable, *, kept: int, clients_seen: int) -> None:
        self._store = store
        self._kept = kept
        self._clients_seen = clients_seen
        self._writes = 0
        self._writing: set[asyncio.Task[None]] = set()
        self._failed_once = FirstFailure(logger, "request records in PostgreSQL", _CONSEQUENCE)

    def add(self, record: Any, seen_as: str) -> None:
        encoded = json.dumps(asdict(record), ensure_ascii=False, separators=(",", ":"))
        self._writes += 1
        prune = (self._kept, self._clients_seen) if self._writes % PRUNE_EVERY == 1 else None
        try:
            task = asyncio.get_running_loop().create_task(self._add(encoded, seen_as, record.at, prune))
        except RuntimeError:  # no loop (a record made outside the app): this process keeps it
            return
        self._writing.add(task)
        task.add_done_callback(self._writing.discard)

    async def _add(self, encoded: str, seen_as: str, at: float, prune: tuple[int, int] | None) -> None:
        try:
            await self._store.keep_request(encoded, seen_as, at, prune=prune)
        except MemoryStoreError as exc:
            self._failed_once("write", exc)

    async def recent(self, limit: int) -> list[tuple[int, dict[str, Any]]] | None:
        try:
            rows = await self._store.requests(min(limit, self._kept))
        except MemoryStoreError as exc:
            self._failed_once("read", exc)
            return None
        return [(row_id, json.loads(text)) for row_id, text in rows]

    async def get(self, request_id: int) -> tuple[int, dict[str, Any]] | None:
        try:
            rows = await self._store.requests(1, request_id)
        except MemoryStoreError as exc:
            self._failed_once("read", exc)
            return None
        return (rows[0][0], json.loads(rows[0][1])) if rows else None

    async def last_seen(self) -> dict[str, float] | None:
        try:
            return await self._store.clients_seen()
        except MemoryStoreError as exc:
            self._failed_once("read", exc)
            return None
