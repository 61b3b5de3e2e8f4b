"""The ``/memories`` directory of Anthropic's memory tool, kept in the memory store.

Anthropic's memory tool (``memory_20250818``) has the model work on files under ``/memories`` (``view``,
``create``, ``str_replace``, ``insert``, ``delete``, ``rename``) and leaves running the commands to the
client. When the proxy serves the tool (:mod:`proxy.memory_tool.loop`), each file is one memory of the
request's namespace (the project's), under the custom id ``memory-file:<path>`` with its path in the
metadata: the files are listed, searched, exported and forgotten with the rest of the memory, and a file
is recalled by injection like any memory when a question is about it.

Directories are implied by the files' paths (``/memories`` always exists). A path is one the model wrote:
it must stay under ``/memories`` (no ``..``, no ``.``, no backslash or control character), and a file, the
number of files and a path are bounded, so a model cannot fill the store.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from proxy.memory.stores.base import MemoryRecord, MemoryStore

__all__ = [
    "FILE_ID_PREFIX",
    "MAX_FILES",
    "MAX_FILE_CHARS",
    "MAX_PATH_CHARS",
    "ROOT",
    "MemoryFiles",
    "MemoryToolError",
]

ROOT = "/memories"
FILE_ID_PREFIX = "memory-file:"
MAX_FILE_CHARS = 100_000
"""The longest file (in characters) the tool keeps."""
MAX_FILES = 500
"""Files one namespace's ``/memories`` holds at most."""
MAX_PATH_CHARS = 255
LISTED = 100_000
"""Memories of a namespace read to find its files (files are a namespace's own memories)."""
_BAD_PATH_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")
_NUMBER_WIDTH = 6


class MemoryToolError(Exception):
    """A command the directory refuses, with the message the model is shown (as an error tool result)."""


@dataclass(frozen=True)
class _File:
    path: str
    text: str
    record: MemoryRecord


