"""Child processes (the LiteLLM proxy, servers under test): started, watched line by line, stopped by handle.

Waiting is on output (a "ready" line) through a condition variable, never on sleeps; a process that exits
early fails the wait with its last lines, so a broken start is diagnosable from the test report.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["ManagedProcess", "free_port"]


def free_port() -> int:
    """A loopback port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ManagedProcess:
    """A child process whose combined stdout/stderr is collected as lines while it runs."""

    def __init__(
        self, args: Sequence[str], *, env: dict[str, str] | None = None, cwd: str | Path | None = None
    ) -> None:
        self.args = list(args)
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.process = subprocess.Popen(
            self.args,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,  # its own process group: stop() reaches its children too
        )
        self._reader = threading.Thread(
            target=self._read, name=f"output of {Path(self.args[0]).name}", daemon=True
        )
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def tail(self, count: int = 30) -> str:
        with self._changed:
            return "\n".join(self.lines[-count:])

    def wait_for_line(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        """The first output line matching ``pattern``; fails if the process exits or time runs out first."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    match = regex.search(line)
                    if match:
                        return match
                seen = len(self.lines)
                if self.process.poll() is not None and not self._reader.is_alive():
                    raise RuntimeError(
                        f"{self.args[0]} exited with {self.process.returncode} before printing "
                        f"{pattern!r}; last lines:\n{self.tail()}"
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"no line matching {pattern!r} within {timeout}s; last lines:\n{self.tail()}"
                    )
                self._changed.wait(min(remaining, 0.5))

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM the process group, SIGKILL it if it lingers; returns the exit code."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout)
            except ProcessLookupError:
                pass
        self._reader.join(timeout)
        return self.process.returncode

    def __enter__(self) -> ManagedProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
