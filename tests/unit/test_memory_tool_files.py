"""The memory tool's ``/memories``, kept in the store: each command as Anthropic's tool defines it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from proxy.memory.stores.local.store import LocalMemoryStore
from proxy.memory_tool.files import MAX_FILE_CHARS, MemoryFiles, MemoryToolError

NAMESPACE = "billing-api-3f9c1e"


@pytest.fixture
async def store() -> AsyncIterator[LocalMemoryStore]:
    memory = LocalMemoryStore(":memory:")
    yield memory
    await memory.close()


@pytest.fixture
def files(store: LocalMemoryStore) -> MemoryFiles:
    return MemoryFiles(store, NAMESPACE, {"client": "claude-code", "project": NAMESPACE})


async def test_a_file_is_created_viewed_edited_and_kept_as_a_memory(files: MemoryFiles, store) -> None:
    created = await files.execute(
        {"command": "create", "path": "/memories/notes.md", "file_text": "deploys: fridays\nowner: sam\n"}
    )
    replaced = await files.execute(
        {"command": "str_replace", "path": "/memories/notes.md", "old_str": "fridays", "new_str": "tuesdays"}
    )
    inserted = await files.execute(
        {"command": "insert", "path": "/memories/notes.md", "insert_line": 0, "insert_text": "# notes"}
    )
    viewed = await files.execute({"command": "view", "path": "/memories/notes.md"})
    ranged = await files.execute({"command": "view", "path": "/memories/notes.md", "view_range": [2, 2]})
    assert created == "File created successfully at: /memories/notes.md"
    assert "deploys: tuesdays" in replaced and replaced.startswith("The memory file has been edited.")
    assert inserted == "The file /memories/notes.md has been edited."
    assert viewed.splitlines()[1:] == [
        "     1\t# notes",
        "     2\tdeploys: tuesdays",
        "     3\towner: sam",
        "     4\t",
    ]
    assert ranged.splitlines()[1:] == ["     2\tdeploys: tuesdays"]
    [kept] = await store.list(NAMESPACE)
    assert kept.content == "# notes\ndeploys: tuesdays\nowner: sam\n"
    assert kept.metadata["memory_file"] == "/memories/notes.md" and kept.metadata["client"] == "claude-code"
    [exported] = [m async for m in store.export(NAMESPACE)]
    assert exported.custom_id == "memory-file:/memories/notes.md"


async def test_directories_are_listed_renamed_and_deleted_with_their_files(files: MemoryFiles, store) -> None:
    for path in ("/memories/a.md", "/memories/team/b.md", "/memories/team/deep/c.md"):
        await files.execute({"command": "create", "path": path, "file_text": "x" * 10})
    listing = await files.execute({"command": "view", "path": "/memories"})
    renamed = await files.execute(
        {"command": "rename", "old_path": "/memories/team", "new_path": "/memories/crew"}
    )
    moved = await files.execute({"command": "view", "path": "/memories/crew/deep/c.md"})
    deleted = await files.execute({"command": "delete", "path": "/memories/crew"})
    assert listing.splitlines()[1:] == [
        "30B\t/memories",
        "10B\t/memories/a.md",
        "20B\t/memories/team/",
        "10B\t/memories/team/b.md",
        "10B\t/memories/team/deep/",
    ]
    assert renamed == "Successfully renamed /memories/team to /memories/crew"
    assert "xxxxxxxxxx" in moved
    assert deleted == "Successfully deleted /memories/crew"
    assert [record.metadata["memory_file"] for record in await store.list(NAMESPACE)] == ["/memories/a.md"]


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ({"command": "view", "path": "/memories/../etc/passwd"}, "would escape /memories"),
        ({"command": "view", "path": "/etc/passwd"}, "must start with /memories"),
        ({"command": "view", "path": "memories/x"}, "must start with /memories"),
        ({"command": "create", "path": "/memories/a\\b", "file_text": ""}, "backslashes"),
        ({"command": "create", "path": "/memories/" + "x" * 300, "file_text": ""}, "at most 255"),
        (
            {"command": "create", "path": "/memories/big", "file_text": "x" * (MAX_FILE_CHARS + 1)},
            "a file holds",
        ),
        ({"command": "create", "path": "/memories", "file_text": ""}, "is a directory"),
        ({"command": "create", "path": "/memories/a"}, "`file_text` must be a string"),
        ({"command": "view", "path": "/memories/missing"}, "does not exist"),
        (
            {"command": "str_replace", "path": "/memories/missing", "old_str": "a", "new_str": "b"},
            "does not exist",
        ),
        ({"command": "delete", "path": "/memories"}, "Cannot delete the /memories directory"),
        ({"command": "rename", "old_path": "/memories/x", "new_path": "/tmp/x"}, "must start with /memories"),
        (
            {"command": "insert", "path": "/memories/x", "insert_line": "1", "insert_text": ""},
            "must be an integer",
        ),
        ({"command": "format", "path": "/memories"}, "Unknown command"),
    ],
)
async def test_a_bad_command_is_refused_saying_why(files: MemoryFiles, store, command, message) -> None:
    with pytest.raises(MemoryToolError, match=message):
        await files.execute(command)
    assert await store.list(NAMESPACE) == []


async def test_edits_that_cannot_be_made_say_why_and_change_nothing(files: MemoryFiles) -> None:
    await files.execute({"command": "create", "path": "/memories/a.md", "file_text": "one\ntwo\none\n"})
    with pytest.raises(MemoryToolError, match="already exists"):
        await files.execute({"command": "create", "path": "/memories/a.md", "file_text": "other"})
    with pytest.raises(MemoryToolError, match=r"Multiple occurrences .* in lines: 1, 3"):
        await files.execute(
            {"command": "str_replace", "path": "/memories/a.md", "old_str": "one", "new_str": "1"}
        )
    with pytest.raises(MemoryToolError, match="did not appear verbatim"):
        await files.execute(
            {"command": "str_replace", "path": "/memories/a.md", "old_str": "six", "new_str": "6"}
        )
    with pytest.raises(MemoryToolError, match=r"/memories/a\.md is a file"):
        await files.execute({"command": "create", "path": "/memories/a.md/b.md", "file_text": "x"})
    with pytest.raises(MemoryToolError, match=r"within the range \[0, 3\]"):
        await files.execute(
            {"command": "insert", "path": "/memories/a.md", "insert_line": 9, "insert_text": "x"}
        )
    assert "     3\tone" in await files.execute({"command": "view", "path": "/memories/a.md"})


async def test_each_namespace_has_its_own_directory(store: LocalMemoryStore) -> None:
    ours, theirs = MemoryFiles(store, "ours", {}), MemoryFiles(store, "theirs", {})
    await ours.execute({"command": "create", "path": "/memories/secret.md", "file_text": "ours only"})
    with pytest.raises(MemoryToolError, match="does not exist"):
        await theirs.execute({"command": "view", "path": "/memories/secret.md"})
    assert (await theirs.execute({"command": "view", "path": "/memories"})).splitlines()[1:] == [
        "0B\t/memories"
    ]


async def test_an_edit_reads_the_file_as_another_request_left_it(store: LocalMemoryStore) -> None:
    """Two requests of one project edit one file: each edit starts from what the file holds now."""
    first, second = MemoryFiles(store, NAMESPACE, {}), MemoryFiles(store, NAMESPACE, {})
    await first.execute({"command": "create", "path": "/memories/a.md", "file_text": "alpha\nbeta\n"})
    await first.execute({"command": "view", "path": "/memories/a.md"})
    await second.execute(
        {"command": "str_replace", "path": "/memories/a.md", "old_str": "beta", "new_str": "BETA"}
    )
    await first.execute(
        {"command": "str_replace", "path": "/memories/a.md", "old_str": "alpha", "new_str": "ALPHA"}
    )
    [kept] = await store.list(NAMESPACE)
    assert kept.content == "ALPHA\nBETA\n"
