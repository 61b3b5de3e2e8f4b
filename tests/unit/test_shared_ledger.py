"""The conversation ledger every worker of one machine shares: what one process served, another finds by
the longest prefix; rows expire and are bounded; a ledger that cannot be used only costs a cache miss."""

from __future__ import annotations

import logging
from pathlib import Path

from proxy.memory.conversations import Conversation, Pin, prefix_hashes
from proxy.memory.shared_ledger import SharedLedger

MESSAGES = [{"role": "user", "content": f"turn {n}"} for n in range(6)]


def conversation(text: str) -> Conversation:
    return Conversation(pins=(Pin(text, 0, "prefix"), Pin("later", 2, "suffix")), recalled=frozenset({text}))


async def test_what_one_process_served_another_finds_by_its_longest_prefix(tmp_path: Path):
    path = tmp_path / "conversations.sqlite3"
    one, other = SharedLedger(path), SharedLedger(path)  # two workers' views of one file
    hashes = prefix_hashes("ns", MESSAGES)
    try:
        four_turns = conversation("after four turns")
        one.save(hashes[1], conversation("after two turns"))
        one.save(hashes[3], four_turns)
        await one.close()  # its queued writes are in the file
        found = await other.find(hashes[:-1])
        assert found is not None
        position, kept = found
        assert position == 3
        assert kept == four_turns  # its id, pins, their places and what they recalled
        assert await other.find(hashes[:1]) is None
        assert await other.find(prefix_hashes("another namespace", MESSAGES)) is None
        assert await other.find([]) is None
    finally:
        await other.close()


async def test_rows_expire_and_the_file_keeps_a_bounded_number(tmp_path: Path, monkeypatch):
    path = tmp_path / "conversations.sqlite3"
    monkeypatch.setattr("proxy.memory.shared_ledger.PRUNE_EVERY", 10)
    ledger = SharedLedger(path, ttl=60, max_entries=5)
    hashes = prefix_hashes("ns", [{"role": "user", "content": str(n)} for n in range(40)])
    for digest in hashes[:31]:
        ledger.save(digest, conversation("x"))
    await ledger.close()
    reader = SharedLedger(path, ttl=-1)
    try:
        reader.save(hashes[31], conversation("already expired"))
        rows = await reader.find(hashes)
        assert rows is not None and rows[0] < 31  # what expired is not found
        count = reader._file.connection().execute("SELECT count(*) FROM conversations").fetchone()[0]
        assert count <= 5 + 10  # pruned to the bound every PRUNE_EVERY writes
    finally:
        await reader.close()


async def test_a_ledger_that_cannot_be_used_finds_nothing_and_says_so_once(tmp_path: Path, caplog):
    path = tmp_path / "conversations.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    ledger = SharedLedger(path)
    hashes = prefix_hashes("ns", MESSAGES)
    with caplog.at_level(logging.WARNING, logger="proxy.memory.shared_ledger"):
        ledger.save(hashes[1], conversation("x"))
        assert await ledger.find(hashes) is None
        assert await ledger.find(hashes) is None
        await ledger.close()
    warnings = [r for r in caplog.records if "conversation ledger" in r.getMessage()]
    assert len(warnings) == 1
