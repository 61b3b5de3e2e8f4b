"""Projects and their interceptor ports: one stable loopback port and one memory namespace per project.

JetBrains' AI Assistant can be given a base URL and nothing else, so the port it talks to is the only
thing that can tell one project from another. The registry keeps that port stable across restarts in a
small JSON file (``$XDG_CONFIG_HOME/litellm-memory-proxy/port_registry.json``) that several processes may
update at once: every read-modify-write runs under an exclusive lock (``flock``) on a sibling ``.lock``
file, and every write goes to a temporary file in the same folder that replaces the registry atomically,
so a reader never sees half a file. The file format is the earlier codebase's (``mappings`` from resolved
project path to port, and a ``next_available`` cursor), so an existing file keeps its ports.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from proxy.paths import config_home
from proxy.scopes import project_id as scoped_project_id

__all__ = [
    "DEFAULT_PORT_MAX",
    "DEFAULT_PORT_MIN",
    "PortRangeExhausted",
    "PortRegistry",
    "default_registry_file",
    "port_in_use",
    "project_id",
]

logger = logging.getLogger("proxy.interceptor")

DEFAULT_PORT_MIN = 18800
DEFAULT_PORT_MAX = 18999
"""Below Linux's ephemeral range (32768+), so the OS never hands one of them to an outgoing connection."""

REGISTRY_VERSION = 1
_MAX_ID = 128
_INVALID_ID_CHARS = re.compile(r"[^a-z0-9._:-]+")


class PortRangeExhausted(RuntimeError):
    """Every port of the range is mapped to a project or taken by another program on this machine."""


