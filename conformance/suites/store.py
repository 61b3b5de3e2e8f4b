"""The contract every memory store keeps, whatever is behind it: a suite to subclass once per store.

A store is reached only through :class:`~proxy.memory.stores.base.MemoryStore` here, so the same tests
hold the embedded SQLite store, the PostgreSQL store and a third party's store to one behaviour: a client's
memories are its own (no method reads or changes another's), a custom id replaces, a listing is newest
first, forgetting is exact, and recall by words ranks what matches more words higher, stems and folds, and
never obeys a query's syntax. What only one store can show (its schema, its files, its transactions)
stays in that store's own tests, beside the subclass::

    class TestMyStore(StoreSuite):
        @pytest_asyncio.fixture
        async def store(self, tmp_path):
            opened = MyStore(tmp_path / "m")
            await opened.open()
            yield opened
            await opened.close()
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from proxy.memory.stores.base import ExportableStore, MemoryRecord, MemoryStore, NewMemory, UserMemories

__all__ = ["FILLER", "HOSTILE_QUERIES", "StoreSuite"]

FILLER = [
    "we talked about the weather in spring",
    "the build failed because of a missing dependency",
    "lunch was a sandwich with cheese",
    "the meeting moved to thursday afternoon",
    "a bug in the parser was fixed",
    "the train was late again",
]
"""Memories that match none of the contract's questions: a store must rank past them."""

HOSTILE_QUERIES = [
    'what\'s "x" AND (y',
    '"',
    '""""',
    "(",
    ")",
    "x AND",
    "OR OR OR",
    "NOT teal",
    "NEAR(teal colour, 2)",
    "teal NEAR/3 colour",
    "x & !y | z:*",
    "*",
    "teal*",
    "^teal",
    "content: teal",
    "{content}: teal",
    "col:umn",
    "-teal +colour",
    "'; DROP TABLE memories; --",
    "\x00\x01\x02",
    "🦜🦜 emoji only",
    "日本語の質問",
    "Zürich straße naïve café",
    "नमस्ते दुनिया",
    "\u0301\u0301 combining marks",
    "a" * 5000,
    " ".join(f"word{n}" for n in range(500)),
    "",
    "   \n\t ",
]
"""Query syntax of the engines stores are built on (FTS5, tsquery, SQL), control characters, scripts
without spaces, and sizes: a query is words to look for, never a command nor a reason to fail."""


def contents(records: list[MemoryRecord]) -> list[str]:
    return [record.content for record in records]


