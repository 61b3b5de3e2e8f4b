"""Nothing answered is lost: real proxy processes killed outright, a store whose disk is full, a
PostgreSQL stopped and started. Every exchange a client got a whole answer to ends up in the store, once.

The outages are short here (``./RUN_TESTS.sh all``) and minutes long in ``./RUN_TESTS.sh faults``
(``MEMORY_PROXY_TEST_DISK_FULL_SECONDS``, ``MEMORY_PROXY_TEST_POSTGRES_DOWN_SECONDS``).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conformance.tools import missing_tool
from tests.security.durability import (
    contents,
    outage_seconds,
    proxy_process,
    send_many,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.fault, pytest.mark.slow]


def stored_once(store: Path, user: str, answered: list[str]) -> None:
    """Every answered exchange is in the store, each exactly once."""
    held = contents(store, user)
    prompts = [memory.split("\nassistant:")[0].removeprefix("user: ") for memory in held]
    missing = [text for text in answered if text not in prompts]
    assert not missing, f"{len(missing)} of {len(answered)} answered exchanges lost, e.g. {missing[:3]}"
    assert len(prompts) == len(set(prompts)), "an exchange was stored twice"


def kill(proxy) -> None:
    os.killpg(proxy.process.process.pid, signal.SIGKILL)
    proxy.process.process.wait(10)


def test_kill_9_while_the_journal_holds_every_answered_exchange_loses_none(
    tmp_path, fake_provider_url, unreachable_url, record_property
):
    """The store is held locked by another process, so every answered exchange waits in the journal;
    then the proxy is killed outright. The next proxy on the same store stores them all."""
    store = tmp_path / "memory.sqlite3"
    memory = {"local_store_path": str(store)}
    with proxy_process(tmp_path, fake_provider_url, unreachable_url, memory) as first:
        locker = sqlite3.connect(store, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")  # every write of the proxy now fails: "database is locked"
        answered = send_many(first.url, "sam", 40)
        assert len(answered) == 40
        wait_until(lambda: first.status()["journal"]["pending"] == 40, 30, "all 40 in the journal")
        assert first.status()["write_back"]["stored"] == 0
        kill(first)
        locker.execute("ROLLBACK")
        locker.close()
    with proxy_process(tmp_path, fake_provider_url, unreachable_url, memory, name="second") as second:
        took = wait_until(lambda: second.status()["write_back"]["stored"] >= 40, 30, "the second stored them")
        assert second.status()["journal"]["recovered"] == 40
    stored_once(store, "sam", answered)
    record_property(
        "figure", f"40 answered, killed with all 40 in the journal; 40 stored {took:.1f} s after the restart"
    )


PLANNED = 3000


def test_kill_9_under_load_loses_nothing_that_was_answered(
    tmp_path, fake_provider_url, unreachable_url, record_property
):
    """Exchanges at concurrency 16, the proxy killed outright in the middle of them, with some stored
    and some only in the journal (the store is locked once 20 are in, so the rest pile up there; more
    are planned than are sent before the kill, so requests are in flight when it comes)."""
    store = tmp_path / "memory.sqlite3"
    memory = {"local_store_path": str(store)}
    with proxy_process(tmp_path, fake_provider_url, unreachable_url, memory) as first:
        answered: list[str] = []
        load = threading.Thread(
            target=lambda: answered.extend(send_many(first.url, "sam", PLANNED, concurrency=16))
        )
        load.start()
        wait_until(lambda: first.status()["write_back"]["stored"] >= 20, 60, "20 exchanges stored")
        locker = sqlite3.connect(store, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        wait_until(lambda: first.status()["journal"]["pending"] >= 20, 60, "20 exchanges waiting")
        kill(first)
        load.join()
        locker.execute("ROLLBACK")
        locker.close()
    assert 20 <= len(answered) < PLANNED, len(answered)
    with proxy_process(tmp_path, fake_provider_url, unreachable_url, memory, name="second") as second:
        wait_until(lambda: second.status()["journal"]["pending"] == 0, 30, "the journal emptied")
        recovered = second.status()["journal"]["recovered"]
    assert recovered >= 20
    stored_once(store, "sam", answered)
    record_property("figure", f"killed after {len(answered)} answered ({recovered} from the journal): 0 lost")


@pytest.fixture
def small_disk(tmp_path) -> Path:
    """A 16 MB filesystem of its own (tmpfs; mounting needs root, which CI has)."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(folder)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        missing_tool(
            f"a small filesystem for the full-disk test needs root to mount a tmpfs: {mounted.stderr}"
        )
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    """Fill the filesystem of ``folder`` to the last byte; the file that did it."""
    filler = folder / "filler"
    # Unbuffered: a buffered file would try its last block again on close, and fail there.
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 65536)
        except OSError:
            pass
    return filler


