"""What the proxy did for its last few hundred requests, kept in this process for the console.

Each completion request leaves one :class:`RequestRecord`: who sent it, for which model, what memory did
and why, how long recall and the provider took, and what the client was answered. The flow fills a
:class:`RequestTrace` as it goes (a request can fail at any step, and the record says how far it got)
and hands the finished record to :class:`Activity`, which keeps the newest ``KEPT_REQUESTS`` in a ring
and passes each to the metrics. Nothing is written to disk but, under ``--workers``, the run's own
records file (:mod:`proxy.shared_records`, removed when the run ends): the records hold what people asked
and what memory was injected, which is the user's to see in the console, not a log file's.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from proxy.identification import ClientIdentity
from proxy.memory.conversations import Pin
from proxy.memory.secrets import mask_secrets
from proxy.memory.service import Recall
from proxy.shared_records import SharedRecords, StoreRecords

__all__ = ["KEPT_REQUESTS", "Activity", "InjectedBlock", "RequestRecord", "RequestTrace", "identified_by"]

KEPT_REQUESTS = 500
"""Requests the console can show; the oldest goes when another comes."""

CLIENTS_SEEN = 10_000
"""Clients whose last request time is kept (the least recent goes first)."""

QUERY_CHARS = 500
"""How much of the recall query a record keeps (enough to see why something was or was not found)."""

INJECTED_CHARS = 20_000
"""How much injected memory a record keeps, all blocks together: a long conversation carries a block per
turn that recalled something, and 500 records must stay a few megabytes at most."""

ERROR_CHARS = 2_000

MODEL_CHARS = 200
"""A model name as a record keeps it (a client may send any string, of megabytes, as a model)."""


@dataclass(frozen=True)
class InjectedBlock:
    """One block of memory the provider saw: where it was placed, and its text."""

    where: str
    """``system``, or ``prefix``/``suffix`` of the user turn at ``message``."""
    message: int | None
    text: str

    @classmethod
    def of(cls, pin: Pin) -> InjectedBlock:
        return cls(pin.where, pin.message, pin.text)


@dataclass(frozen=True)
class RequestRecord:
    """One completion request, as the console and the metrics see it."""

    id: int
    at: float
    """When it arrived, in seconds since the epoch."""
    surface: str
    """``chat`` (OpenAI) or ``messages`` (Anthropic)."""
    user_id: str
    identified_by: str
    model: str | None
    """None when the body was refused before a model was known."""
    stream: bool
    status_code: int
    memory_status: str | None
    """``used``, ``skipped`` or ``error``; None when the request ended before recall."""
    memory_reason: str | None
    recall_ms: float | None
    upstream_ms: float | None
    """Until the provider's answer (a stream: its first chunk) reached the proxy."""
    total_ms: float
    """Until the proxy answered (a stream: until it ended)."""
    error: str | None = None
    """Why the request failed; for a stream that began (status 200), why it did not end whole."""
    query: str | None = None
    injected: tuple[InjectedBlock, ...] = ()
    request_line: str = ""
    peer: str = ""
    project: str | None = None
    """The project's id, when the request was in one."""
    person: str | None = None
    """Whose key it came with, on a proxy with a key per person (:mod:`proxy.people`)."""

    @property
    def seen_as(self) -> str:
        """The client, inside its person's memory: the console's list of who was seen."""
        return f"{self.person}:{self.user_id}" if self.person is not None else self.user_id

    def summary(self) -> dict[str, Any]:
        """The record without what it injected, for a list."""
        body = asdict(self)
        del body["injected"]
        body["injected_blocks"] = len(self.injected)
        return body

    def detail(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_fields(cls, request_id: int, fields: dict[str, Any]) -> RequestRecord:
        """A record as :func:`dataclasses.asdict` gave it (another worker's), under ``request_id``."""
        injected = tuple(InjectedBlock(**block) for block in fields.get("injected", ()))
        return cls(**{**fields, "id": request_id, "injected": injected})


def identified_by(identity: ClientIdentity) -> str:
    """How the client was recognised, in words: the custom header, a header pattern, or neither."""
    if identity.custom_header_present:
        return "its user id header"
    if identity.matched_pattern is not None:
        pattern = identity.matched_pattern
        return f"header {pattern.header} matching {pattern.pattern!r}"
    return "no header: the default user id"


@dataclass
class RequestTrace:
    """A request on its way through the flow: each step notes what it learnt, :meth:`finish` seals it."""

    surface: str
    identity: ClientIdentity
    at: float = field(default_factory=time.time)
    started: float = field(default_factory=time.perf_counter)
    model: str | None = None
    stream: bool = False
    recall: Recall | None = None
    recall_ms: float | None = None
    upstream_ms: float | None = None
    request_line: str = ""
    """``METHOD /path`` (for the terminal's line per request)."""
    peer: str = ""
    """The client's address and port, as uvicorn's access log shows it."""
    project: str | None = None
    person: str | None = None

    def parsed(self, model: str, stream: bool) -> None:
        self.model, self.stream = model[:MODEL_CHARS], stream

    def recalled(self, recall: Recall, seconds: float) -> None:
        self.recall, self.recall_ms = recall, seconds * 1000

    def answered(self, seconds: float) -> None:
        self.upstream_ms = seconds * 1000

    def finish(self, request_id: int, status_code: int, error: str | None = None) -> RequestRecord:
        recall = self.recall
        query = recall.query if recall is not None else None
        return RequestRecord(
            id=request_id,
            at=self.at,
            surface=self.surface,
            user_id=self.identity.user_id,
            identified_by=identified_by(self.identity),
            model=self.model,
            stream=self.stream,
            status_code=status_code,
            memory_status=recall.status if recall is not None else None,
            memory_reason=recall.reason if recall is not None else None,
            recall_ms=self.recall_ms,
            upstream_ms=self.upstream_ms,
            total_ms=(time.perf_counter() - self.started) * 1000,
            error=error[:ERROR_CHARS] if error else None,
            query=mask_secrets(query[:QUERY_CHARS]) if query else None,  # shown in the console
            injected=_kept_blocks(recall.pins) if recall is not None else (),
            request_line=self.request_line,
            peer=self.peer,
            project=self.project,
            person=self.person,
        )


def _kept_blocks(pins: tuple[Pin, ...]) -> tuple[InjectedBlock, ...]:
    """The blocks, the newest kept whole first (the turn's own recall is what a reader looks for); the
    older ones are cut to what :data:`INJECTED_CHARS` leaves, saying how much was cut."""
    room = INJECTED_CHARS
    kept: list[InjectedBlock] = []
    for pin in reversed(pins):
        text = pin.text
        if len(text) > room:
            text = f"{text[:room]}… ({len(pin.text) - room:,} more characters not kept by the console)"
        room = max(0, room - len(pin.text))
        kept.append(InjectedBlock(pin.where, pin.message, text))
    return tuple(reversed(kept))


class Activity:
    """The newest requests of this process, and who else hears of each one (the metrics)."""

    def __init__(
        self,
        *,
        kept: int = KEPT_REQUESTS,
        listeners: tuple[Callable[[RequestRecord], None], ...] = (),
        shared: SharedRecords | StoreRecords | None = None,
    ) -> None:
        self._shared = shared
        """Every process's records (a ``--workers`` run's, or every host's on PostgreSQL): what the console
        reads, when it can."""
        self._records: deque[RequestRecord] = deque(maxlen=kept)
        self._last_seen: OrderedDict[str, float] = OrderedDict()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._listeners = listeners

    def record(self, trace: RequestTrace, status_code: int, error: str | None = None) -> RequestRecord:
        with self._lock:
            finished = trace.finish(next(self._ids), status_code, error)
            self._records.append(finished)
            self._last_seen[finished.seen_as] = finished.at
            self._last_seen.move_to_end(finished.seen_as)
            if len(self._last_seen) > CLIENTS_SEEN:
                self._last_seen.popitem(last=False)
        if self._shared is not None:
            self._shared.add(finished, finished.seen_as)
        for listener in self._listeners:
            listener(finished)
        return finished

    async def recent(self, limit: int = KEPT_REQUESTS) -> list[RequestRecord]:
        """Newest first (every process's, when they share their records)."""
        rows = await self._shared.recent(limit) if self._shared is not None else None
        if rows is not None:
            return [RequestRecord.from_fields(request_id, fields) for request_id, fields in rows]
        with self._lock:
            return list(itertools.islice(reversed(self._records), limit))

    async def get(self, request_id: int) -> RequestRecord | None:
        if self._shared is not None:
            row = await self._shared.get(request_id)
            return RequestRecord.from_fields(*row) if row is not None else None
        with self._lock:
            return next((record for record in self._records if record.id == request_id), None)

    async def last_seen(self) -> dict[str, float]:
        """When each client sent its latest request since start-up (including those the ring forgot)."""
        seen = await self._shared.last_seen() if self._shared is not None else None
        if seen is not None:
            return seen
        with self._lock:
            return dict(self._last_seen)
