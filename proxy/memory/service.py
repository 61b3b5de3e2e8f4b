"""The memory service: recall before a completion, write-back after it, never in the way of either.

Recall is time-boxed (``context_retrieval.timeout``) and fails open: slow, down, refusing or garbled
memory means the request goes on without context, and the answer's ``x-memory-status`` header says why.
What it recalls is pinned into the conversation (:mod:`proxy.memory.conversations`), so later turns carry
the same bytes and the provider's prompt cache keeps hitting. Write-back stores what the person said and
what the model finally answered (:mod:`proxy.memory.turns`): one memory per prompt, not per step of a
tool loop, never a client's side request, never the same exchange twice.

Write-back is off the request path and loses nothing answered: each exchange is journaled on local disk
(:mod:`proxy.memory.journal`) before its answer ends, then queued, and one writer stores what piled up while
it wrote the last batch, in one transaction per batch, so it keeps up with any request rate the proxy itself
can sustain. A store that fails (down, full, unreachable) is retried with backoff for as long as it takes,
while readiness and the status endpoint say "memory degraded: N waiting"; what the journal holds is stored
by the next process if this one stops first. Only a memory the store refuses as such (its data, not the
store's state) is given up, after a few tries. Counts are in :attr:`MemoryService.write_back` and the
status endpoint; failures are logged, never shown to the client. The store is opened at start-up, so a
broken one is reported then (and by readiness), not at the first request.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from proxy.call import Answer, Api, Call
from proxy.client_rules import client_context_of, side_requests_of
from proxy.config import ContextRetrieval, HeaderPattern
from proxy.memory.conversations import Conversation, Conversations, Pin, prefix_hashes, response_key
from proxy.memory.journal import Journal
from proxy.memory.person_wide import is_person_wide
from proxy.memory.placement import format_context
from proxy.memory.shared_ledger import (
    LEDGER_FILE,
    ConversationLedger,
    ConversationTable,
    SharedLedger,
    StoreLedger,
)
from proxy.memory.side_requests import SideRequests
from proxy.memory.stores import journal_folder, open_store
from proxy.memory.stores.base import (
    ExportableStore,
    MemoryRecord,
    MemoryRefused,
    MemoryStore,
    MemoryStoreError,
    NewMemory,
    UserMemories,
)
from proxy.memory.supermemory_router import SupermemoryRouter
from proxy.memory.turns import (
    Prompt,
    TurnReader,
    exchange_text,
    stored_prompt,
)
from proxy.redaction import redact
from proxy.scopes import Scope

__all__ = [
    "STATUS_HEADER",
    "STATUS_REASON_HEADER",
    "MemoryService",
    "Recall",
    "WriteBackCounts",
]

logger = logging.getLogger("proxy.memory")

STATUS_HEADER = "x-memory-status"
STATUS_REASON_HEADER = "x-memory-status-reason"
QUEUE_SIZE = 20_000
"""Exchanges waiting to be stored that the journal does not hold, at most (each is capped at
``max_memory_chars``); journaled ones are bounded by the journal's size."""
BATCH_SIZE = 64
"""Exchanges stored in one transaction, at most."""
WRITE_ATTEMPTS = 3
"""Tries of a memory the store refuses for what it is (not for being down) before it is given up."""
WRITE_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 5.0
"""While the store fails, it is tried again at least this often: a store that returns is used at once."""
FLUSH_TIMEOUT_SECONDS = 30.0
CLAIM_INTERVAL_SECONDS = 30.0
"""How often write-back looks for journal files a stopped process (or a failed import) left."""
PROMPT_HEAD_CHARS = 200
"""How much of each prompt a Responses conversation keeps to know its own stored exchanges by: a memory
that begins as one of them does is that exchange."""
OVERFLOW_LOG_SECONDS = 10.0
"""One log line per this many seconds while the queue overflows, not one per exchange."""


