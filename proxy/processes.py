"""Child processes (the LiteLLM proxy, servers under test): started, watched line by line, stopped by handle.

Waiting is on output (a "ready" line) through a condition variable, never on sleeps; a process that exits
early fails the wait with its last lines, so a broken start is diagnosable from the test report.

A child must not outlive this process, even one killed with SIGKILL (a LiteLLM proxy left behind keeps its
port, and the next start fails with "port in use"). On Linux each child is started through
:mod:`proxy.die_with_parent`, which has the kernel send it SIGTERM when this process dies. The kernel sends
it when the *thread* that forked exits, so every child is forked by one spawner thread that lives as long as
this process. Elsewhere (no such signal) children are started directly and only :meth:`ManagedProcess.stop`
ends them.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ManagedProcess", "free_port"]

_DIE_WITH_PARENT = Path(__file__).with_name("die_with_parent.py")
_spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="process spawner")


def _new_spawner() -> None:
    """A forked child has no spawner thread (only the forking thread survives a fork): its own, then."""
    global _spawner
    _spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="process spawner")


os.register_at_fork(after_in_child=_new_spawner)


def _dying_with_this_process(args: list[str]) -> list[str]:
    """``args`` run through :mod:`proxy.die_with_parent` on Linux; elsewhere as they are."""
    if sys.platform != "linux":
        return args
    parent, signum = str(os.getpid()), str(int(signal.SIGTERM))
    return [sys.executable, "-I", "-S", str(_DIE_WITH_PARENT), parent, signum, *args]


def free_port() -> int:
    """A loopback port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(eq=False)  # identity, not equality: two waits for the same pattern are two waiters
class _Waiter:
    regex: re.Pattern[str]
    match: re.Match[str] | None = None


class ManagedProcess:
    """A child process whose combined stdout/stderr is collected as lines while it runs.

    Only the first ``FIRST_LINES`` lines (where "ready" lines are) and the last ``LAST_LINES`` (what a failure
    report shows) are kept, so a chatty child (LiteLLM at DEBUG prints ~100 MB per 1,000 requests) keeps
    this process's memory flat; ``line_count`` counts every line. A wait sees every line printed while it
    waits, since each line is matched as it arrives.

    On Linux the command is exec'd by a small wrapper after the fork, so a command that cannot run shows up
    as a "cannot run" line and exit code 127 rather than as an exception here.
    """

    FIRST_LINES = 500
    LAST_LINES = 2_000

    def __init__(
        self, args: Sequence[str], *, env: dict[str, str] | None = None, cwd: str | Path | None = None
    ) -> None:
        self.args = list(args)
        self.first_lines: list[str] = []
        self.lines: deque[str] = deque(maxlen=self.LAST_LINES)
        self.line_count = 0
        self._waiters: list[_Waiter] = []
        self._changed = threading.Condition()
        self.process: subprocess.Popen[str] = _spawner.submit(
            subprocess.Popen,
            _dying_with_this_process(self.args),
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,  # its own process group: stop() reaches its children too
        ).result()
        self._reader = threading.Thread(
            target=self._read, name=f"output of {Path(self.args[0]).name}", daemon=True
        )
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for output in self.process.stdout:
            line = output.rstrip("\n")
            with self._changed:
                if len(self.first_lines) < self.FIRST_LINES:
                    self.first_lines.append(line)
                self.lines.append(line)
                self.line_count += 1
                for waiter in self._waiters:
                    if waiter.match is None:
                        waiter.match = waiter.regex.search(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def _kept(self) -> Iterator[str]:
        """The kept lines in order, each once (the first lines are also in the tail until it moves on)."""
        tail_start = self.line_count - len(self.lines)  # the number of the tail's first line
        yield from self.first_lines
        yield from itertools.islice(self.lines, max(0, len(self.first_lines) - tail_start), None)

    def tail(self, count: int = 30) -> str:
        with self._changed:
            return "\n".join(itertools.islice(self.lines, max(0, len(self.lines) - count), None))

    def wait_for_line(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        """The first output line matching ``pattern``, among the kept lines and then those still to come;
        fails if the process exits or time runs out first."""
        waiter = _Waiter(re.compile(pattern))
        deadline = time.monotonic() + timeout
        with self._changed:
            waiter.match = next(filter(None, map(waiter.regex.search, self._kept())), None)
            self._waiters.append(waiter)
            try:
                while waiter.match is None:
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
            finally:
                self._waiters.remove(waiter)
            return waiter.match

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
