"""The memory service's own rules: fail open on recall; write-back waits out a failing store and gives up
only what the store refuses as such; flush on close."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

import pytest

from proxy.call import Answer, Api, Call
from proxy.config import ContextRetrieval
from proxy.memory import service as service_module
from proxy.memory.service import MemoryService
from proxy.memory.stores.base import MemoryRecord, MemoryRefused, MemoryStoreError, NewMemory
from proxy.memory.turns import exchange_text

MESSAGES = [{"role": "user", "content": "my favourite colour is teal"}]


def chat(messages: list[dict[str, Any]] = MESSAGES, model: str = "m", **payload: Any) -> Call:
    return Call(api=Api.CHAT, model=model, payload={"model": model, "messages": messages, **payload})


async def remember(service: MemoryService, answer: str, call: Call | None = None, user: str = "u") -> None:
    """Recall, then write back, as the flow does for one request."""
    call = call or chat()
    service.remember_later(user, call, Answer(answer), await service.recall(user, call))


class ScriptedStore:
    """A store double: searches answer ``found`` (or raise ``error``); adds fail ``fail_adds`` times."""

    recall_mode = None

    def __init__(
        self,
        found: list[str] | None = None,
        error: BaseException | None = None,
        fail_adds: int = 0,
        batch_seconds: float = 0.0,
        broken: str | None = None,
    ):
        self.found = found or []
        self.error = error
        self.fail_adds = fail_adds
        self.batch_seconds = batch_seconds
        self.broken = broken
        self.added: list[tuple[str, str]] = []
        self.custom_ids: list[str | None] = []
        self.add_attempts = 0
        self.batches = 0
        self.closed = False
        self.failing = asyncio.Event()
        """Set once an add has failed a few times."""
        self.stored = asyncio.Event()
        """Set once an add has succeeded."""

    async def open(self) -> None:
        if self.broken:
            raise MemoryStoreError(self.broken)

    async def add_batch(self, memories: Sequence[NewMemory]) -> list[str]:
        self.batches += 1
        await asyncio.sleep(self.batch_seconds)  # a transaction takes as long whatever its size
        return [
            await self.add(m.user_id, m.content, metadata=m.metadata, custom_id=m.custom_id) for m in memories
        ]

    async def add(self, user_id: str, content: str, *, metadata: Any = None, custom_id: Any = None) -> str:
        self.add_attempts += 1
        if self.fail_adds:
            self.fail_adds -= 1
            if self.add_attempts >= 5:
                self.failing.set()
            raise MemoryStoreError("Supermemory answered 500")
        self.added.append((user_id, content))
        self.custom_ids.append(custom_id)
        self.stored.set()
        return "id"

    async def search(self, user_id: str, query: str, *, limit: int = 5) -> list[MemoryRecord]:
        if self.error:
            raise self.error
        return [MemoryRecord(str(i), user_id, text, 0.0) for i, text in enumerate(self.found)][:limit]

    async def list(self, user_id: str, *, limit: int = 100) -> list[MemoryRecord]:
        return []

    async def forget(self, user_id: str, memory_id: str | None = None) -> int:
        return 0

    async def wait_for_model(self, seconds: float) -> None: ...

    async def close(self) -> None:
        self.closed = True


@pytest.fixture(autouse=True)
def own_journal(tmp_path, monkeypatch):
    """Each test's service journals in a folder of its own (another test's leftovers would be claimed)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


async def started(store: ScriptedStore, **settings: Any) -> MemoryService:
    service = MemoryService(ContextRetrieval(**settings), store)
    await service.start()
    return service


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (MemoryStoreError("Supermemory answered 402"), "Supermemory answered 402"),
        (RuntimeError("bug"), "memory recall failed: RuntimeError"),
    ],
)
async def test_recall_fails_open(error, reason):
    service = await started(ScriptedStore(error=error))
    recall = await service.recall("u", chat())
    await service.close()
    assert (recall.status, recall.reason, recall.pins) == ("error", reason, ())