class MemoryFiles:
    """One namespace's ``/memories``: the memory tool's commands, run on the store."""

    def __init__(self, store: MemoryStore, namespace: str, metadata: Mapping[str, Any]) -> None:
        """``metadata`` is recorded with each file beside its path (the client, the project)."""
        self.store = store
        self.namespace = namespace
        self.metadata = dict(metadata)

    async def execute(self, command: Mapping[str, Any]) -> str:
        """Run one command of the memory tool; its result for the model, or :class:`MemoryToolError`."""
        name = command.get("command")
        if name == "view":
            return await self.view(_path(command, "path"), command.get("view_range"))
        if name == "create":
            return await self.create(_path(command, "path"), _text(command, "file_text"))
        if name == "str_replace":
            return await self.str_replace(
                _path(command, "path"), _text(command, "old_str"), _text(command, "new_str")
            )
        if name == "insert":
            line = command.get("insert_line")
            if not isinstance(line, int) or isinstance(line, bool):
                raise MemoryToolError("`insert_line` must be an integer.")
            return await self.insert(_path(command, "path"), line, _text(command, "insert_text"))
        if name == "delete":
            return await self.delete(_path(command, "path"))
        if name == "rename":
            return await self.rename(_path(command, "old_path"), _path(command, "new_path"))
        raise MemoryToolError(
            f"Unknown command {name!r}: use view, create, str_replace, insert, delete or rename."
        )

    async def view(self, path: str, view_range: Any = None) -> str:
        files = await self._files()
        if path in files:
            lines = files[path].text.split("\n")
            start, end = 1, len(lines)
            if view_range is not None:
                start, end = _range(view_range, len(lines))
            numbered = [f"{n:>{_NUMBER_WIDTH}}\t{lines[n - 1]}" for n in range(start, end + 1)]
            return f"Here's the content of {path} with line numbers:\n" + "\n".join(numbered)
        inside = {p: f for p, f in files.items() if p.startswith(path + "/")}
        if path != ROOT and not inside:
            raise MemoryToolError(f"The path {path} does not exist. Please provide a valid path.")
        entries: dict[str, int] = {}
        for file_path, file in inside.items():
            parts = file_path[len(path) + 1 :].split("/")
            for depth in range(1, min(len(parts), 2) + 1):
                entry = "/".join(parts[:depth]) + ("/" if depth < len(parts) else "")
                entries[entry] = entries.get(entry, 0) + len(file.text.encode())
        listing = [f"{_size(sum(len(f.text.encode()) for f in inside.values()))}\t{path}"]
        listing += [f"{_size(size)}\t{path}/{entry}" for entry, size in sorted(entries.items())]
        header = f"Here're the files and directories up to 2 levels deep in {path}, excluding hidden items:"
        return header + "\n" + "\n".join(listing)

    async def create(self, path: str, text: str) -> str:
        files = await self._files()
        if path == ROOT or any(p.startswith(path + "/") for p in files):
            raise MemoryToolError(f"{path} is a directory.")
        if path in files:
            raise MemoryToolError(f"File {path} already exists")
        _no_file_above(path, files)
        if len(files) >= MAX_FILES:
            raise MemoryToolError(f"/memories holds its limit of {MAX_FILES} files: delete one first.")
        await self._write(path, text)
        return f"File created successfully at: {path}"

    async def str_replace(self, path: str, old: str, new: str) -> str:
        file = await self._file(path)
        found = file.text.count(old) if old else 0
        if found == 0:
            raise MemoryToolError(
                f"No replacement was performed, old_str `{old}` did not appear verbatim in {path}."
            )
        if found > 1:
            lines = [file.text[: m.start()].count("\n") + 1 for m in re.finditer(re.escape(old), file.text)]
            raise MemoryToolError(
                f"No replacement was performed. Multiple occurrences of old_str `{old}` in lines: "
                f"{', '.join(map(str, lines))}. Please ensure it is unique"
            )
        changed = file.text[: file.text.index(old)].count("\n")
        text = file.text.replace(old, new, 1)
        await self._write(path, text)
        lines = text.split("\n")
        shown = range(max(0, changed - 2), min(len(lines), changed + 3))
        snippet = "\n".join(f"{n + 1:>{_NUMBER_WIDTH}}\t{lines[n]}" for n in shown)
        return (
            "The memory file has been edited. Here is the snippet showing the change (with line numbers):\n"
            + snippet
        )

    async def insert(self, path: str, line: int, text: str) -> str:
        file = await self._file(path)
        lines = file.text.split("\n")
        if file.text.endswith("\n"):
            lines.pop()
        if not 0 <= line <= len(lines):
            raise MemoryToolError(
                f"Invalid `insert_line` parameter: {line}. It should be within the range [0, {len(lines)}]."
            )
        lines.insert(line, text.rstrip("\n"))
        await self._write(path, "\n".join(lines) + "\n")
        return f"The file {path} has been edited."

    async def delete(self, path: str) -> str:
        if path == ROOT:
            raise MemoryToolError("Cannot delete the /memories directory itself")
        files = await self._files()
        doomed = [f for p, f in files.items() if p == path or p.startswith(path + "/")]
        if not doomed:
            raise MemoryToolError(f"The path {path} does not exist")
        for file in doomed:
            await self._forget(file)
        return f"Successfully deleted {path}"

    async def rename(self, old_path: str, new_path: str) -> str:
        if ROOT in (old_path, new_path):
            raise MemoryToolError("Cannot rename the /memories directory itself")
        files = await self._files()
        moving = {p: f for p, f in files.items() if p == old_path or p.startswith(old_path + "/")}
        if not moving:
            raise MemoryToolError(f"The path {old_path} does not exist")
        if new_path in files or any(p.startswith(new_path + "/") for p in files):
            raise MemoryToolError(f"The destination {new_path} already exists")
        if new_path.startswith(old_path + "/"):
            raise MemoryToolError(f"Cannot move {old_path} into itself")
        _no_file_above(new_path, files)
        longest = max(len(new_path + path[len(old_path) :]) for path in moving)
        if longest > MAX_PATH_CHARS:
            raise MemoryToolError(f"Renamed, a path would be {longest} characters; at most {MAX_PATH_CHARS}.")
        for path, file in moving.items():  # written where it goes before it leaves where it was
            await self._write(new_path + path[len(old_path) :], file.text)
            await self._forget(file)
        return f"Successfully renamed {old_path} to {new_path}"

    async def _files(self) -> dict[str, _File]:
        """The namespace's files as they are now, read for each command (another request of the same
        project may have changed them meanwhile: an edit must never write back a stale copy)."""
        records = await self.store.list(self.namespace, limit=LISTED)
        files: dict[str, _File] = {}
        for record in records:
            path = record.metadata.get("memory_file")
            if isinstance(path, str) and path not in files:
                files[path] = _File(path, record.content, record)
        return files

    async def _file(self, path: str) -> _File:
        files = await self._files()
        if path not in files:
            if path == ROOT or any(p.startswith(path + "/") for p in files):
                raise MemoryToolError(f"The path {path} is not a file.")
            raise MemoryToolError(f"The path {path} does not exist. Please provide a valid path.")
        return files[path]

    async def _write(self, path: str, text: str) -> None:
        if len(text) > MAX_FILE_CHARS:
            raise MemoryToolError(
                f"{path} would hold {len(text):,} characters; a file holds {MAX_FILE_CHARS:,}."
            )
        metadata = {**self.metadata, "source": "memory-tool", "memory_file": path}
        await self.store.add(self.namespace, text, metadata=metadata, custom_id=FILE_ID_PREFIX + path)

    async def _forget(self, file: _File) -> None:
        await self.store.forget(self.namespace, file.record.id)


