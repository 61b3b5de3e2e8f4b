"""Request records that every worker of a ``start-proxies --workers N`` run writes and reads.

One process keeps its records in memory (:class:`proxy.activity.Activity`); under ``--workers`` the
console would then show whichever worker answered it. The launcher gives its workers a private folder for
the run (:data:`WORKERS_DIR_ENV`, removed when the run ends), and each worker also writes its records to a
SQLite file there, off the request path, which the console reads: every worker's requests, newest first,
the newest :data:`proxy.activity.KEPT_REQUESTS` kept. Their ids are the file's, the same from every worker.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

from proxy.shared_file import SharedFile

__all__ = ["RECORDS_FILE", "WORKERS_DIR_ENV", "SharedRecords", "workers_dir"]

logger = logging.getLogger(__name__)

WORKERS_DIR_ENV = "MEMORY_PROXY_WORKERS_DIR"
"""The folder the launcher makes for one ``--workers`` run; set only in its workers."""
RECORDS_FILE = "requests.sqlite3"
PRUNE_EVERY = 100

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (id INTEGER PRIMARY KEY AUTOINCREMENT, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS seen (client TEXT PRIMARY KEY, at REAL NOT NULL) WITHOUT ROWID;
"""
_CONSEQUENCE = "the console shows this worker's requests only"


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

    def recent(self, limit: int) -> list[tuple[int, dict[str, Any]]] | None:
        """The newest ``limit`` records (their ids and fields), newest first; None when unreadable."""
        return self._read(
            "SELECT id, record FROM requests ORDER BY id DESC LIMIT ?", (min(limit, self._kept),)
        )

    def get(self, request_id: int) -> tuple[int, dict[str, Any]] | None:
        found = self._read("SELECT id, record FROM requests WHERE id = ?", (request_id,))
        return found[0] if found else None

    def _read(self, query: str, parameters: tuple[Any, ...]) -> list[tuple[int, dict[str, Any]]] | None:
        try:
            with self._file.lock:
                rows = self._file.connection().execute(query, parameters).fetchall()
        except (sqlite3.Error, OSError) as exc:
            self._file.failed_once("read", exc, _CONSEQUENCE)
            return None
        return [(row_id, json.loads(text)) for row_id, text in rows]

    def last_seen(self) -> dict[str, float] | None:
        try:
            with self._file.lock:
                rows = self._file.connection().execute("SELECT client, at FROM seen").fetchall()
        except (sqlite3.Error, OSError) as exc:
            self._file.failed_once("read", exc, _CONSEQUENCE)
            return None
        return dict(rows)

    def flush(self) -> None:
        """Wait until every record handed in so far is written (the tests, and closing)."""
        self._writer.submit(lambda: None).result()

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        self._file.close()