async def test_recall_is_used_and_counts_its_memories():
    service = await started(ScriptedStore(found=["likes teal", "lives in Lisbon"]))
    recall = await service.recall("u", chat())
    await service.close()
    assert recall.status == "used"
    assert recall.reason == "2 memories recalled"
    assert recall.headers == {"x-memory-status": "used", "x-memory-status-reason": "2 memories recalled"}


async def test_enabled_for_models_limits_memory_to_those_models():
    service = await started(ScriptedStore(found=["x"]), enabled_for_models=["gpt"])
    assert (await service.recall("u", chat(model="claude"))).status == "skipped"
    assert (await service.recall("u", chat(model="gpt"))).status == "used"
    await service.close()


async def test_close_flushes_what_the_store_takes(monkeypatch):
    store = ScriptedStore(batch_seconds=0.05)
    service = await started(store)
    await remember(service, "Noted.")
    await service.close()  # flushes: the write happens before close returns
    assert store.add_attempts == 1
    assert store.added == [("u", "user: my favourite colour is teal\nassistant: Noted.")]
    assert store.closed


async def test_write_back_waits_out_a_failing_store_saying_so(monkeypatch, caplog):
    """A store that fails (down, full) is tried again with backoff until it takes the write; meanwhile
    the status says memory is degraded and how many wait, and one line is logged, not one per try."""
    monkeypatch.setattr(service_module, "WRITE_BACKOFF_SECONDS", 0.001)
    monkeypatch.setattr(service_module, "MAX_BACKOFF_SECONDS", 0.002)
    store = ScriptedStore(fail_adds=30)
    service = await started(store)
    with caplog.at_level(logging.ERROR, logger="proxy.memory"):
        await remember(service, "Noted.")
        await asyncio.wait_for(store.failing.wait(), 5)
        degraded = service.degraded
        await asyncio.wait_for(store.stored.wait(), 5)
        await service.close()
    assert degraded == "memory degraded: 1 waiting (Supermemory answered 500)"
    assert store.add_attempts == 31 and len(store.added) == 1
    assert service.write_back.failed == 0 and service.degraded is None
    assert caplog.text.count("waits for the store") == 1


async def test_closing_while_the_store_fails_leaves_the_waiting_in_the_journal_at_once(monkeypatch):
    """No point waiting out the flush timeout: the journal holds every waiting exchange, and the next
    process stores them."""
    monkeypatch.setattr(service_module, "WRITE_BACKOFF_SECONDS", 0.001)
    monkeypatch.setattr(service_module, "MAX_BACKOFF_SECONDS", 0.002)
    store = ScriptedStore(fail_adds=10_000)
    service = await started(store)
    await remember(service, "Noted.")
    await asyncio.wait_for(store.failing.wait(), 30)
    started_closing = time.monotonic()
    await service.close()
    assert time.monotonic() - started_closing < service_module.FLUSH_TIMEOUT_SECONDS / 2
    later = await started(ScriptedStore())
    await later.close()
    assert later.write_back.stored == 1


class RefusingStore(ScriptedStore):
    """Refuses one memory for what it is (its data), as PostgreSQL refuses a NUL character or Supermemory a
    413, and stores the others."""

    async def add_batch(self, memories: Sequence[NewMemory]) -> list[str]:
        self.add_attempts += 1
        if any("poison" in memory.content for memory in memories):
            raise MemoryRefused("PostgreSQL memory store: invalid byte sequence")
        return await super().add_batch(memories)


async def test_a_memory_the_store_refuses_is_given_up_alone_after_bounded_attempts(monkeypatch, caplog):
    monkeypatch.setattr(service_module, "WRITE_BACKOFF_SECONDS", 0.001)
    store = RefusingStore(batch_seconds=0.01)
    service = await started(store)
    with caplog.at_level(logging.ERROR, logger="proxy.memory"):
        for text in ("fact one", "poison", "fact two", "fact three"):
            await remember(service, "Noted.", chat([turn(text)]))
        await service.close()
    assert sorted(content for _, content in store.added) == [
        exchange_text(text, "Noted.", max_chars=4000) for text in ("fact one", "fact three", "fact two")
    ]
    assert service.write_back.failed == 1
    assert "refused a memory of u 3 times, giving it up: MemoryRefused" in caplog.text