@dataclass(frozen=True)
class Recall:
    """What recall did for one request: ``used`` (memory placed), ``skipped`` or ``error``, and why.

    ``pins`` are every block of memory the request carries (those of earlier turns included);
    ``conversation`` is None when memory does not apply to the request at all (then nothing is stored);
    ``query`` is what the store was asked, when it was asked.
    """

    status: Literal["used", "skipped", "error"]
    reason: str
    pins: tuple[Pin, ...] = ()
    conversation: Conversation | None = None
    query: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {STATUS_HEADER: self.status, STATUS_REASON_HEADER: self.reason}


@dataclass
class WriteBackCounts:
    """What write-back has done since start-up: exchanges ``stored``, in how many ``batches``
    (transactions), ``failed`` (refused by the store for what they are, after retries) and ``dropped``
    (neither the journal nor the queue could take them)."""

    stored: int = 0
    batches: int = 0
    failed: int = 0
    dropped: int = 0
    writing: int = 0
    """Exchanges in the batch being written right now."""
    pending: int = 0
    """Exchanges queued behind it."""
    pruned: int = 0
    """Memories forgotten to hold a namespace to ``max_memories`` and ``max_age_days``."""


PROJECT_LABEL = "this project"
PERSON_LABEL = "about you, in every project"


def _scope(scope: Scope | str) -> Scope:
    return Scope(namespace=scope, client=scope) if isinstance(scope, str) else scope