def test_a_full_disk_loses_nothing_while_the_proxy_runs_on(
    tmp_path, small_disk, fake_provider_url, unreachable_url, record_property
):
    """The store and its journal on a disk that fills up: exchanges answered meanwhile wait in the
    journal's reserve (and in memory), readiness says memory is degraded and how many wait, and all are
    stored once there is room."""
    store = small_disk / "memory.sqlite3"
    memory = {"local_store_path": str(store)}
    full_for = outage_seconds("DISK_FULL", 3)
    with proxy_process(tmp_path, fake_provider_url, unreachable_url, memory) as proxy:
        assert len(send_many(proxy.url, "sam", 4, prefix="before")) == 4
        filler = fill(small_disk)
        answered = []
        started = time.monotonic()
        while time.monotonic() - started < full_for:  # traffic all through the outage
            answered += send_many(proxy.url, "sam", 4, prefix=f"during {len(answered)}")
        wait_until(lambda: proxy.status()["degraded"] is not None, 30, "memory said degraded")
        readiness = proxy.readiness()  # the store can be opened: memory is degraded, not broken
        assert "memory_problem" not in readiness
        assert readiness["memory_degraded"].startswith("memory degraded: ")
        filler.unlink()
        took = wait_until(
            lambda: proxy.status()["write_back"]["pending"] == 0 and proxy.status()["degraded"] is None,
            30,
            "stored once there was room",
        )
        assert took < 15
        assert proxy.status()["write_back"]["dropped"] == 0
        refused = proxy.status()["journal"]["refused"]
    stored_once(store, "sam", answered)
    record_property(
        "figure",
        f"disk full for {full_for:g} s: {len(answered)} answered meanwhile, {len(answered) - refused} of "
        f"them in the journal's reserve; all stored {took:.1f} s after room was made, 0 lost",
    )


def test_killed_while_the_disk_is_full_loses_nothing_the_journal_reserve_took(
    tmp_path, small_disk, fake_provider_url, unreachable_url
):
    """The worst moment: the disk is full (the store cannot write) and the proxy is killed outright. What
    was answered is in the journal's reserved space, and the next proxy stores it once there is room."""
    store = small_disk / "memory.sqlite3"
    memory = {"local_store_path": str(store)}
    with proxy_process(tmp_path, fake_provider_url, unreachable_url, memory) as first:
        assert len(send_many(first.url, "sam", 4, prefix="before")) == 4
        wait_until(lambda: first.status()["write_back"]["stored"] == 4, 30, "stored before the disk filled")
        filler = fill(small_disk)
        answered = send_many(first.url, "sam", 40, prefix="while full")
        wait_until(lambda: first.status()["journal"]["pending"] == len(answered), 30, "journaled")
        assert first.status()["journal"]["refused"] == 0
        kill(first)
    filler.unlink()
    with proxy_process(tmp_path, fake_provider_url, unreachable_url, memory, name="second") as second:
        wait_until(
            lambda: second.status()["write_back"]["stored"] >= len(answered), 30, "stored after the restart"
        )
    stored_once(store, "sam", answered)


def test_postgresql_stopped_and_started_loses_nothing_and_is_used_again_within_seconds(
    tmp_path, fake_provider_url, unreachable_url, record_property
):
    """PostgreSQL goes down with the proxy running, traffic goes on (answered, without memory), and
    comes back: everything answered is stored within seconds, and readiness is itself again."""
    try:
        import pgserver
        from pgserver._commands import pg_ctl
    except ImportError:
        missing_tool("no PostgreSQL to test with: pip install pgserver")

    down_for = outage_seconds("POSTGRES_DOWN", 5)
    # Not under pytest's folder: another pytest session starting meanwhile makes that private again, and
    # the server (run as its own user when the tests run as root) could not be started after the outage.
    server = pgserver.get_server(tempfile.mkdtemp(prefix="pg"), cleanup_mode="delete")
    try:
        memory = {"provider": "postgres", "dsn": server.get_uri(), "journal_dir": str(tmp_path / "journal")}
        with proxy_process(tmp_path, fake_provider_url, unreachable_url, memory) as proxy:
            assert len(send_many(proxy.url, "sam", 4, prefix="before")) == 4
            wait_until(lambda: proxy.status()["write_back"]["stored"] == 4, 30, "stored before the outage")
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)
            answered: list[str] = []
            started = time.monotonic()
            while time.monotonic() - started < down_for:
                answered += send_many(proxy.url, "sam", 2, prefix=f"during {len(answered)}")
                time.sleep(0.5)
            wait_until(lambda: proxy.status()["degraded"] is not None, 30, "memory said degraded")
            assert "memory_problem" in proxy.readiness()  # the store cannot be opened: not a silent "ready"
            server.ensure_postgres_running()
            took = wait_until(
                lambda: proxy.status()["write_back"]["pending"] == 0 and proxy.status()["degraded"] is None,
                60,
                "stored after PostgreSQL came back",
            )
            assert took < 15, f"PostgreSQL came back but took {took:.0f} s to be used"
            wait_until(lambda: "memory_problem" not in proxy.readiness(), 15, "memory ready again")
            stored = proxy.status()["write_back"]["stored"]
        assert stored == 4 + len(answered)
        record_property(
            "figure",
            f"PostgreSQL down for {down_for:g} s: {len(answered)} answered meanwhile, all stored "
            f"{took:.1f} s after it came back, 0 lost",
        )
    finally:
        server.cleanup()
