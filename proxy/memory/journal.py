"""Nothing answered is lost: each exchange is written to a local journal before its answer ends, and leaves
it only once the store has it.

The write-back queue lives in memory: a crash (``kill -9``, the OOM killer, a power cut) or a store that is
down for longer than a process lives would lose what was queued. So every memory to store is first appended
to a journal file of this process, one JSON line, with ``os.write``: a few microseconds, after which the
kernel holds it whatever happens to the process. A thread calls ``fdatasync`` on the file, never more often
than every :data:`SYNC_INTERVAL` seconds and off the request path, for a power cut. When the store has taken
a batch, a ``done`` line follows; when every entry is done the file is emptied, and a file grown past
:data:`ROTATE_BYTES`, mostly of finished entries, is replaced by a new one holding only the pending.

Each process writes a file of its own in the journal folder (``journal-<pid>-<random>.jsonl``, made under
another name and renamed once it is locked) and holds an exclusive ``flock`` on it while it lives. At start,
and from time to time, a process claims the files nobody holds (their writer died, or was a command such as
``memory-proxy memories import`` that could not reach the store): file by file, it copies what they did not
finish into its own journal, syncs it, and only then deletes them; those memories go to the store. Several
workers, and a restart, so pick up each other's leftovers once, and a claim that fails half way leaves the
file for the next try.

A journal file keeps :data:`RESERVE_BYTES` of disk reserved past its end (Linux's ``fallocate`` with
``FALLOC_FL_KEEP_SIZE``), so that it keeps taking entries when the disk it shares with the store fills up:
the moment durability matters most. The journal is bounded (``max_bytes``): past it a new memory is refused,
counted and logged, and kept in memory only (stored while the process lives). A journal that cannot be
written (a disk full past the reserve, a read-only disk) refuses the same way; both show in
``/memory/status``. A line only partly written (a full disk) is cut off again, so the next one is whole.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import logging
import os
import secrets
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from proxy.memory.stores.base import NewMemory

__all__ = ["RESERVE_BYTES", "ROTATE_BYTES", "SYNC_INTERVAL", "Journal", "JournalCounts"]

logger = logging.getLogger("proxy.memory.journal")

SYNC_INTERVAL = 0.05
"""The least time in seconds between two ``fdatasync`` calls (made only when something was written)."""
ROTATE_BYTES = 8 * 1024 * 1024
"""A file this large, whose pending entries take less than half of it, is replaced by one with only those."""
RESERVE_BYTES = 4 * 1024 * 1024
"""Disk kept reserved past a journal file's end: about a thousand of the largest exchanges, or many more of
the usual size, still journaled on a disk that is otherwise full."""
LOG_EVERY_SECONDS = 10.0
"""One log line per this many seconds while the journal refuses entries, not one per entry."""
_PATTERN = "journal-*.jsonl"


@dataclass
class JournalCounts:
    """What the journal holds and did: ``pending`` entries not yet in the store (``bytes`` of file),
    ``refused`` because it was full or could not be written, ``recovered`` from processes that stopped."""

    pending: int = 0
    bytes: int = 0
    refused: int = 0
    recovered: int = 0


class Journal:
    """The journal of one process in ``folder``; :meth:`open` first, :meth:`close` last. Thread-safe."""

    def __init__(self, folder: Path, *, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self._fd: int | None = None
        self._path: Path | None = None
        self._next = 0
        self._pending: dict[int, bytes] = {}
        """Each pending entry's line, as written (a rotation copies them)."""
        self._live = 0
        """Bytes of the file that pending entries take."""
        self._size = 0
        self._reserved_to = 0
        self._counts = JournalCounts()
        self._lock = threading.Lock()
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._syncer: threading.Thread | None = None
        self._refusal_logged = float("-inf")

    # -- life ----------------------------------------------------------------------------------------

    def open(self) -> list[tuple[int, NewMemory]]:
        """Create this process's file and claim the files of processes that stopped: what they left
        unfinished is returned (and now in this journal), to be stored before anything new."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._fd, self._path = _new_file(self.folder)
            self._reserve()
        self._syncer = threading.Thread(target=self._sync_forever, name="memory journal sync", daemon=True)
        self._syncer.start()
        return self.claim()

    def close(self) -> None:
        """Sync and close; a file with nothing pending is removed (one with entries stays for the next
        process to claim)."""
        self._stop.set()
        self._dirty.set()
        if self._syncer is not None:
            self._syncer.join(timeout=5)
        with self._lock:
            if self._fd is None:
                return
            with contextlib.suppress(OSError):
                os.fsync(self._fd)
            if not self._pending and self._path is not None:
                with contextlib.suppress(OSError):
                    self._path.unlink()  # before the lock goes with the descriptor: nobody claims it empty
            os.close(self._fd)
            self._fd = None

    # -- writing -------------------------------------------------------------------------------------

    def append(self, memory: NewMemory) -> int | None:
        """Journal ``memory``: its entry number, or None when refused (full, closed, or the disk failed)."""
        with self._lock:
            if self._fd is None:
                return None
            if self._size >= self.max_bytes:
                return self._refuse(f"it holds {self._size} bytes, its limit (journal_max_mb)")
            try:
                number = self._write_entry(memory)
            except OSError as exc:
                return self._refuse(f"it cannot be written ({exc.strerror})")
            except TypeError as exc:  # metadata that is no JSON: the store would refuse it as well
                return self._refuse(f"a memory is not JSON ({exc})")
        self._dirty.set()
        return number

    def done(self, numbers: list[int]) -> None:
        """The store has these entries: say so; empty the file once nothing is pending, or replace it with
        one holding only the pending once it has grown large with finished ones."""
        if not numbers:
            return
        with self._lock:
            if self._fd is None:
                return
            for number in numbers:
                line = self._pending.pop(number, None)
                self._live -= len(line) if line is not None else 0
            try:
                if not self._pending:
                    os.ftruncate(self._fd, 0)  # frees the reserve too: taken again at once
                    self._size = self._reserved_to = 0
                    self._reserve()
                elif self._size >= ROTATE_BYTES and self._live * 2 < self._size:
                    self._rotate()
                else:
                    self._write_line(orjson.dumps({"done": numbers}, option=orjson.OPT_APPEND_NEWLINE))
            except OSError as exc:  # the store has them: a stale entry only makes a replayed duplicate
                logger.warning("memory journal: could not record stored entries (%s)", exc.strerror)
        self._dirty.set()

    @property
    def counts(self) -> JournalCounts:
        with self._lock:
            counts = {**asdict(self._counts), "pending": len(self._pending), "bytes": self._size}
        return JournalCounts(**counts)

    def _write_entry(self, memory: NewMemory) -> int:
        number = self._next
        line = orjson.dumps({"n": number, "memory": _entry(memory)}, option=orjson.OPT_APPEND_NEWLINE)
        self._write_line(line)
        self._next += 1
        self._pending[number] = line
        self._live += len(line)
        return number

    def _write_line(self, line: bytes) -> None:
        """Append ``line`` whole, or not at all: a partial write (a full disk) is cut off again."""
        assert self._fd is not None
        written = os.write(self._fd, line)
        if written != len(line):
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
            raise OSError(errno.ENOSPC, "No space left on device")
        self._size += written
        if self._size > self._reserved_to - RESERVE_BYTES // 2:
            self._reserve()

    def _reserve(self) -> None:
        assert self._fd is not None
        if _reserve(self._fd, self._size):
            self._reserved_to = self._size + RESERVE_BYTES

    def _rotate(self) -> None:
        """A new file with only the pending entries, synced before the old one goes (unlinked while still
        locked, so no other process claims what this one still holds)."""
        assert self._fd is not None and self._path is not None
        fd, path = _new_file(self.folder)
        try:
            lines = b"".join(self._pending.values())
            if os.write(fd, lines) != len(lines):
                raise OSError(errno.ENOSPC, "No space left on device")
            os.fdatasync(fd)
        except OSError:
            path.unlink()
            os.close(fd)
            raise
        self._path.unlink()
        os.close(self._fd)
        self._fd, self._path, self._size, self._live = fd, path, len(lines), len(lines)
        self._reserved_to = 0
        self._reserve()

    def _refuse(self, why: str) -> None:
        self._counts.refused += 1
        now = time.monotonic()
        if now - self._refusal_logged >= LOG_EVERY_SECONDS:
            self._refusal_logged = now
            logger.error(
                "memory journal refuses new exchanges: %s; %d kept in memory only so far (stored while this "
                "process runs, lost if it dies first)",
                why,
                self._counts.refused,
            )

    # -- syncing -------------------------------------------------------------------------------------

    def _sync_forever(self) -> None:
        while not self._stop.is_set():
            self._dirty.wait()
            self._dirty.clear()
            self._sync()
            self._stop.wait(SYNC_INTERVAL)

    def _sync(self) -> None:
        """``fdatasync`` on a duplicate of the file's descriptor, outside the lock: an append never waits
        for the disk."""
        with self._lock:
            if self._fd is None:
                return
            fd = os.dup(self._fd)
        try:
            os.fdatasync(fd)
        except OSError:
            pass  # the disk failed: the entries are still in the kernel's hands
        finally:
            os.close(fd)

    # -- claiming what stopped processes left --------------------------------------------------------

    def claim(self) -> list[tuple[int, NewMemory]]:
        """What the files nobody holds left unfinished, copied into this journal (synced) before each file
        is deleted; a file that cannot be taken over whole stays for a later claim."""
        recovered: list[tuple[int, NewMemory]] = []
        for path in sorted(self.folder.glob(_PATTERN)):
            if path == self._path:
                continue
            try:
                taken = self._take_over(path)
            except OSError as exc:
                logger.error("memory journal: %s stays for a later claim (%s)", path.name, exc.strerror)
                break
            recovered += taken
        if recovered:
            with self._lock:
                self._counts.recovered += len(recovered)
            logger.warning(
                "memory journal: %d memories a stopped process left go to the store", len(recovered)
            )
        return recovered

    def _take_over(self, path: Path) -> list[tuple[int, NewMemory]]:
        """The unfinished entries of ``path``, now in this journal and synced, ``path`` deleted; nothing
        when another process holds it (alive) or has just claimed it."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return []
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return []  # its process is alive
            if not _still_there(fd, path):
                return []  # another claimer took it and deleted it before this lock was granted
            memories = _unfinished(path)
            taken: list[tuple[int, NewMemory]] = []
            with self._lock:
                if self._fd is None:
                    return []
                size = self._size
                try:
                    for memory in memories:
                        taken.append((self._write_entry(memory), memory))
                except (OSError, TypeError):
                    for number, _ in taken:
                        self._live -= len(self._pending.pop(number))
                    os.ftruncate(self._fd, size)
                    self._size = size
                    raise
            self._sync()
            path.unlink()
            return taken
        finally:
            os.close(fd)