def _shared(records: list[MemoryRecord], scope: Scope, limit: int) -> list[MemoryRecord]:
    """At most ``limit`` of ``records``: the project's first, then the person's, who get up to half of the
    block when both have more than fits (a person's matching preference is not crowded out by weaker
    project matches, nor the reverse)."""
    if scope.person is None:
        return records[:limit]
    own = [record for record in records if record.user_id != scope.person]
    person = [record for record in records if record.user_id == scope.person]
    person_room = min(len(person), max(limit - len(own), limit // 2))
    return own[: limit - person_room] + person[:person_room]


def _labelled(record: MemoryRecord, scope: Scope) -> str:
    """A recalled memory as its line says it: in a project, whether it is the project's or the person's."""
    if scope.person is None:
        return record.content
    label = PERSON_LABEL if record.user_id == scope.person else PROJECT_LABEL
    return f"({label}) {record.content}"


class MemoryService:
    """Recall and write-back for one app; :meth:`start` and :meth:`close` run in the app's lifespan."""

    def __init__(
        self,
        settings: ContextRetrieval,
        store: MemoryStore | None = None,
        *,
        supermemory_router: SupermemoryRouter | None = None,
        client_rules: Iterable[HeaderPattern] = (),
    ) -> None:
        """``client_rules`` are the configured ones, whose client context and side requests count beside
        the built-in rules' (:mod:`proxy.client_rules`)."""
        self.settings = settings
        self._store = store
        self._supermemory_router = supermemory_router
        self._queue: asyncio.Queue[tuple[int | None, NewMemory]] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._claimer: asyncio.Task[None] | None = None
        self._journal: Journal | None = None
        self._counts = WriteBackCounts()
        self._overflow_logged = float("-inf")
        self._problem: str | None = None
        self._degraded: str | None = None
        """Why the store refuses writes now (None: it takes them)."""
        self._unjournaled = 0
        """Exchanges waiting to be stored that the journal did not take: memory holds them alone."""
        patterns = settings.client_context_patterns
        self.turns = TurnReader(client_context_of(client_rules) if patterns is None else patterns)
        rules = settings.side_requests
        self.side_requests = SideRequests(side_requests_of(client_rules) if rules is None else rules)
        self.conversations = Conversations()
        self.ledger: ConversationLedger | None = None
        """What the other processes of this machine served (opened with the store)."""

    @property
    def store(self) -> MemoryStore:
        if self._store is None:
            self._store = open_store(self.settings)
        return self._store

    async def start(self) -> None:
        """Open the store (a failure is logged and kept for readiness; requests go on without memory),
        open the journal (what a stopped process left in it is stored first) and start the writer."""
        if not self.settings.enabled:
            return
        if await self.problem() is not None:
            logger.error("the memory store cannot be used: %s; requests go on without memory", self._problem)
        self._queue = asyncio.Queue()
        for entry in self._open_journal():
            self._queue.put_nowait(entry)
        self.ledger = self._open_ledger()
        self._worker = asyncio.create_task(self._write_forever(), name="memory write-back")
        if self._journal is not None:
            self._claimer = asyncio.create_task(self._claim_forever(), name="memory journal claims")

    def _open_ledger(self) -> ConversationLedger | None:
        """Where every process finds what the others served: the PostgreSQL store itself, else a file of
        this machine (none for a store in memory, which no other process can reach)."""
        store = self.store
        if isinstance(store, ConversationTable):
            return StoreLedger(store)
        if self.settings.local_store_path == ":memory:" and self.settings.provider == "local":
            return None
        return SharedLedger(journal_folder(self.settings) / LEDGER_FILE)

    def _open_journal(self) -> list[tuple[int, NewMemory]]:
        if not self.settings.journal or self.settings.local_store_path == ":memory:":
            return []
        folder = journal_folder(self.settings)
        journal = Journal(folder, max_bytes=int(self.settings.journal_max_mb * 1024 * 1024))
        try:
            recovered = journal.open()
        except OSError as exc:
            logger.error(
                "the memory journal cannot be opened in %s (%s): exchanges are kept in memory until stored",
                folder,
                exc.strerror,
            )
            return []
        self._journal = journal
        return [(number, memory) for number, memory in recovered]

    @property
    def degraded(self) -> str | None:
        """Why write-back is waiting for the store, with how many exchanges wait (None: it is not)."""
        if self._degraded is None:
            return None
        waiting = self.write_back.writing + self.write_back.pending
        return f"memory degraded: {waiting} waiting ({self._degraded})"

    async def problem(self) -> str | None:
        """Why the store cannot be used (None when it can); asked again each time until it can."""
        if not self.settings.enabled:
            return None
        try:
            await self.store.open()
        except MemoryStoreError as exc:
            self._problem = redact(str(exc))
        except Exception as exc:
            self._problem = f"the memory store failed to open: {type(exc).__name__}: {redact(str(exc))}"
        else:
            self._problem = None
        return self._problem

    @property
    def last_problem(self) -> str | None:
        """What :meth:`problem` found last time it asked (None: the store could be opened)."""
        return self._problem

    async def clients(self) -> list[UserMemories] | None:
        """Every client with memories in the store, or None when memory is off or the store cannot list
        its clients (Supermemory)."""
        if not self.settings.enabled or not isinstance(self.store, ExportableStore):
            return None
        return await self.store.users()

    @property
    def write_back(self) -> WriteBackCounts:
        """The write-back's counts so far, with the exchanges queued now."""
        pending = self._queue.qsize() if self._queue is not None else 0
        return WriteBackCounts(**{**asdict(self._counts), "pending": pending})

    def status(self) -> dict[str, Any]:
        """Memory's state for the status endpoint: the store, how recall works, what write-back did, and
        what the journal holds."""
        return {
            "enabled": self.settings.enabled,
            "store": {
                "provider": self.settings.provider,
                "problem": self._problem,
                "recall_mode": self._store.recall_mode if self._store is not None else None,
            },
            "degraded": self.degraded,
            "write_back": asdict(self.write_back),
            "journal": asdict(self._journal.counts) if self._journal is not None else None,
        }

    async def close(self) -> None:
        if self._claimer is not None:
            self._claimer.cancel()
            await asyncio.gather(self._claimer, return_exceptions=True)
            self._claimer = None
        if self._queue is not None and self._worker is not None:
            if not await self._flushed():
                waiting = self._counts.writing + self._queue.qsize()
                kept = (
                    "the journal keeps them for the next start"
                    if not self._unjournaled
                    else f"{self._unjournaled} the journal could not take are lost"
                )
                logger.error("memory write-back: %d exchanges not stored at shutdown: %s", waiting, kept)
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._queue = self._worker = None
        if self._journal is not None:
            await asyncio.to_thread(self._journal.close)
            self._journal = None
        if self.ledger is not None:
            ledger, self.ledger = self.ledger, None
            await ledger.close()
        if self._store is not None:
            await self._store.close()
            self._store = None

    async def _flushed(self) -> bool:
        """Wait (up to :data:`FLUSH_TIMEOUT_SECONDS`) for write-back to store what is queued; while the
        store fails and the journal holds every waiting exchange, there is no point: they wait there."""
        assert self._queue is not None
        deadline = time.monotonic() + FLUSH_TIMEOUT_SECONDS
        joined = asyncio.ensure_future(self._queue.join())
        try:
            while not joined.done():
                if time.monotonic() > deadline or (self._degraded is not None and not self._unjournaled):
                    return False
                await asyncio.wait({joined}, timeout=0.05)
            return True
        finally:
            joined.cancel()

    def applies_to(self, model: str) -> str | None:
        """Why memory is off for ``model`` (None when it is on); both recall and write-back ask."""
        if not self.settings.enabled:
            return "memory is disabled (context_retrieval.enabled: false)"
        if self._supermemory_router is not None and self._supermemory_router.handles(model):
            return "the Supermemory Memory Router handles memory for this model"
        if self.settings.enabled_for_models and model not in self.settings.enabled_for_models:
            return f"memory is not enabled for model {model}"
        if model in self.settings.disabled_for_models:
            return f"memory is disabled for model {model}"
        return None

    async def recall(self, scope: Scope | str, call: Call) -> Recall:
        """The memory ``call`` carries: the pins of the conversation it continues, plus a block of memories
        new to the conversation when its newest prompt recalls any (a namespace alone is its own scope)."""
        scope = _scope(scope)
        off = self.applies_to(call.model)
        if off:
            return Recall("skipped", off)
        side = self.side_requests.match(call)
        if side:
            return Recall("skipped", f"a side request of the client ({side}): no memory")
        previous = call.previous_response_id
        if previous is None:
            hashes = prefix_hashes(f"{scope.namespace}\0{call.api}", call.messages)
            earlier = await self._continued(hashes)
        else:  # the earlier turns, with the memory placed in them, are kept by the provider
            hashes = []
            earlier = self.conversations.find_response(scope.namespace, previous)
            if earlier is None and self.ledger is not None:
                found = await self.ledger.find([response_key(scope.namespace, previous)])
                earlier = found[1] if found is not None else None
        conversation = earlier or Conversation()
        new = await self._recall_new(scope, call, earlier, conversation)
        assert new.conversation is not None  # _recall_new always names the conversation
        conversation = new.conversation
        if call.api is Api.RESPONSES:  # a later turn may continue it by id, without its earlier turns
            conversation = self._asked(conversation, call)
        self._served(hashes, conversation)
        status, reason = new.status, new.reason
        kept = len(earlier.recalled) if earlier else 0
        if kept:
            reason = f"{reason}; {kept} memor{'y' if kept == 1 else 'ies'} kept from earlier turns"
        # A request that continues a stored response carries only its new input: earlier pins are already
        # in what the provider holds, and only this turn's are placed.
        pins = (
            conversation.pins
            if previous is None
            else conversation.pins[len(earlier.pins) if earlier else 0 :]
        )
        if status == "skipped" and conversation.pins:
            status = "used"
        return replace(new, status=status, reason=reason, pins=pins, conversation=conversation)

    def answered(self, scope: Scope | str, answer: Answer, recall: Recall) -> None:
        """Note that the conversation's latest answer has this id, so that a request continuing from it
        (Responses' ``previous_response_id``) is known as the same conversation."""
        if answer.response_id and recall.conversation is not None:
            key = response_key(_scope(scope).namespace, answer.response_id)
            self._served([key], recall.conversation)

    async def _continued(self, hashes: list[bytes]) -> Conversation | None:
        """The conversation a request with these prefix hashes continues: the longest earlier prefix this
        process served, unless another process served a longer one (the shared ledger)."""
        here = self.conversations.find_at(hashes)
        if self.ledger is None:
            return here[1] if here is not None else None
        # From this process's own prefix on, inclusive: another process may have served the same prefix
        # since (the same first prompt, again), and the ledger holds the newest of them.
        since = here[0] if here is not None else 0
        elsewhere = await self.ledger.find(hashes[since:-1])
        if elsewhere is not None:
            return elsewhere[1]
        return here[1] if here is not None else None

    def _served(self, hashes: list[bytes], conversation: Conversation) -> None:
        """Record the request with these hashes as served in ``conversation``, here and in the ledger."""
        self.conversations.remember(hashes, conversation)
        if hashes and self.ledger is not None:
            self.ledger.save(hashes[-1], conversation)

    async def _recall_new(
        self, scope: Scope, call: Call, earlier: Conversation | None, conversation: Conversation
    ) -> Recall:
        """What this turn's own prompt recalls that the conversation does not hold yet (the returned
        conversation holds it too)."""
        messages = call.messages
        prompt = self.turns.prompt(messages)
        if self.turns.continues_tool_loop(messages):
            reason = "the turn only hands back tool results: nothing new to recall"
            return Recall("skipped", reason, conversation=conversation)
        query = self.turns.query(messages, self.settings.query_strategy)
        if prompt is None or not query:
            return Recall(
                "skipped", "nothing to recall with (no text of the user's own)", conversation=conversation
            )
        limit = self.settings.max_results + len(conversation.recalled)
        try:
            records = await self._search(scope, query, limit)
        except TimeoutError:
            reason = f"memory recall timed out after {self.settings.timeout:g}s"
            return Recall("error", reason, conversation=conversation, query=query)
        except MemoryStoreError as exc:
            return Recall("error", redact(str(exc)), conversation=conversation, query=query)
        except Exception as exc:  # a memory failure never fails a request
            logger.exception("memory recall failed")
            reason = f"memory recall failed: {type(exc).__name__}"
            return Recall("error", reason, conversation=conversation, query=query)
        fresh = _shared(
            self._new_to(conversation, records, messages[: prompt.index]), scope, self.settings.max_results
        )
        lines = [_labelled(record, scope) for record in fresh]
        context = format_context(
            lines, max_results=self.settings.max_results, max_length=self.settings.max_context_length
        )
        mode = self.store.recall_mode
        suffix = f" ({mode})" if mode else ""
        if not context:
            return Recall("skipped", f"no matching memories{suffix}", conversation=conversation, query=query)
        count = context.count("\n")
        pin = self._pin(context, prompt, first_turn=earlier is None)
        reason = f"{count} memor{'y' if count == 1 else 'ies'} recalled{suffix}"
        recalled = [record.content for record in fresh]
        return Recall("used", reason, conversation=conversation.with_pin(pin, recalled), query=query)

    async def search(self, scope: Scope | str, query: str, *, limit: int) -> list[MemoryRecord]:
        """What ``query`` finds in the scope's memory, ranked as recall ranks what it injects (the project's
        first, then the person's); time-boxed like recall. A store that fails or is too slow raises
        :class:`MemoryStoreError` (the MCP endpoint's ``recall`` tool)."""
        scope = _scope(scope)
        try:
            records = await self._search(scope, query, limit)
        except TimeoutError:
            raise MemoryStoreError(f"memory recall timed out after {self.settings.timeout:g}s") from None
        return _shared(records, scope, limit)

    async def _search(self, scope: Scope, query: str, limit: int) -> list[MemoryRecord]:
        """Each of the scope's namespaces searched at once, within the recall timeout: the project's (or
        the only one) and the person's results, in that order."""
        namespaces = [scope.namespace] if scope.person is None else [scope.namespace, scope.person]
        async with asyncio.timeout(self.settings.timeout):
            found = await asyncio.gather(*(self.store.search(n, query, limit=limit) for n in namespaces))
        return [record for records in found for record in records]

    def _new_to(
        self, conversation: Conversation, records: list[MemoryRecord], earlier: list[dict[str, Any]]
    ) -> list[MemoryRecord]:
        """The recalled memories the conversation holds neither as pins nor as its own earlier turns
        (stored from it, or the exchanges of the prompts before the current one: those in the request, and
        those the conversation asked before, which a request continuing a stored response does not carry)."""
        own = conversation.prompts + tuple(
            stored_prompt(text, max_chars=self.settings.max_memory_chars) + "\n"
            for text in self.turns.user_texts(earlier)
        )
        return [
            record
            for record in records
            if record.content not in conversation.recalled
            and record.metadata.get("conversation") != conversation.id
            and not (own and record.content.startswith(own))
        ]

    def _asked(self, conversation: Conversation, call: Call) -> Conversation:
        """``conversation`` with the head of this call's prompt among its prompts (a tool loop's later
        steps ask nothing new)."""
        prompt = self.turns.prompt(call.messages)
        if prompt is None or self.turns.continues_tool_loop(call.messages):
            return conversation
        stored = stored_prompt(prompt.text, max_chars=self.settings.max_memory_chars) + "\n"
        return conversation.asked(stored[:PROMPT_HEAD_CHARS])

    def _pin(self, context: str, prompt: Prompt, *, first_turn: bool) -> Pin:
        strategy = self.settings.injection_strategy
        if strategy == "system" and first_turn:
            return Pin(context)
        # Later turns add to their own prompt: a change to the system prompt would void the cached prefix.
        return Pin(context, prompt.index, "suffix" if strategy == "user_suffix" else "prefix")

    def remember_later(self, scope: Scope | str, call: Call, answer: Answer, recall: Recall) -> None:
        """Queue the exchange (the person's prompt and the final answer) for storage, off the request path:
        in the person's namespace when the prompt says something about them that holds in every project
        (:mod:`proxy.memory.person_wide`), else in the request's own."""
        scope = _scope(scope)
        if self._queue is None or recall.conversation is None or not self.settings.store_conversations:
            return
        if answer.calls_tool:
            return  # a step of a tool loop: its final answer is stored with the prompt that began it
        prompt = self.turns.prompt(call.messages)
        if prompt is None or not answer.text.strip():
            return
        person_wide = scope.person is not None and is_person_wide(prompt.text)
        namespace = scope.person if person_wide and scope.person else scope.namespace
        # What the person said of themselves goes to every project; the answer, which may well be about
        # this project (its files, its people), stays out of that.
        content = (
            stored_prompt(prompt.text, max_chars=self.settings.max_memory_chars)
            if person_wide
            else exchange_text(prompt.text, answer.text, max_chars=self.settings.max_memory_chars)
        )
        # The same exchange twice (a retry, a repeated question with the same answer) is one memory.
        custom_id = "exchange_" + hashlib.sha256(f"{namespace}\0{content}".encode()).hexdigest()[:32]
        metadata: dict[str, Any] = {
            "source": "litellm-memory-proxy",
            "model": call.model,
            "conversation": recall.conversation.id,
            "client": scope.client,
        }
        if scope.project is not None:
            metadata["project"] = scope.project
            metadata["scope"] = "person" if person_wide else "project"
        self.remember_memory(NewMemory(namespace, content, metadata, custom_id))

    def remember_memory(self, memory: NewMemory) -> bool:
        """Journal ``memory`` and queue it for the store (every path that writes memory comes here).
        False when it could be neither journaled nor queued: counted as dropped and logged."""
        if self._queue is None:
            return False
        if memory.created_at is None:  # the time it was said, whether stored now or replayed later
            memory = replace(memory, created_at=time.time())
        number = self._journal.append(memory) if self._journal is not None else None
        if number is None and self._queue.qsize() >= QUEUE_SIZE:
            self._counts.dropped += 1
            now = time.monotonic()
            if now - self._overflow_logged >= OVERFLOW_LOG_SECONDS:
                self._overflow_logged = now
                logger.error(
                    "memory write-back: %d exchanges wait, the journal takes no more: %d not stored so far",
                    QUEUE_SIZE,
                    self._counts.dropped,
                )
            return False
        if number is None:
            self._unjournaled += 1
        self._queue.put_nowait((number, memory))
        return True

    async def _claim_forever(self) -> None:
        """Queue what journal files nobody holds left, from time to time (:mod:`proxy.memory.journal`)."""
        assert self._queue is not None and self._journal is not None
        while True:
            await asyncio.sleep(CLAIM_INTERVAL_SECONDS)
            try:
                claimed = await asyncio.to_thread(self._journal.claim)
            except Exception:  # the folder went away, say: the next round tries again
                logger.exception("memory journal: claiming what stopped processes left failed")
                continue
            for entry in claimed:
                self._queue.put_nowait(entry)

    async def _write_forever(self) -> None:
        """Store what is queued: whatever piled up while the last batch was written goes in the next."""
        assert self._queue is not None
        while True:
            batch = [await self._queue.get()]
            while len(batch) < BATCH_SIZE and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self._counts.writing = len(batch)
            try:
                await self._write(batch)
            finally:
                self._counts.writing = 0
                for _ in batch:
                    self._queue.task_done()

    async def _write(self, batch: list[tuple[int | None, NewMemory]]) -> None:
        """Store ``batch``, for as long as the store fails (with backoff); a batch refused for what it holds
        (:class:`~proxy.memory.stores.base.MemoryRefused`, or an error before the store) is split until the
        memory refused is found, and that one is given up after a few tries."""
        refusals = 0
        delay = WRITE_BACKOFF_SECONDS
        while True:
            try:
                await self.store.add_batch([memory for _, memory in batch])
            except MemoryRefused as exc:
                refused: Exception = exc
            except MemoryStoreError as exc:  # the store's state (down, full, unreachable): wait it out
                self._degraded = redact(str(exc))
                if delay == WRITE_BACKOFF_SECONDS:
                    logger.error("memory write-back waits for the store: %s", self._degraded)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
                continue
            except Exception as exc:  # a memory the code before the store cannot handle
                refused = exc
            else:
                if self._degraded is not None:
                    logger.warning("memory write-back: the store takes writes again")
                self._degraded = None
                self._counts.stored += len(batch)
                self._counts.batches += 1
                self._finished(batch)
                await self._prune({memory.user_id for _, memory in batch})
                return
            if len(batch) > 1:
                middle = len(batch) // 2
                await self._write(batch[:middle])
                await self._write(batch[middle:])
                return
            refusals += 1
            if refusals >= WRITE_ATTEMPTS:
                self._give_up(batch[0], refused)
                return
            await asyncio.sleep(WRITE_BACKOFF_SECONDS)

    async def _prune(self, namespaces: set[str]) -> None:
        """Hold each namespace just written to its limits (``max_memories``, ``max_age_days``; off by
        default), oldest first. A failure is logged: the limit is met at the next write."""
        keep, days = self.settings.max_memories, self.settings.max_age_days
        if keep is None and days is None:
            return
        before = time.time() - days * 86_400 if days is not None else None
        for namespace in sorted(namespaces):
            try:
                pruned = await self.store.prune(namespace, keep=keep, before=before)
            except Exception as exc:  # retention never stops write-back
                logger.warning("memory retention: pruning %s failed: %s", namespace, redact(str(exc)))
                continue
            self._counts.pruned += pruned

    def _give_up(self, entry: tuple[int | None, NewMemory], exc: BaseException) -> None:
        self._counts.failed += 1
        logger.error(
            "memory write-back: the store refused a memory of %s %d times, giving it up: %s: %s",
            entry[1].user_id,
            WRITE_ATTEMPTS,
            type(exc).__name__,
            redact(str(exc)),
        )
        self._finished([entry])

    def _finished(self, batch: list[tuple[int | None, NewMemory]]) -> None:
        self._unjournaled -= sum(1 for number, _ in batch if number is None)
        if self._journal is not None:
            self._journal.done([number for number, _ in batch if number is not None])
