"""ManagedProcess: bounded output that waits still search without missing a line, and children that die
with the process that started them (Linux), even when it is killed outright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import proxy.processes
from proxy.processes import ManagedProcess

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux only")

FLOOD = 200_000


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def exited(pid: int) -> bool:
    """Whether ``pid`` is gone; a zombie counts, since a container's PID 1 may never reap orphans."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def wait_until_exited(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not exited(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_flood_of_output_keeps_memory_bounded_and_the_lines_around_it_findable():
    """A chatty child (LiteLLM at DEBUG) must not grow the parent: the first and last lines are kept."""
    code = f"print('ready', flush=True)\nfor i in range({FLOOD}): print(f'noise {{i}}')\nprint('done')"
    with ManagedProcess(python(code)) as process:
        assert process.process.wait(timeout=60) == 0
        assert process.wait_for_line(r"^ready$", timeout=30)  # printed before the flood
        assert process.wait_for_line(r"^done$", timeout=30)  # printed after it
        with pytest.raises(RuntimeError, match="exited with 0 before printing"):
            process.wait_for_line(rf"^noise {FLOOD // 2}$", timeout=30)  # dropped before anyone waited
    assert process.line_count == FLOOD + 2
    assert len(process.first_lines) + len(process.lines) <= 5_000
    assert process.first_lines[0] == "ready"
    assert process.tail(2).splitlines() == [f"noise {FLOOD - 1}", "done"]


def test_a_wait_sees_every_line_printed_while_it_waits_even_in_a_flood(tmp_path):
    """A line printed during the wait is matched as it arrives, before the tail can drop it unread."""
    go = tmp_path / "go"
    code = (
        "import os, sys\n"
        "print('ready', flush=True)\n"
        f"while not os.path.exists({str(go)!r}): print('noise before')\n"
        f"for i in range({FLOOD}): print('noise' if i != {FLOOD // 2} else 'needle')\n"
    )
    with ManagedProcess(python(code)) as process:
        process.wait_for_line(r"^ready$", timeout=30)
        found: list[str] = []
        waiter = threading.Thread(target=lambda: found.append(process.wait_for_line("needle", 60)[0]))
        waiter.start()
        deadline = time.monotonic() + 30
        while not process._waiters:  # the wait is registered: the needle is printed only after this
            assert time.monotonic() < deadline
            time.sleep(0.01)
        go.touch()
        waiter.join(60)
        assert found == ["needle"]
        assert process.process.wait(timeout=60) == 0


@linux_only
def test_a_child_dies_when_the_process_that_started_it_is_killed_outright():
    """SIGKILL leaves the parent no chance to stop its child; the parent-death signal stops it instead."""
    code = (
        "import time\n"
        "from proxy.processes import ManagedProcess\n"
        "child = ManagedProcess(['sleep', '600'])\n"
        "print(child.process.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen(python(code), stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    grandchild = int(parent.stdout.readline())
    try:
        assert not exited(grandchild)
        parent.kill()
        parent.wait(timeout=10)
        assert wait_until_exited(grandchild)
    finally:
        if not exited(grandchild):
            os.kill(grandchild, signal.SIGKILL)
        parent.stdout.close()


@linux_only
def test_a_child_started_from_a_short_lived_thread_outlives_that_thread(tmp_path):
    """The kernel sends the parent-death signal when the *thread* that forked exits, not the process."""
    go = tmp_path / "go"
    code = (
        "import os, time\n"
        "print('started', flush=True)\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.01)\n"
        "print('still alive', flush=True)\n"
    )
    started: list[ManagedProcess] = []

    def start() -> None:
        started.append(ManagedProcess(python(code)))
        started[0].wait_for_line("started", timeout=30)

    thread = threading.Thread(target=start)
    thread.start()
    thread.join(60)
    with started[0] as process:
        go.touch()
        process.wait_for_line("still alive", timeout=30)
        assert process.process.wait(timeout=30) == 0


@linux_only
def test_the_wrapper_runs_nothing_when_its_parent_died_before_the_signal_was_armed():
    """Had the parent died between fork and prctl, no signal would ever come: the command must not start."""
    wrapper = Path(proxy.processes.__file__).with_name("die_with_parent.py")
    wrong_parent = "0"  # what getppid() never returns to a process started by this one
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(wrapper), wrong_parent, "15", "echo", "ran"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (result.returncode, result.stdout, result.stderr) == (1, "", "")


def test_a_command_that_cannot_run_is_reported_in_its_output():
    """The command is run by the wrapper, after the fork: its failure is in the output, not an exception."""
    with (
        ManagedProcess(["/nonexistent/command"]) as process,
        pytest.raises(RuntimeError, match="cannot run /nonexistent/command"),
    ):
        process.wait_for_line("never", timeout=30)