def _new_file(folder: Path) -> tuple[int, Path]:
    """A new journal file, locked before it has the name claimers look for."""
    stem = f"{os.getpid()}-{secrets.token_hex(4)}"
    making = folder / f".making-{stem}"
    fd = os.open(making, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        path = folder / f"journal-{stem}.jsonl"
        os.rename(making, path)
    except BaseException:
        os.close(fd)
        making.unlink(missing_ok=True)
        raise
    return fd, path


def _still_there(fd: int, path: Path) -> bool:
    """Whether the file open as ``fd`` is still the one at ``path`` (not unlinked by a claimer since)."""
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino and os.fstat(fd).st_nlink > 0
    except FileNotFoundError:
        return False


def _fallocate() -> Any:
    """libc's ``fallocate`` (Linux), or None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).fallocate
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong]
    function.restype = ctypes.c_int
    return function


_FALLOCATE = _fallocate()
_KEEP_SIZE = 1  # FALLOC_FL_KEEP_SIZE: allocate past the end without moving it


def _reserve(fd: int, offset: int) -> bool:
    """Reserve :data:`RESERVE_BYTES` of disk from ``offset``; False where that cannot be done (another
    system, a file system without it, a disk already full): the journal then just has no reserve."""
    return _FALLOCATE is not None and _FALLOCATE(fd, _KEEP_SIZE, offset, RESERVE_BYTES) == 0


def _entry(memory: NewMemory) -> dict[str, Any]:
    return {
        "user_id": memory.user_id,
        "content": memory.content,
        "metadata": memory.metadata,
        "custom_id": memory.custom_id,
        # When it was said, so that a replay stores it with that time rather than its own.
        "created_at": memory.created_at if memory.created_at is not None else time.time(),
    }


def _unfinished(path: Path) -> list[NewMemory]:
    """The entries of a journal file that no ``done`` line followed (a torn line is skipped)."""
    entries: dict[int, NewMemory] = {}
    with path.open("rb") as lines:
        for raw in lines:
            try:
                record = orjson.loads(raw)
                if "done" in record:
                    for number in record["done"]:
                        entries.pop(number, None)
                else:
                    entries[record["n"]] = NewMemory(**record["memory"])
            except (orjson.JSONDecodeError, KeyError, TypeError):
                continue
    return list(entries.values())
