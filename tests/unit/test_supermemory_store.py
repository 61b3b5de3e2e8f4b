"""SupermemoryStore against the kit's fake Supermemory, in process: shapes, scoping and every failure."""

from __future__ import annotations

import pytest

from conformance.fakes import FakeSupermemory, fake_supermemory_transport
from proxy.memory.stores.base import MemoryStoreError
from proxy.memory.stores.supermemory import SupermemoryStore

BASE = "http://supermemory.test"


@pytest.fixture
def supermemory() -> FakeSupermemory:
    return FakeSupermemory()


@pytest.fixture
async def store(supermemory):
    store = SupermemoryStore(
        BASE, supermemory.api_key, transport=fake_supermemory_transport(supermemory, BASE)
    )
    yield store
    await store.close()


async def test_add_then_search_is_scoped_by_container_tag(store, supermemory):
    await store.add("alice", "user: my favourite colour is teal", metadata={"model": "m"}, custom_id="c1")
    await store.add("bob", "user: my favourite colour is red")
    [stored] = supermemory.documents("alice")
    assert (stored.custom_id, stored.metadata) == ("c1", {"model": "m"})
    found = [record.content for record in await store.search("alice", "favourite colour")]
    assert any("teal" in text for text in found)
    assert not any("red" in text for text in found)
    assert supermemory.last("/v4/profile").json == {"containerTag": "alice", "q": "favourite colour"}
    assert supermemory.last("/v4/profile").headers["authorization"] == f"Bearer {supermemory.api_key}"


async def test_profile_facts_and_search_results_are_both_used(store, supermemory):
    supermemory.static_profile["alice"] = ["Alice is a software engineer"]
    await store.add("alice", "Alice keeps bees")
    contents = [record.content for record in await store.search("alice", "bees")]
    assert "Alice is a software engineer" in contents
    assert "Alice keeps bees" in contents
    assert await store.search("alice", "   ") == []


async def test_list_and_forget(store, supermemory):
    first = await store.add("alice", "one fact")
    await store.add("alice", "another fact")
    assert sorted(record.content for record in await store.list("alice")) == ["another fact", "one fact"]
    assert await store.forget("alice", first) == 1
    assert [document.content for document in supermemory.documents("alice")] == ["another fact"]
    assert await store.forget("alice") == 1
    assert supermemory.documents("alice") == []


async def test_a_profile_fact_is_forgotten_by_the_id_recall_gave_it_and_only_in_its_own_container(
    store, supermemory
):
    supermemory.static_profile["alice"] = ["Alice is a software engineer", "Alice lives in Porto"]
    supermemory.static_profile["bob"] = ["Alice is a software engineer"]  # the same text in another container
    first = {r.content: r.id for r in await store.search("alice", "engineer")}
    again = {r.content: r.id for r in await store.search("alice", "Porto")}
    engineer = first["Alice is a software engineer"]
    assert engineer == again["Alice is a software engineer"]  # the same fact keeps its id
    assert engineer.startswith("profile-") and first["Alice lives in Porto"] != engineer

    assert await store.forget("carol", engineer) == 0  # not carol's
    assert await store.forget("alice", engineer) == 1
    assert await store.forget("alice", engineer) == 0
    assert supermemory.static_profile == {
        "alice": ["Alice lives in Porto"],
        "bob": ["Alice is a software engineer"],
    }
    forgot = supermemory.last("/v4/memories")
    assert forgot.method == "DELETE"
    assert forgot.json == {"containerTag": "alice", "content": "Alice is a software engineer"}

    await store.add("alice", "Alice keeps bees")
    assert await store.forget("alice") == 2  # the document, and the profile fact left
    assert supermemory.static_profile["alice"] == [] and supermemory.documents("alice") == []
    assert supermemory.static_profile["bob"] == ["Alice is a software engineer"]


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ({"fail_with": 401}, "Supermemory answered 401"),
        ({"fail_with": 402}, "Supermemory answered 402"),
        ({"fail_with": 429}, "Supermemory answered 429 (retry after 5s)"),
        ({"fail_with": 500}, "Supermemory answered 500"),
        ({"garbage": True}, "not JSON"),
    ],
)
async def test_failures_are_memory_store_errors(store, supermemory, fault, message):
    for name, value in fault.items():
        setattr(supermemory, name, value)
    with pytest.raises(MemoryStoreError, match=message.replace("(", r"\(").replace(")", r"\)")):
        await store.search("alice", "anything")
    with pytest.raises(MemoryStoreError):
        await store.add("alice", "x")


async def test_wrong_key_and_unreachable():
    supermemory = FakeSupermemory()
    wrong = SupermemoryStore(BASE, "wrong-key", transport=fake_supermemory_transport(supermemory, BASE))
    with pytest.raises(MemoryStoreError, match="401"):
        await wrong.search("alice", "x")
    await wrong.close()
    unreachable = SupermemoryStore("http://127.0.0.1:9", "k", timeout=1.0)
    with pytest.raises(MemoryStoreError, match="unreachable"):
        await unreachable.add("alice", "x")
    await unreachable.close()