@pytest.mark.asyncio
class StoreSuite:
    """Subclass it and give it a ``store`` fixture: an opened store with no memories."""

    @pytest_asyncio.fixture
    async def store(self) -> AsyncIterator[MemoryStore]:
        raise NotImplementedError("a StoreSuite subclass gives the store under test")
        yield  # pragma: no cover

    async def test_recalls_a_clients_own_memory_and_never_another_clients(self, store: MemoryStore) -> None:
        for text in FILLER:
            await store.add("alice", text)
        teal = await store.add("alice", "my favourite colour is teal")
        await store.add("bob", "my favourite colour is crimson")

        found = await store.search("alice", "what is my favourite colour?")

        assert (found[0].id, found[0].content, found[0].user_id) == (
            teal,
            "my favourite colour is teal",
            "alice",
        )
        assert found[0].signal == "words"
        assert all(record.user_id == "alice" for record in found)
        assert contents(await store.search("bob", "favourite colour")) == ["my favourite colour is crimson"]
        assert await store.search("carol", "what is my favourite colour?") == []

    async def test_no_method_reads_or_changes_another_clients_memories(self, store: MemoryStore) -> None:
        secret = await store.add("alice", "the vault code is 8812", custom_id="vault")
        await store.add("bob", "bob's notes")

        assert await store.search("bob", "vault code 8812") == []
        assert "the vault code is 8812" not in contents(await store.list("bob", limit=1000))
        assert await store.forget("bob", secret) == 0
        assert await store.add("bob", "bob's vault", custom_id="vault") != secret  # bob's own, not alice's
        assert await store.forget("bob") == 2
        assert contents(await store.list("alice")) == ["the vault code is 8812"]

    async def test_a_listing_is_per_client_newest_first_with_a_limit(self, store: MemoryStore) -> None:
        for n in range(5):
            await store.add("alice", f"alice note {n}")
        await store.add("bob", "bob note")

        listed = await store.list("alice")

        assert contents(listed) == [f"alice note {n}" for n in reversed(range(5))]
        assert [record.score for record in listed] == [0.0] * 5
        assert listed[0].created_at >= listed[-1].created_at
        assert contents(await store.list("alice", limit=2)) == ["alice note 4", "alice note 3"]
        assert contents(await store.list("bob")) == ["bob note"]
        assert await store.list("alice", limit=0) == []
        # One batch may share its time: the order it was written in still decides.
        await store.add_batch([NewMemory("carol", f"carol note {n}") for n in range(3)])
        assert contents(await store.list("carol")) == ["carol note 2", "carol note 1", "carol note 0"]

    async def test_forget_one_then_all_only_within_the_client(self, store: MemoryStore) -> None:
        first = await store.add("alice", "the wifi password is swordfish")
        await store.add("alice", "the door code is 1234")
        await store.add("bob", "bob likes swordfish steaks")

        assert await store.forget("alice", first) == 1
        assert await store.forget("alice", first) == 0
        assert await store.forget("alice", "not-an-id") == 0
        assert contents(await store.search("alice", "swordfish")) == []
        assert contents(await store.list("alice")) == ["the door code is 1234"]
        assert await store.forget("alice") == 1
        assert await store.list("alice") == []
        assert contents(await store.search("bob", "swordfish")) == ["bob likes swordfish steaks"]

    async def test_pruning_keeps_the_newest_and_the_recent_of_one_client_only(
        self, store: MemoryStore
    ) -> None:
        await store.add_batch(
            [NewMemory("alice", f"alice note {n}", created_at=1_000.0 + n) for n in range(6)]
        )
        await store.add_batch([NewMemory("bob", f"bob note {n}", created_at=1_000.0 + n) for n in range(3)])

        assert await store.prune("alice") == 0  # no limit, nothing pruned
        assert await store.prune("alice", keep=4) == 2
        assert contents(await store.list("alice")) == [f"alice note {n}" for n in (5, 4, 3, 2)]
        assert await store.prune("alice", before=1_004.0) == 2
        assert contents(await store.list("alice")) == ["alice note 5", "alice note 4"]
        assert set(contents(await store.search("alice", "alice note"))) == {"alice note 5", "alice note 4"}
        assert len(await store.list("bob")) == 3  # another client's memories are untouched

    async def test_a_custom_id_replaces_within_a_client_and_keeps_the_id(self, store: MemoryStore) -> None:
        first = await store.add("alice", "the project is called falcon", custom_id="doc-1")
        again = await store.add("alice", "the project is called osprey", custom_id="doc-1", metadata={"v": 2})
        bobs = await store.add("bob", "bob's project is called heron", custom_id="doc-1")
        other = await store.add("alice", "unrelated note", custom_id="doc-2")

        assert again == first
        assert len({first, bobs, other}) == 3
        assert contents(await store.search("alice", "falcon")) == []  # the index forgot the old text
        assert contents(await store.search("alice", "project osprey")) == ["the project is called osprey"]
        assert [r.metadata for r in await store.list("alice") if r.id == first] == [{"v": 2}]
        assert contents(await store.search("bob", "project")) == ["bob's project is called heron"]

    async def test_metadata_round_trips_and_bad_metadata_stores_nothing(self, store: MemoryStore) -> None:
        await store.add(
            "alice", "tabs over spaces", metadata={"model": "gpt-4o", "turn": 3, "tags": ["style"]}
        )

        [record] = await store.list("alice")

        assert record.metadata == {"model": "gpt-4o", "turn": 3, "tags": ["style"]}
        with pytest.raises(TypeError):
            await store.add("alice", "never stored", metadata={"when": object()})
        assert contents(await store.list("alice")) == ["tabs over spaces"]

    async def test_a_search_reports_the_same_memory_as_a_listing(self, store: MemoryStore) -> None:
        """Times and scores come back with all their digits (SQLite's JSON would round them to 15)."""
        await store.add("alice", "my favourite colour is teal", metadata={"turn": 1})
        [listed] = await store.list("alice")
        [found] = await store.search("alice", "favourite colour")
        assert found.created_at == listed.created_at
        assert (found.id, found.content, found.metadata) == (listed.id, listed.content, listed.metadata)
        assert found.score > 0

    @pytest.mark.parametrize("query", HOSTILE_QUERIES)
    async def test_hostile_queries_never_raise(self, store: MemoryStore, query: str) -> None:
        await store.add("alice", "my favourite colour is teal")
        await store.add("alice", "x and y are near the content column")
        await store.add("bob", "bob's colour is teal too")

        found = await store.search("alice", query)

        assert all(record.user_id == "alice" for record in found)

    async def test_operators_in_a_query_are_plain_words(self, store: MemoryStore) -> None:
        """Search syntax in the text is searched for as words, never obeyed."""
        await store.add("alice", "the store is NEAR the station")
        await store.add("alice", "my favourite colour is teal")

        assert contents(await store.search("alice", "NEAR(")) == ["the store is NEAR the station"]
        # As syntax, NOT would exclude teal; as a (stop)word it is ignored and teal is found.
        assert contents(await store.search("alice", "NOT teal")) == ["my favourite colour is teal"]
        assert contents(await store.search("alice", 'what\'s "teal" AND (colour')) == [
            "my favourite colour is teal"
        ]

    @pytest.mark.parametrize("query", ["", "   ", "?!.,", "what is it?", "The AND of THE"])
    async def test_a_query_without_searchable_words_recalls_nothing(
        self, store: MemoryStore, query: str
    ) -> None:
        await store.add("alice", "it is what it is, and the end of the story")

        assert await store.search("alice", query) == []

    async def test_more_matching_words_rank_higher(self, store: MemoryStore) -> None:
        for text in FILLER:
            await store.add("alice", text)
        one = await store.add("alice", "kayak trip planned")
        three = await store.add("alice", "kayak trip to norway fjords planned")
        two = await store.add("alice", "kayak trip to norway planned")

        found = await store.search("alice", "kayak norway fjords")

        assert [record.id for record in found] == [three, two, one]
        scores = [record.score for record in found]
        assert scores[0] > scores[1] > scores[2] > 0

    async def test_search_stems_folds_splits_and_keeps_to_its_limit(self, store: MemoryStore) -> None:
        for text in FILLER:
            await store.add("alice", text)
        await store.add("alice", "she loves the colours of autumn")
        await store.add("alice", "we met at a café in Zürich")
        await store.add("alice", "the config lives in /etc/kestrel/settings.yaml")

        assert contents(await store.search("alice", "favourite colour")) == [
            "she loves the colours of autumn"
        ]
        assert contents(await store.search("alice", "cafe zurich")) == ["we met at a café in Zürich"]
        assert contents(await store.search("alice", "kestrel settings")) == [
            "the config lives in /etc/kestrel/settings.yaml"
        ]
        assert len(await store.search("alice", "the weather build lunch meeting parser train", limit=3)) == 3
        assert await store.search("alice", "weather", limit=0) == []

    async def test_a_word_in_most_memories_counts_only_when_nothing_rarer_does(
        self, store: MemoryStore
    ) -> None:
        """Common words would match (and make recall rank) nearly everything; a rarer word decides."""
        await store.add_batch([NewMemory("alice", f"project status update number {n}") for n in range(20)])
        await store.add("alice", "project kestrel launches in may")

        assert contents(await store.search("alice", "project kestrel")) == ["project kestrel launches in may"]
        assert len(await store.search("alice", "project", limit=50)) == 21
        assert len(await store.search("alice", "status update", limit=50)) == 20  # all common: all count

    async def test_when_every_word_is_common_the_rarest_of_them_still_leads(self, store: MemoryStore) -> None:
        """In a small store every word passes the common threshold; the words must still be ranked by
        their real frequency, not by their spelling."""
        for _ in range(4):
            await store.add("alice", "alpha bravo charlie delta echo foxtrot")
        await store.add("alice", "the zulu key is 42")

        found = await store.search("alice", "alpha bravo charlie delta echo foxtrot zulu")

        assert found[0].content == "the zulu key is 42"

    async def test_a_question_asked_before_is_found_by_its_answer_not_by_asking_again(
        self, store: MemoryStore
    ) -> None:
        """An exchange in which the person only asked holds its answer: by words, as by meaning, it is
        found by what answered it. Its question shares every word with the same question asked again, and
        would take a place from the memory that answers it."""
        for text in FILLER:
            await store.add("alice", text)
        asked = await store.add("alice", "user: How long has Nate had his turtles?\nassistant: ok")
        answered = await store.add(
            "alice", "user: How long has Nate kept turtles?\nassistant: Nate has kept his turtle for years."
        )
        told = await store.add("alice", "user: Nate: I got my turtles three years ago.\nassistant: ok")

        found = [record.id for record in await store.search("alice", "How long has Nate had his turtles?")]

        assert asked not in found
        assert set(found) == {answered, told}

    @pytest.mark.parametrize(
        "between",
        [NewMemory("bob", "bob's shop sells turtles"), NewMemory("alice", "oh thanks, that is kind of her")],
        ids=["right-after", "two-after"],
    )
    async def test_the_memory_after_a_word_match_rises_among_the_matches(
        self, store: MemoryStore, between: NewMemory
    ) -> None:
        """A turn often answers the one before it, which holds the question's words, and an answer may come
        a turn later still ("Where did you get them?" - "Oh, thanks!" - "At the shop"): the client's memory
        right after a word match, or the one after that, ranks higher among the memories found. Another
        client's memory stored between them is not a neighbour, and a memory that shares nothing with the
        question is not recalled."""
        await store.add_batch([NewMemory("alice", f"{text} ({n})") for n in range(4) for text in FILLER])
        louder = await store.add("alice", "the shop by the station is a shop for every shop need")
        await store.add("alice", "the train was late again")
        asked = await store.add("alice", "Joanna asked about my turtles")
        await store.add(between.user_id, between.content)
        answer = await store.add("alice", "I got them at the shop three years ago")
        await store.add("alice", "we talked about the weather in autumn")

        found = [record.id for record in await store.search("alice", "which shop sold the turtles?")]

        assert set(found) == {asked, answer, louder}
        assert found.index(answer) < found.index(louder)  # by words alone "shop" x3 ranks first
        assert [record.id for record in await store.search("alice", "turtles")] == [asked]

    async def test_a_when_question_ranks_the_memory_that_says_when_first(self, store: MemoryStore) -> None:
        """Asked when, the memory that states a time answers, though another matches more of the words;
        asked anything else, the words decide."""
        await store.add_batch([NewMemory("alice", text) for text in FILLER])
        louder = await store.add("alice", "Miso the kitten chases the kitten toys all day")
        told = await store.add("alice", "got Miso from the shelter last spring")

        found = [record.id for record in await store.search("alice", "When did I adopt the kitten Miso?")]
        assert found[:2] == [told, louder]
        found = [record.id for record in await store.search("alice", "What does the kitten Miso chase?")]
        assert found[0] == louder

    async def test_a_question_ranks_by_the_asking_clients_memories_only(self, store: MemoryStore) -> None:
        """How rare a word is counts within the client: another client full of the question's words
        changes nothing about what this one recalls."""
        question = "Where should I go surfing this weekend near where I live?"
        await store.add("x", "I live in Lisbon and I love surfing")
        alone = contents(await store.search("x", question))
        await store.add_batch([NewMemory("y", f"surfing near where we live, session {n}") for n in range(30)])
        await store.add("y", "shall we go somewhere near this weekend?")
        assert alone == ["I live in Lisbon and I love surfing"]
        assert contents(await store.search("x", question)) == alone
        assert all(r.user_id == "y" for r in await store.search("y", question, limit=50))

    async def test_many_calls_at_once_from_one_event_loop(self, store: MemoryStore) -> None:
        await asyncio.gather(*(store.add("alice", f"parallel fact {n}") for n in range(20)))
        found = await asyncio.gather(*(store.search("alice", f"parallel fact {n}") for n in range(20)))
        assert all(records for records in found)
        assert len(await store.list("alice", limit=100)) == 20

    async def test_an_exportable_store_names_its_clients_and_exports_oldest_first(
        self, store: MemoryStore
    ) -> None:
        if not isinstance(store, ExportableStore):
            pytest.skip(
                f"{type(store).__name__} cannot list its clients (memory-proxy memories export refuses it)"
            )
        await store.add_batch(
            [
                NewMemory("alice", "an old fact", created_at=1_000.0, custom_id="old"),
                NewMemory("alice", "a newer fact", {"turn": 2}, created_at=2_000.0),
                NewMemory("bob", "bob's only fact", created_at=1_500.0),
            ]
        )
        assert await store.users() == [UserMemories("alice", 2, 2_000.0), UserMemories("bob", 1, 1_500.0)]
        exported = [memory async for memory in store.export("alice")]
        assert [(m.content, m.created_at, m.custom_id, m.metadata) for m in exported] == [
            ("an old fact", 1_000.0, "old", {}),
            ("a newer fact", 2_000.0, None, {"turn": 2}),
        ]
        everyone = [(memory.user_id, memory.content) async for memory in store.export(None)]
        assert everyone == [("alice", "an old fact"), ("alice", "a newer fact"), ("bob", "bob's only fact")]
