"""The write-back journal: what it keeps until the store has it, and what the next process finds."""

from __future__ import annotations

import errno
import fcntl
import json
import os

import pytest

from proxy.memory import journal as journal_module
from proxy.memory.journal import Journal
from proxy.memory.stores.base import NewMemory


def memory(n: int, created_at: float | None = None) -> NewMemory:
    return NewMemory("sam", f"user: fact {n}\nassistant: noted", {"model": "m"}, f"exchange_{n}", created_at)


def opened(folder, max_bytes: int = 1 << 20) -> Journal:
    journal = Journal(folder, max_bytes=max_bytes)
    assert journal.open() == []
    return journal


def files(folder) -> list:
    return sorted(folder.glob("*.jsonl"))


def test_what_the_store_has_leaves_the_journal_and_an_empty_one_leaves_no_file(tmp_path):
    journal = opened(tmp_path)
    numbers = [journal.append(memory(n)) for n in range(3)]
    [path] = files(tmp_path)
    assert path.stat().st_size > 0 and journal.counts.pending == 3
    journal.done(numbers[:2])
    assert journal.counts.pending == 1
    journal.done(numbers[2:])
    assert path.stat().st_size == 0 and journal.counts.pending == 0
    journal.close()
    assert files(tmp_path) == []


def test_what_a_stopped_process_left_is_claimed_once_with_the_time_it_was_said(tmp_path):
    first = opened(tmp_path)
    numbers = [first.append(memory(n)) for n in range(3)]
    first.done(numbers[:1])
    first.close()  # stopped with two entries unfinished: its file stays
    second = Journal(tmp_path, max_bytes=1 << 20)
    recovered = second.open()
    assert [entry.content for _, entry in recovered] == [memory(1).content, memory(2).content]
    assert all(entry.created_at is not None for _, entry in recovered)
    assert second.counts.recovered == 2 and second.counts.pending == 2  # now in the second's own file
    assert len(files(tmp_path)) == 1
    third = Journal(tmp_path, max_bytes=1 << 20)
    assert third.open() == []  # the second lives and holds its file: nothing to claim
    second.close()
    third.close()


def test_a_torn_last_line_is_skipped(tmp_path):
    first = opened(tmp_path)
    first.append(memory(1))
    first.close()
    [path] = files(tmp_path)
    with path.open("a") as torn:
        torn.write('{"n": 7, "memory": {"user_id": "sam", "cont')
    assert [entry.content for _, entry in Journal(tmp_path, max_bytes=1 << 20).open()] == [memory(1).content]


def test_past_its_size_limit_the_journal_refuses_and_counts(tmp_path, caplog):
    journal = opened(tmp_path, max_bytes=200)
    accepted = [journal.append(memory(n)) for n in range(5)]
    assert accepted[0] is not None and None in accepted
    assert journal.counts.refused == accepted.count(None)
    assert caplog.text.count("refuses new exchanges") == 1
    journal.close()


def test_a_disk_that_fails_refuses_without_raising(tmp_path, monkeypatch):
    journal = opened(tmp_path)

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(journal_module.os, "write", full)
    assert journal.append(memory(1)) is None
    assert journal.counts.refused == 1
    monkeypatch.undo()
    assert journal.append(memory(2)) is not None  # the disk came back
    journal.close()


def test_a_file_grown_under_steady_load_is_replaced_by_one_with_only_the_pending(tmp_path, monkeypatch):
    monkeypatch.setattr(journal_module, "ROTATE_BYTES", 2000)
    journal = opened(tmp_path)
    kept = journal.append(memory(0))
    for n in range(1, 40):
        journal.done([journal.append(memory(n))])  # one stays pending, so the file is never emptied
    [path] = files(tmp_path)
    assert path.stat().st_size < 2000 + 500
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert {line["n"] for line in lines if "n" in line} >= {kept}
    journal.close()
    assert [entry.content for _, entry in Journal(tmp_path, max_bytes=1 << 20).open()] == [memory(0).content]


def test_the_file_is_private(tmp_path):
    journal = opened(tmp_path)
    journal.append(memory(1))
    [path] = files(tmp_path)
    assert os.stat(path).st_mode & 0o077 == 0
    journal.close()


@pytest.mark.parametrize("created_at", [None, 1_700_000_000.0])
def test_an_entry_keeps_a_given_time(tmp_path, created_at):
    first = opened(tmp_path)
    first.append(memory(1, created_at))
    first.close()
    [(_, entry)] = Journal(tmp_path, max_bytes=1 << 20).open()
    assert entry.created_at is not None and (created_at is None or entry.created_at == created_at)


