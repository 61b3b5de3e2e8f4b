"""Seed group 3: the seed's tests called ``PortRegistry.allocate_port``, which the earlier code renamed.

Both names work (``get_or_allocate_port``, with ``allocate_port`` / ``deallocate_port`` as aliases), and
the registry holds up where the earlier one did not: processes allocating at once get distinct ports from
a file that is never half-written, a restart keeps every port, and a corrupt file is set aside and replaced.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import random
from pathlib import Path

from proxy.interceptor import PortRegistry

# Below the ephemeral range and apart from tests/unit/test_port_registry.py's ranges.
PORT_MIN, PORT_MAX = 26500, 26599
WORKERS, PROJECTS = 8, 50


def make_registry(tmp_path: Path) -> PortRegistry:
    return PortRegistry(PORT_MIN, PORT_MAX, tmp_path / "config" / "port_registry.json")


def test_allocate_port(tmp_path):
    registry = make_registry(tmp_path)
    port = registry.allocate_port("/path/to/project")
    assert PORT_MIN <= port <= PORT_MAX
    assert registry.allocate_port("/path/to/project") == port
    assert registry.get_or_allocate_port("/path/to/project") == port
    assert registry.get_port("/path/to/project") == port


def test_allocate_multiple_projects(tmp_path):
    registry = make_registry(tmp_path)
    ports = [registry.allocate_port(f"/path/to/project{i}") for i in range(3)]
    assert len(set(ports)) == 3
    assert all(PORT_MIN <= port <= PORT_MAX for port in ports)
    assert registry.list_mappings() == {f"/path/to/project{i}": port for i, port in enumerate(ports)}
    assert registry.deallocate_port("/path/to/project1") is True
    assert registry.get_port("/path/to/project1") is None


def test_port_allocation_persistence(tmp_path):
    first = make_registry(tmp_path)
    port = first.allocate_port("/path/to/persistent-project")
    restarted = make_registry(tmp_path)
    assert restarted.get_port("/path/to/persistent-project") == port
    assert restarted.allocate_port("/path/to/persistent-project") == port


def _projects(tmp_path: Path) -> list[str]:
    return [str(tmp_path / "projects" / f"project-{i:02d}") for i in range(PROJECTS)]


def test_processes_allocating_at_once_get_distinct_ports_and_a_valid_file(tmp_path):
    """8 processes, each asking for all 50 projects in its own order, all at the same moment."""
    registry = make_registry(tmp_path)
    projects = _projects(tmp_path)
    orders = [random.Random(worker).sample(projects, len(projects)) for worker in range(WORKERS)]
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter, as separate IDE windows would be
    everyone_up = spawn.Barrier(WORKERS)
    # The barrier holds every worker until all are running; then each takes one order (one chunk of 50).
    # Eight fresh interpreters on two busy cores can take a minute to come up: a broken barrier would make
    # every replacement worker fail at once. The pool is closed, not terminated, once its work is done:
    # terminating it can hang on a worker stopped while it held the task queue's lock.
    pool = spawn.Pool(WORKERS, initializer=everyone_up.wait, initargs=(300,))
    try:
        answers = pool.map_async(
            registry.get_or_allocate_port, [p for order in orders for p in order], chunksize=PROJECTS
        ).get(timeout=400)
    except BaseException:
        pool.terminate()
        raise
    pool.close()
    pool.join()

    file_contents = json.loads(registry.registry_file.read_text())  # whole, valid JSON
    mapping = file_contents["mappings"]
    assert sorted(mapping) == sorted(projects)
    assert len(set(mapping.values())) == PROJECTS
    assert all(PORT_MIN <= port <= PORT_MAX for port in mapping.values())
    for worker, order in enumerate(orders):  # every process was told the port the file holds
        chunk = answers[worker * PROJECTS : (worker + 1) * PROJECTS]
        assert chunk == [mapping[p] for p in order]
    leftovers = {p.name for p in registry.registry_file.parent.iterdir()}
    assert leftovers == {"port_registry.json", "port_registry.json.lock"}


def test_a_restarted_process_finds_the_same_ports(tmp_path):
    registry = make_registry(tmp_path)
    projects = _projects(tmp_path)[:5]
    ports = [registry.get_or_allocate_port(p) for p in projects]
    pool = multiprocessing.get_context("spawn").Pool(1)
    try:
        seen_after_restart = pool.map(make_registry(tmp_path).get_port, projects)
    finally:
        pool.close()
        pool.join()
    assert seen_after_restart == ports


def test_a_corrupt_registry_is_recovered_with_a_backup(tmp_path, caplog):
    registry = make_registry(tmp_path)
    registry.get_or_allocate_port("/projects/kept")
    whole = registry.registry_file.read_text()
    half = whole[: len(whole) // 2]  # what a writer without temp file + rename leaves behind in a crash
    registry.registry_file.write_text(half)

    with caplog.at_level(logging.WARNING, logger="proxy.interceptor"):
        port = make_registry(tmp_path).get_or_allocate_port("/projects/next")

    [backup] = registry.registry_file.parent.glob("port_registry.json.corrupt-*")
    assert backup.read_text() == half
    assert json.loads(registry.registry_file.read_text())["mappings"] == {"/projects/next": port}
    [warning] = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert str(registry.registry_file) in warning
    assert str(backup) in warning
    assert registry.get_port("/projects/kept") is None  # lost with the corrupt file, and said so
    assert "new ports" in warning