def _no_file_above(path: str, files: Mapping[str, _File]) -> None:
    """Refuse ``path`` when a directory on its way is a file (``/memories/a/b`` with ``/memories/a``)."""
    parts = path.split("/")
    for depth in range(3, len(parts)):
        above = "/".join(parts[:depth])
        if above in files:
            raise MemoryToolError(f"{above} is a file, not a directory.")


def _path(command: Mapping[str, Any], key: str) -> str:
    """The command's ``key`` as a normalised path under ``/memories``, or a refusal naming why."""
    value = command.get(key)
    if not isinstance(value, str) or not value:
        raise MemoryToolError(f"`{key}` must be a path under /memories.")
    if len(value) > MAX_PATH_CHARS or _BAD_PATH_CHARS.search(value):
        raise MemoryToolError(
            f"`{key}` must be at most {MAX_PATH_CHARS} characters, without control characters or backslashes."
        )
    parts = [part for part in value.split("/") if part]
    if not value.startswith("/") or not parts or parts[0] != ROOT[1:]:
        raise MemoryToolError(f"Path must start with /memories, got: {value}")
    if any(part in (".", "..") for part in parts):
        raise MemoryToolError(f"Path {value} would escape /memories directory")
    return "/" + "/".join(parts)


def _text(command: Mapping[str, Any], key: str) -> str:
    value = command.get(key)
    if not isinstance(value, str):
        raise MemoryToolError(f"`{key}` must be a string.")
    return value


def _range(view_range: Any, count: int) -> tuple[int, int]:
    """``view_range`` ([start, end], 1-based, end -1 for the last line) as a valid range of lines."""
    if (
        not isinstance(view_range, list | tuple)
        or len(view_range) != 2
        or not all(isinstance(n, int) and not isinstance(n, bool) for n in view_range)
    ):
        raise MemoryToolError("`view_range` must be two line numbers: [start, end] (end -1: the last line).")
    start, end = max(1, view_range[0]), count if view_range[1] == -1 else view_range[1]
    if start > count or end < start:
        raise MemoryToolError(f"Invalid `view_range` {list(view_range)}: the file has {count} lines.")
    return start, min(end, count)


def _size(size: int) -> str:
    """A size as ``du -h`` writes it: 512B, 4.0K, 1.2M."""
    value = float(size)
    for unit in ("B", "K", "M"):
        if value < 1024 or unit == "M":
            return f"{int(value)}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{value:.1f}M"