async def test_a_burst_is_stored_whole_in_batches():
    """1,300 exchanges arriving faster than one transaction takes are all stored, in far fewer batches
    (a transaction takes 50 ms here, so even a loaded machine sends many exchanges meanwhile)."""
    store = ScriptedStore(batch_seconds=0.05)
    service = await started(store)
    for n in range(1300):
        await remember(service, "Noted.", chat([turn(f"fact number {n}")]))
    assert service.write_back.pending > 0  # they queued up rather than being written one by one
    await service.close()
    assert len(store.added) == 1300
    assert store.batches <= 1300 / 10
    assert (service.write_back.stored, service.write_back.dropped) == (1300, 0)


async def test_without_a_journal_overflow_beyond_the_queue_is_counted_and_logged(monkeypatch, caplog):
    monkeypatch.setattr(service_module, "QUEUE_SIZE", 1)
    store = ScriptedStore()
    service = await started(store, journal=False)
    with caplog.at_level(logging.ERROR, logger="proxy.memory"):
        recall = await service.recall("u", chat())
        for n in range(3):  # the writer has not run yet: the second and third do not fit
            service.remember_later("u", chat([turn(f"fact {n}")]), Answer("Noted."), recall)
    await service.close()
    assert len(store.added) == 1
    assert service.write_back.dropped == 2
    assert service.status()["write_back"]["dropped"] == 2
    assert caplog.text.count("the journal takes no more") == 1  # one line with the count, not one each
    assert "1 not stored so far" in caplog.text


async def test_a_store_that_cannot_open_is_known_at_start_and_retried_when_asked():
    store = ScriptedStore(broken="local memory store: unable to open database file")
    service = await started(store)
    assert await service.problem() == "local memory store: unable to open database file"
    assert service.status()["store"]["problem"] == "local memory store: unable to open database file"
    store.broken = None  # the disk came back
    assert await service.problem() is None
    await service.close()


async def test_disabled_memory_starts_nothing_and_remembers_nothing():
    store = ScriptedStore(found=["x"])
    service = await started(store, enabled=False)
    await remember(service, "Noted.")
    recall = await service.recall("u", chat())
    await service.close()
    assert recall.status == "skipped"
    assert store.add_attempts == 0


def turn(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


async def test_a_tool_loop_is_one_memory_of_the_prompt_and_the_final_answer():
    """Three tool_use/tool_result rounds store one memory: the person's prompt and the last answer."""
    store = ScriptedStore()
    service = await started(store)
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "text", "text": "<system-reminder>date</system-reminder>"},
                                     {"type": "text", "text": "Summarise my notes"}]},
    ]  # fmt: skip
    for round_ in range(3):
        call = Call(api=Api.MESSAGES, model="m", payload={"messages": list(messages), "max_tokens": 100})
        recall = await service.recall("u", call)
        service.remember_later("u", call, Answer(f"Let me read file {round_}", calls_tool=True), recall)
        use = {"type": "tool_use", "id": f"t{round_}", "name": "Read", "input": {}}
        result = {"type": "tool_result", "tool_use_id": f"t{round_}", "content": "SECRET FILE"}
        messages += [{"role": "assistant", "content": [use]}, {"role": "user", "content": [result]}]
    final = Call(api=Api.MESSAGES, model="m", payload={"messages": messages, "max_tokens": 100})
    service.remember_later(
        "u", final, Answer("Your notes say: rotate keys."), await service.recall("u", final)
    )
    await service.close()
    assert store.added == [("u", "user: Summarise my notes\nassistant: Your notes say: rotate keys.")]


async def test_side_requests_neither_recall_nor_store():
    store = ScriptedStore(found=["likes teal"])
    service = await started(store)
    title = Call(
        api=Api.MESSAGES,
        model="m",
        payload={"system": [{"type": "text", "text": "Generate a concise, sentence-case title (3-7 words)"}],
                 "messages": [turn("<session>\nhello\n</session>")], "max_tokens": 32000},
    )  # fmt: skip
    probe = chat([turn("quota")], max_tokens=1)
    for call in (title, probe):
        recall = await service.recall("u", call)
        assert recall.status == "skipped"
        assert "side request" in recall.reason
        service.remember_later("u", call, Answer("Greeting"), recall)
    await service.close()
    assert store.added == []


