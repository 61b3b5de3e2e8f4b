"""A small SQLite file that the processes of one machine share: how the conversation ledger, the console's
sign-outs and, under ``--workers``, the request records reach every worker.

Each holder opens one connection (WAL, so readers never wait for the writer; ``synchronous=NORMAL``, since
what these files hold can be lost in a power cut without harm) and uses it from one thread at a time. A
file that cannot be used is reported once per holder, never raised into a request: these files make the
proxy consistent across workers, none of them is needed to answer.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

__all__ = ["FirstFailure", "SharedFile"]


class FirstFailure:
    """Logs the first failure of a piece of shared state, saying what it costs; the rest are the same."""

    def __init__(self, logger: logging.Logger, what: str, consequence: str) -> None:
        self._logger = logger
        self._what = what
        self._consequence = consequence
        self._failed = False

    def __call__(self, doing: str, exc: BaseException) -> None:
        if not self._failed:
            self._failed = True
            self._logger.warning("the %s could not %s (%s): %s", self._what, doing, exc, self._consequence)


class SharedFile:
    """One SQLite file and its schema, connected on first use; ``failed_once`` logs the first problem."""

    def __init__(self, path: Path, schema: str, logger: logging.Logger, what: str) -> None:
        self.path = path
        self._schema = schema
        self._logger = logger
        self._what = what
        self._connection: sqlite3.Connection | None = None
        self._failure: FirstFailure | None = None
        self.lock = threading.Lock()
        """Held around each use of :meth:`connection` by a holder used from several threads."""

    def connection(self) -> sqlite3.Connection:
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=5, isolation_level=None, check_same_thread=False)
            try:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
                connection.executescript(self._schema)
            except sqlite3.Error:
                connection.close()
                raise
            self._connection = connection
        return self._connection

    def failed_once(self, doing: str, exc: BaseException, consequence: str) -> None:
        if self._failure is None:
            self._failure = FirstFailure(self._logger, f"{self._what} {self.path}", consequence)
        self._failure(doing, exc)

    def close(self) -> None:
        with self.lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