def default_registry_file() -> Path:
    """``$XDG_CONFIG_HOME/litellm-memory-proxy/port_registry.json`` (``~/.config/...`` by default)."""
    return config_home() / "port_registry.json"


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something on this machine already listens on ``host:port`` (binding as uvicorn does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # A port whose last connection is still in TIME_WAIT is free to listen on: do not count it.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise
    return False


def project_id(project_path: str | os.PathLike[str], prefix: str = "") -> str:
    """The project id of a directory on this machine (symlinks resolved, as the working directory a coding
    agent reports is): ``<prefix><dir-name>-<6 hex>``, by :func:`proxy.scopes.project_id`."""
    return scoped_project_id(str(Path(project_path).expanduser().resolve()), prefix)


class PortRegistry:
    """Persistent project → port assignments, safe for several processes at once.

    ``port_min``/``port_max`` bound new allocations (a mapping made under another range keeps its port);
    ``registry_file`` overrides the default location. Project paths are normalised with
    ``Path.resolve()``, so a symlink and its target, or ``./x`` and ``/abs/x``, share one port.
    """

    def __init__(
        self,
        port_min: int | None = None,
        port_max: int | None = None,
        registry_file: str | os.PathLike[str] | None = None,
    ) -> None:
        self.port_min = DEFAULT_PORT_MIN if port_min is None else port_min
        self.port_max = DEFAULT_PORT_MAX if port_max is None else port_max
        if not 1 <= self.port_min <= self.port_max <= 65535:
            raise ValueError(f"invalid port range {self.port_min}-{self.port_max} (1-65535, min <= max)")
        self.registry_file = Path(registry_file) if registry_file is not None else default_registry_file()
        self.lock_file = self.registry_file.with_name(self.registry_file.name + ".lock")

    def __repr__(self) -> str:
        return f"PortRegistry({self.port_min}-{self.port_max}, {str(self.registry_file)!r})"

    @staticmethod
    def normalize(project_path: str | os.PathLike[str]) -> str:
        """The key a project is stored under: its absolute path with symlinks resolved."""
        return str(Path(project_path).expanduser().resolve())

    # -- public API -------------------------------------------------------------------------------

    def get_port(self, project_path: str | os.PathLike[str]) -> int | None:
        """The project's port, or None when it has none yet."""
        key = self.normalize(project_path)
        with self._locked() as data:
            return data["mappings"].get(key)

    def get_or_allocate_port(self, project_path: str | os.PathLike[str]) -> int:
        """The project's port, allocating the next free one of the range the first time.

        Raises :class:`PortRangeExhausted` when every port of the range is mapped or in use.
        """
        key = self.normalize(project_path)
        with self._locked() as data:
            mappings: dict[str, int] = data["mappings"]
            if key in mappings:
                return mappings[key]
            port = self._next_free_port(data)
            mappings[key] = port
            data["next_available"] = port + 1 if port < self.port_max else self.port_min
            self._write(data)
        logger.info("allocated port %d to project %s", port, key)
        return port

    def list_mappings(self) -> dict[str, int]:
        """Every project path and its port (a copy)."""
        with self._locked() as data:
            return dict(data["mappings"])

    def remove_mapping(self, project_path: str | os.PathLike[str]) -> bool:
        """Forget the project's port; False when it had none."""
        key = self.normalize(project_path)
        with self._locked() as data:
            if data["mappings"].pop(key, None) is None:
                return False
            self._write(data)
        logger.info("removed the port mapping of project %s", key)
        return True

    def reset(self) -> int:
        """Forget every mapping; returns how many there were."""
        with self._locked() as data:
            count = len(data["mappings"])
            self._write(self._empty())
        return count

    allocate_port = get_or_allocate_port
    """Alias kept for the earlier codebase's callers (and the seed's tests)."""

    deallocate_port = remove_mapping
    """Alias kept for the earlier codebase's callers."""

    # -- the file ---------------------------------------------------------------------------------

    def _empty(self) -> dict[str, Any]:
        return {
            "version": REGISTRY_VERSION,
            "port_range": {"start": self.port_min, "end": self.port_max},
            "next_available": self.port_min,
            "mappings": {},
        }

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        """The registry's contents, with the exclusive lock held until the block ends."""
        self.registry_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            _lock_exclusively(fd)
            yield self._read()
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def _read(self) -> dict[str, Any]:
        """The file's contents; a file that is not a valid registry is set aside and replaced."""
        try:
            text = self.registry_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return self._empty()
        try:
            data = json.loads(text)
            problem = _structure_problem(data)
        except ValueError as exc:
            problem = f"not JSON ({exc})"
        if problem is None:
            return data
        stamp = time.strftime("%Y%m%dT%H%M%S")
        backup = _unused(self.registry_file.with_name(f"{self.registry_file.name}.corrupt-{stamp}"))
        os.replace(self.registry_file, backup)
        fresh = self._empty()
        self._write(fresh)
        logger.warning(
            "port registry %s was unreadable (%s): kept it as %s and started an empty one; "
            "projects get new ports when next allocated",
            self.registry_file,
            problem,
            backup,
        )
        return fresh

    def _write(self, data: dict[str, Any]) -> None:
        """Replace the file atomically: a crash leaves the old file or the new one, never half of one."""
        folder = self.registry_file.parent
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{self.registry_file.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=2, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.registry_file)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        _fsync_directory(folder)

    def _next_free_port(self, data: dict[str, Any]) -> int:
        """The first port from the cursor on (wrapping) that no project has and nothing listens on.

        Starting at the cursor rather than at ``port_min`` means a removed project's port is the last to
        be handed out again, so an IDE still configured for it is unlikely to reach another project.
        """
        taken = set(data["mappings"].values())
        size = self.port_max - self.port_min + 1
        cursor = data.get("next_available", self.port_min)
        if not isinstance(cursor, int) or not self.port_min <= cursor <= self.port_max:
            cursor = self.port_min
        busy = 0
        for offset in range(size):
            port = self.port_min + (cursor - self.port_min + offset) % size
            if port in taken:
                continue
            if port_in_use(port):
                busy += 1
                continue
            return port
        mapped = size - busy
        raise PortRangeExhausted(
            f"no free port in {self.port_min}-{self.port_max}: {mapped} mapped to projects in "
            f"{self.registry_file}, {busy} in use by other programs. Remove unused projects "
            "(memory-proxy interceptor remove / reset) or choose a wider range (--port-min/--port-max)."
        )


def _structure_problem(data: Any) -> str | None:
    """Why ``data`` is not a registry, or None when it is one."""
    if not isinstance(data, dict) or not isinstance(data.get("mappings"), dict):
        return "no 'mappings' object"
    for path, port in data["mappings"].items():
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            return f"the port of {path!r} is not a port number"
    return None


def _lock_exclusively(fd: int) -> None:
    """Block until this descriptor holds the lock. ``flock`` locks per open file, so threads of one
    process exclude each other as processes do."""
    if sys.platform == "win32":  # pragma: no cover - the tests run on POSIX
        import msvcrt

        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_LOCK, 1)  # gives up after 10 s: keep waiting
                return
            except OSError:
                continue
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_EX)


def _unused(path: Path) -> Path:
    """``path``, or ``path`` with a counter when a backup of the same second already exists."""
    candidate, counter = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.{counter}")
        counter += 1
    return candidate


def _fsync_directory(folder: Path) -> None:
    """Make the rename itself durable (best effort: not every filesystem lets a directory be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
