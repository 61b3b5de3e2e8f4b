"""What every fake shares: a thread-safe record of the requests it received, and waiting on it.

The fakes usually run in a uvicorn thread while the test thread reads ``records`` and blocks in
:meth:`Recorder.wait_for`; one condition variable guards the records and wakes waiters on every change.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

import httpx

from conformance.fakes.http import FakeRequest

__all__ = ["ReceivedRequest", "Recorder"]


@dataclass
class ReceivedRequest:
    """What reached a fake, as received (the body also parsed as JSON where it is JSON), and its status."""

    method: str
    path: str
    query: dict[str, str]
    headers: httpx.Headers
    body: bytes
    json: Any
    status: int | None = None


R = TypeVar("R", bound=ReceivedRequest)


class Recorder(Generic[R]):
    """Base of the fakes: ``records`` of type ``R`` (built from each request), lookups and waits."""

    name: ClassVar[str] = "fake"
    """How error messages name this fake."""

    def __init__(self, record_type: type[R]) -> None:
        self.records: list[R] = []
        self._record_type = record_type
        self._changed = threading.Condition()

    def _path_matches(self, record: R, path: str) -> bool:
        return record.path == path

    def requests_to(self, path: str, method: str | None = None) -> list[R]:
        """Records to ``path`` (as the fake understands paths), of ``method`` if given."""
        with self._changed:
            return [
                record
                for record in self.records
                if self._path_matches(record, path) and (method is None or record.method == method.upper())
            ]

    def last(self, path: str | None = None) -> R:
        """The most recent record (to ``path`` if given); LookupError names what was recorded instead."""
        with self._changed:
            found = self.records if path is None else self.requests_to(path)
            if not found:
                seen = [f"{record.method} {record.path}" for record in self.records]
                raise LookupError(f"{self.name}: no request to {path or 'any path'}; recorded: {seen}")
            return found[-1]

    def wait_for(
        self, predicate: Callable[[], bool], timeout: float = 5.0, *, expected: str = "the condition"
    ) -> None:
        """Block until ``predicate()`` is true; it is re-checked whenever the fake's state changes.

        Raises TimeoutError after ``timeout`` seconds, saying what was ``expected`` ("the proxy closes its
        upstream request") and listing the records. Do not call it from the event loop that runs the fake
        (respx in an async test): use :meth:`wait_for_async` there.
        """
        with self._changed:
            if not self._changed.wait_for(predicate, timeout):
                seen = [f"{r.method} {r.path} status={r.status}" for r in self.records]
                raise TimeoutError(f"{self.name}: expected {expected} within {timeout}s; records: {seen}")

    async def wait_for_async(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """:meth:`wait_for` from async code, without blocking the event loop that may run the fake.

        ``timeout`` bounds the blocking wait in a worker thread, which ``asyncio.timeout`` cannot interrupt.
        """
        await asyncio.to_thread(self.wait_for, predicate, timeout)

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def _record(self, request: FakeRequest) -> R:
        """Append a record of ``request`` (its body parsed as JSON where it is JSON) and wake waiters."""
        try:
            parsed: Any = json.loads(request.body) if request.body else None
        except ValueError:
            parsed = None
        record = self._record_type(
            method=request.method.upper(),
            path=request.path,
            query=dict(request.query),
            headers=httpx.Headers(request.headers),
            body=request.body,
            json=parsed,
        )
        with self._changed:
            self.records.append(record)
            self._changed.notify_all()
        return record

    def _answered(self, record: R, status: int) -> None:
        with self._changed:
            record.status = status
            self._changed.notify_all()