def test_a_claim_that_cannot_copy_keeps_the_file_for_a_later_claim(tmp_path, monkeypatch):
    """The disk fills while a stopped process's entries are copied: its file is not deleted, and the next
    claim, with room, takes them all."""
    first = opened(tmp_path)
    first.append(memory(1))
    first.append(memory(2))
    first.close()
    [orphan] = files(tmp_path)
    second = opened_without_claiming(tmp_path)
    real_write = journal_module.os.write
    calls = []

    def full_after_one(fd, data):
        calls.append(data)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(journal_module.os, "write", full_after_one)
    assert second.claim() == []
    assert orphan.exists() and second.counts.pending == 0  # the one copied was taken back out
    monkeypatch.undo()
    assert [entry.content for _, entry in second.claim()] == [memory(1).content, memory(2).content]
    assert not orphan.exists()
    second.close()


def opened_without_claiming(folder) -> Journal:
    journal = Journal(folder, max_bytes=1 << 20)
    with journal._lock:
        journal._fd, journal._path = journal_module._new_file(folder)
    return journal


def test_a_line_written_in_part_is_cut_off_so_the_next_one_is_whole(tmp_path, monkeypatch):
    journal = opened(tmp_path)
    real_write = journal_module.os.write
    monkeypatch.setattr(journal_module.os, "write", lambda fd, data: real_write(fd, data[: len(data) // 2]))
    assert journal.append(memory(1)) is None  # half of it reached the disk, then it was full
    monkeypatch.undo()
    assert journal.append(memory(2)) is not None
    journal._fd, fd = None, journal._fd  # the process dies here: the file stays as it is
    os.close(fd)
    assert [entry.content for _, entry in Journal(tmp_path, max_bytes=1 << 20).open()] == [memory(2).content]


def test_only_journal_files_are_ever_claimed(tmp_path):
    """A journal_dir may be a folder with other JSON-lines files (an export): they are left alone."""
    export = tmp_path / "memories-export.jsonl"
    export.write_text('{"format": "litellm-memory-proxy.memories"}\n')
    journal = opened(tmp_path)
    journal.close()
    assert export.exists() and export.read_text().startswith('{"format"')


def test_a_new_file_is_locked_before_a_claimer_can_see_it(tmp_path):
    fd, path = journal_module._new_file(tmp_path)
    assert path.name.startswith("journal-") and not list(tmp_path.glob(".making-*"))
    other = os.open(path, os.O_RDONLY)
    with pytest.raises(BlockingIOError):
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(other)
    os.close(fd)


def test_draining_a_backlog_rewrites_the_file_rarely(tmp_path, monkeypatch):
    """After an outage, batches are stored one after another: the file is compacted when finished
    entries make most of it, not at every batch (which would copy the backlog again and again)."""
    monkeypatch.setattr(journal_module, "ROTATE_BYTES", 20_000)
    journal = opened(tmp_path, max_bytes=1 << 30)
    numbers = [journal.append(memory(n)) for n in range(2_000)]
    rotations = []
    real_rotate = journal._rotate
    monkeypatch.setattr(journal, "_rotate", lambda: rotations.append(1) or real_rotate())
    for start in range(0, len(numbers) - 1, 64):
        journal.done(numbers[start : start + 64])
    assert 1 <= len(rotations) <= 12  # about log2(backlog / ROTATE_BYTES), never one per batch
    journal.close()


def test_each_store_has_its_own_journal_folder_whose_name_holds_no_secret(tmp_path, monkeypatch):
    """A journal is claimed by the next process on the same store only: two Supermemory accounts on one
    URL, or two databases on one server, never take each other's exchanges; no key is in a path."""
    from proxy.config import ContextRetrieval
    from proxy.memory.service import journal_folder

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))

    def folder(**settings: str) -> str:
        return str(journal_folder(ContextRetrieval(enabled=True, **settings)))

    sam = folder(provider="supermemory", api_key="sm-secret-of-sam")
    kim = folder(provider="supermemory", api_key="sm-secret-of-kim")
    assert sam != kim and sam == folder(provider="supermemory", api_key="sm-secret-of-sam")
    assert "secret" not in sam + kim
    one = folder(provider="postgres", dsn="postgresql://app:pw-one@db/one")
    assert one != folder(provider="postgres", dsn="postgresql://app:pw-one@db/two")
    assert one == folder(provider="postgres", dsn="postgresql://app:pw-changed@db/one")  # a new password
    assert "pw-" not in one
    assert folder(provider="local", local_store_path=str(tmp_path / "m.sqlite3")) == str(
        tmp_path / "m.sqlite3.journal"
    )
    assert folder(provider="local", journal_dir=str(tmp_path / "mine")) == str(tmp_path / "mine")