async def test_the_same_exchange_is_stored_under_one_custom_id():
    store = ScriptedStore()
    service = await started(store)
    await remember(service, "Noted.")
    await remember(service, "Noted.")
    await remember(service, "Noted!", user="other")
    await service.close()
    assert store.custom_ids[0] == store.custom_ids[1] != store.custom_ids[2]


async def test_a_conversation_keeps_its_memory_in_place_and_adds_only_new_memory_at_its_newest_prompt():
    store = ScriptedStore(found=["user: I drive a red Volvo\nassistant: Nice."])
    service = await started(store)
    history = [turn("what car do I have?")]
    first = await service.recall("u", chat(history))
    assert [(p.message, p.where) for p in first.pins] == [(None, "system")]
    # Turn 2 extends turn 1: the same pin again, and the memory is not recalled a second time.
    history += [{"role": "assistant", "content": "A red Volvo."}, turn("and its colour?")]
    second = await service.recall("u", chat(history))
    assert second.pins == first.pins
    assert second.conversation.id == first.conversation.id
    assert "1 memory kept from earlier turns" in second.reason
    # New memory turns up: it is pinned to the prompt that recalled it, the earlier pin unchanged.
    store.found.append("user: I live in Porto\nassistant: Lovely city.")
    history += [{"role": "assistant", "content": "Red."}, turn("where do I park it?")]
    third = await service.recall("u", chat(history))
    assert third.pins[0] == first.pins[0]
    assert (third.pins[1].message, third.pins[1].where) == (4, "prefix")
    assert "Porto" in third.pins[1].text
    assert "Volvo" not in third.pins[1].text
    # A new conversation recalls afresh, into its system prompt.
    fresh = await service.recall("u", chat([turn("where do I park it?")]))
    assert fresh.conversation.id != first.conversation.id
    assert [p.message for p in fresh.pins] == [None]
    await service.close()


async def test_a_conversations_own_earlier_turns_are_not_recalled_into_it():
    store = ScriptedStore(found=["user: my favourite colour is teal\nassistant: Noted."])
    service = await started(store)
    history = [
        turn("my favourite colour is teal"),
        {"role": "assistant", "content": "Noted."},
        turn("and mine?"),
    ]
    recall = await service.recall("u", chat(history))
    await service.close()
    assert recall.pins == ()
    assert recall.status == "skipped"


async def test_a_long_earlier_turn_is_recognised_in_its_cut_memory():
    """A prompt longer than half of max_memory_chars is stored cut: it is still the conversation's own."""
    long = "please review this stack trace " * 20
    store = ScriptedStore(found=[exchange_text(long, "Looks like a null pointer.", max_chars=200)])
    service = await started(store, max_memory_chars=200)
    history = [turn(long), {"role": "assistant", "content": "Looks like a null pointer."}, turn("and now?")]
    recall = await service.recall("u", chat(history))
    await service.close()
    assert recall.pins == ()


async def test_what_is_stored_and_what_is_injected_have_a_size_cap():
    """A pasted log of megabytes is stored as at most max_memory_chars, and a huge memory (one written by
    an older version, or by another tool) is injected as at most max_context_length."""
    huge = "x" * 8_000_000
    store = ScriptedStore(found=[huge, "lives in Lisbon"])
    service = await started(store, max_memory_chars=1000, max_context_length=500)
    recall = await service.recall("u", chat([turn(huge)]))
    service.remember_later("u", chat([turn(huge)]), Answer(huge), recall)
    await service.close()
    [(_, stored)] = store.added
    assert len(stored) <= 1000 + len("user: \nassistant: ")
    assert stored.startswith("user: xxx") and "\nassistant: xxx" in stored
    assert recall.status == "used"
    assert sum(len(pin.text) for pin in recall.pins) <= 500
