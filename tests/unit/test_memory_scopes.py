"""Memory in a project: recall reads the project's memories and then the person's, each labelled; write-back
puts what the person says about themselves in the person's memory and the rest in the project's; another
project's memories are never read."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from proxy.call import Answer, Api, Call
from proxy.config import ContextRetrieval
from proxy.memory.service import PERSON_LABEL, PROJECT_LABEL, MemoryService
from proxy.memory.stores.base import NewMemory
from proxy.memory.stores.local.store import LocalMemoryStore
from proxy.scopes import Scope

BILLING = Scope(
    "billing-api-3f9c1e", "claude-code", "person:sam", "billing-api-3f9c1e", "claude-code working directory"
)
WEB = Scope("web-77aa01", "codex", "person:sam", "web-77aa01", "codex working directory")


@pytest.fixture(autouse=True)
def own_journal(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


@pytest.fixture
async def service() -> AsyncIterator[MemoryService]:
    started = MemoryService(ContextRetrieval(semantic=False), LocalMemoryStore(":memory:"))
    await started.start()
    yield started
    await started.close()


def said(text: str) -> Call:
    return Call(
        api=Api.MESSAGES, model="m", payload={"model": "m", "messages": [{"role": "user", "content": text}]}
    )


async def tell(service: MemoryService, scope: Scope | str, text: str) -> None:
    call = said(text)
    answer = Answer("noted; this is the invoice service of Acme")  # an answer about the project
    service.remember_later(scope, call, answer, await service.recall(scope, call))
    assert await service._flushed()  # stored before the next request


async def test_a_project_fact_stays_in_its_project_and_a_preference_goes_everywhere(service):
    await tell(service, BILLING, "Remember: the build tool in this project is bazel")
    await tell(service, BILLING, "I prefer tabs over spaces")

    store = service.store
    [fact] = await store.list(BILLING.namespace)
    [preference] = await store.list("person:sam")
    assert fact.content.startswith("user: Remember: the build tool in this project is bazel")
    assert (
        fact.metadata.items()
        >= {"client": "claude-code", "project": BILLING.project, "scope": "project"}.items()
    )
    assert preference.content == "user: I prefer tabs over spaces"  # the answer may be about the project
    assert (
        preference.metadata.items()
        >= {"client": "claude-code", "project": BILLING.project, "scope": "person"}.items()
    )

    elsewhere = await service.recall(WEB, said("which build tool, and tabs or spaces?"))
    block = elsewhere.pins[0].text
    assert "Acme" not in block
    assert f"({PERSON_LABEL}) user: I prefer tabs over spaces" in block
    assert "bazel" not in block

    here = await service.recall(BILLING, said("which build tool, and tabs or spaces?"))
    lines = here.pins[0].text.splitlines()[1:]
    assert lines[0].startswith(f"- ({PROJECT_LABEL}) user: Remember: the build tool")  # the project's first
    assert lines[1].startswith(f"- ({PERSON_LABEL}) user: I prefer tabs")


async def test_without_a_project_the_client_namespace_is_used_unlabelled(service):
    await tell(service, "openai-python", "I prefer tabs over spaces")
    assert [m.content[:30] for m in await service.store.list("openai-python")] == [
        "user: I prefer tabs over space"
    ]
    assert await service.store.list("person:sam") == []
    recalled = await service.recall("openai-python", said("tabs or spaces?"))
    assert "- user: I prefer tabs over spaces" in recalled.pins[0].text


async def test_a_person_named_by_a_team_proxy_is_kept_apart(service):
    kim = Scope(BILLING.namespace, "claude-code", "person:kim", BILLING.project, BILLING.project_from)
    await tell(service, BILLING, "call me Sam")
    recalled = await service.recall(kim, said("what should you call me?"))
    assert recalled.status == "skipped" and not recalled.pins


async def test_a_project_full_of_matches_leaves_room_for_the_persons(service):
    """Five project memories match the question, and so does the person's preference: the block has the
    project's first and the person's too (up to half of it), never only one side."""
    for n in range(6):
        await tell(service, BILLING, f"the editor config file number {n} of this repo uses spaces")
    await tell(service, WEB, "I prefer an editor that uses tabs")
    recalled = await service.recall(BILLING, said("which editor uses tabs or spaces?"))
    lines = recalled.pins[0].text.splitlines()[1:]
    labels = [line.split(")")[0].removeprefix("- (") for line in lines]
    assert labels == [PROJECT_LABEL] * 4 + [PERSON_LABEL]


async def test_retention_holds_each_namespace_to_its_limits_oldest_first(tmp_path):
    """max_memories and max_age_days (off by default) prune the oldest of the namespace just written to,
    and only that namespace; /memory/status counts what was pruned."""
    settings = ContextRetrieval(semantic=False, max_memories=2, max_age_days=30)
    service = MemoryService(settings, LocalMemoryStore(":memory:"))
    await service.start()
    try:
        old = NewMemory(WEB.namespace, "user: said long ago", created_at=time.time() - 40 * 86_400)
        assert service.remember_memory(old)
        for n in range(3):
            await tell(service, BILLING, f"note {n}: the invoices table is partitioned by month")
        await tell(service, WEB, "the web app is built with Astro")
        assert [m.content.split("\n")[0] for m in await service.store.list(BILLING.namespace)] == [
            "user: note 2: the invoices table is partitioned by month",
            "user: note 1: the invoices table is partitioned by month",
        ]
        assert [m.content.split("\n")[0] for m in await service.store.list(WEB.namespace)] == [
            "user: the web app is built with Astro"
        ]
        assert service.status()["write_back"]["pruned"] == 2
    finally:
        await service.close()
