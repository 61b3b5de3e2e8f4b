"""The port registry and project ids: stable ports, the range, the file, and ids that obey user_id rules."""

from __future__ import annotations

import ast
import json
import logging
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import proxy.interceptor
from proxy.identification import USER_ID_RE
from proxy.interceptor import (
    DEFAULT_PORT_MAX,
    DEFAULT_PORT_MIN,
    PortRangeExhausted,
    PortRegistry,
    default_registry_file,
    port_in_use,
    project_id,
)

# Below the ephemeral range (32768+), so the OS does not hand these ports out; distinct from the ranges of
# tests/regression/test_group3_port_registry.py, so parallel workers' in-use checks never meet.
BASE = 26100


def registry(tmp_path: Path, low: int = BASE, high: int = BASE + 9) -> PortRegistry:
    return PortRegistry(low, high, tmp_path / "reg" / "port_registry.json")


@pytest.fixture
def listening() -> Iterator[socket.socket]:
    """Something else on this machine listening on a loopback port (an ephemeral one)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock


def test_a_project_keeps_its_port_and_projects_differ(tmp_path):
    ports = registry(tmp_path)
    first = ports.get_or_allocate_port(tmp_path / "one")
    assert BASE <= first <= BASE + 9
    assert ports.get_or_allocate_port(tmp_path / "one") == first
    second = ports.get_or_allocate_port(tmp_path / "two")
    assert second != first
    assert ports.get_port(tmp_path / "two") == second
    assert ports.get_port(tmp_path / "never") is None
    assert ports.list_mappings() == {str(tmp_path / "one"): first, str(tmp_path / "two"): second}


def test_paths_are_normalised_so_a_symlink_shares_its_targets_port(tmp_path, monkeypatch):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    ports = registry(tmp_path)
    port = ports.get_or_allocate_port(real)
    assert ports.get_port(tmp_path / "link") == port
    monkeypatch.chdir(tmp_path)
    assert ports.get_port("real") == port
    assert ports.get_port(f"{tmp_path}/link/../real") == port
    assert list(ports.list_mappings()) == [str(real.resolve())]


def test_ports_in_use_on_the_machine_are_skipped(tmp_path, listening):
    taken = listening.getsockname()[1]
    assert port_in_use(taken)
    ports = PortRegistry(taken, taken, tmp_path / "r.json")
    with pytest.raises(PortRangeExhausted, match=r"0 mapped to projects .* 1 in use by other programs"):
        ports.get_or_allocate_port(tmp_path / "p")
    listening.close()
    assert not port_in_use(taken)
    assert ports.get_or_allocate_port(tmp_path / "p") == taken


def test_a_full_range_is_a_clear_error(tmp_path):
    ports = registry(tmp_path, BASE + 20, BASE + 21)
    allocated = {ports.get_or_allocate_port(tmp_path / name) for name in ("a", "b")}
    assert allocated == {BASE + 20, BASE + 21}
    with pytest.raises(PortRangeExhausted) as caught:
        ports.allocate_port(tmp_path / "c")
    message = str(caught.value)
    assert f"{BASE + 20}-{BASE + 21}" in message
    assert str(ports.registry_file) in message
    assert "interceptor remove" in message
    assert isinstance(caught.value, RuntimeError)  # what the earlier codebase raised
    assert ports.get_port(tmp_path / "c") is None


def test_a_removed_projects_port_is_the_last_to_be_reused(tmp_path):
    """An IDE still set to a removed project's port should not silently reach the next new project."""
    ports = registry(tmp_path, BASE + 30, BASE + 32)
    first = ports.get_or_allocate_port(tmp_path / "a")
    assert ports.remove_mapping(tmp_path / "a") is True
    assert ports.remove_mapping(tmp_path / "a") is False
    assert ports.deallocate_port(tmp_path / "a") is False
    later = [ports.get_or_allocate_port(tmp_path / name) for name in ("b", "c")]
    assert first not in later
    assert ports.get_or_allocate_port(tmp_path / "d") == first  # wraps around once the rest is used


def test_reset_forgets_everything(tmp_path):
    ports = registry(tmp_path)
    for name in ("a", "b", "c"):
        ports.get_or_allocate_port(tmp_path / name)
    assert ports.reset() == 3
    assert ports.list_mappings() == {}
    assert ports.reset() == 0


def test_the_file_is_json_written_whole_with_no_leftovers(tmp_path):
    ports = registry(tmp_path)
    port = ports.get_or_allocate_port(tmp_path / "a")
    data = json.loads(ports.registry_file.read_text())
    assert data["mappings"] == {str(tmp_path / "a"): port}
    assert data["version"] == 1
    assert data["port_range"] == {"start": BASE, "end": BASE + 9}
    ports.remove_mapping(tmp_path / "a")
    leftovers = sorted(p.name for p in ports.registry_file.parent.iterdir())
    assert leftovers == ["port_registry.json", "port_registry.json.lock"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    ports = registry(tmp_path)
    port = ports.get_or_allocate_port(tmp_path / "a")
    before = ports.registry_file.read_text()

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="No space"):
        ports.get_or_allocate_port(tmp_path / "b")
    monkeypatch.undo()
    assert ports.registry_file.read_text() == before
    assert not [p for p in ports.registry_file.parent.iterdir() if p.name.endswith(".tmp")]
    assert ports.list_mappings() == {str(tmp_path / "a"): port}


def test_the_earlier_codebases_file_keeps_its_ports(tmp_path):
    file = tmp_path / "port_registry.json"
    earlier = {
        "version": "1.0",
        "port_range": {"start": 8895, "end": 9999},
        "mappings": {str(tmp_path / "old"): 8901},
        "next_available": 8902,
    }
    file.write_text(json.dumps(earlier))
    ports = PortRegistry(BASE + 40, BASE + 41, file)
    assert ports.get_or_allocate_port(tmp_path / "old") == 8901  # outside today's range, but stable
    assert ports.get_or_allocate_port(tmp_path / "new") in (BASE + 40, BASE + 41)


@pytest.mark.parametrize(
    "content",
    ["{not json", "", "[]", '{"mappings": []}', '{"mappings": {"/p": "18800"}}', '{"mappings": {"/p": 0}}'],
    ids=["garbage", "empty", "list", "mappings-list", "port-string", "port-zero"],
)
def test_a_corrupt_file_is_backed_up_and_replaced(tmp_path, caplog, content):
    ports = registry(tmp_path)
    ports.registry_file.parent.mkdir(parents=True)
    ports.registry_file.write_text(content)
    with caplog.at_level(logging.WARNING, logger="proxy.interceptor"):
        port = ports.get_or_allocate_port(tmp_path / "a")
    [backup] = ports.registry_file.parent.glob("port_registry.json.corrupt-*")
    assert backup.read_text() == content
    assert json.loads(ports.registry_file.read_text())["mappings"] == {str(tmp_path / "a"): port}
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert str(ports.registry_file) in warning.getMessage()
    assert str(backup) in warning.getMessage()
    # Reading again finds a sound file: no second backup.
    assert ports.get_port(tmp_path / "a") == port
    assert len(list(ports.registry_file.parent.glob("*.corrupt-*"))) == 1


def test_two_corruptions_in_one_second_keep_both_backups(tmp_path):
    ports = registry(tmp_path)
    ports.registry_file.parent.mkdir(parents=True)
    for content in ("first", "second"):
        ports.registry_file.write_text(content)
        ports.list_mappings()
    backups = sorted(p.read_text() for p in ports.registry_file.parent.glob("*.corrupt-*"))
    assert backups == ["first", "second"]


def test_threads_allocating_at_once_get_distinct_ports(tmp_path):
    """The lock is per open file, so threads of one process are serialised as processes are."""
    ports = registry(tmp_path, BASE + 50, BASE + 99)
    projects = [tmp_path / f"p{i}" for i in range(20)]
    results: dict[int, list[int]] = {}
    start = threading.Barrier(6)

    def order(worker: int) -> list[Path]:
        return list(reversed(projects)) if worker % 2 else projects

    def allocate(worker: int) -> None:
        mine = PortRegistry(ports.port_min, ports.port_max, ports.registry_file)
        start.wait()
        results[worker] = [mine.get_or_allocate_port(p) for p in order(worker)]

    threads = [threading.Thread(target=allocate, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    mapping = ports.list_mappings()
    assert len(mapping) == 20
    assert len(set(mapping.values())) == 20
    assert sorted(results) == list(range(6))
    for worker, got in results.items():
        assert got == [mapping[str(p)] for p in order(worker)]


def test_defaults_and_bad_ranges(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert default_registry_file() == tmp_path / "cfg" / "litellm-memory-proxy" / "port_registry.json"
    ports = PortRegistry()
    assert (ports.port_min, ports.port_max) == (DEFAULT_PORT_MIN, DEFAULT_PORT_MAX)
    assert ports.registry_file == default_registry_file()
    assert "port_registry.json" in repr(ports)
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert (
        default_registry_file()
        == tmp_path / "home" / ".config" / "litellm-memory-proxy" / "port_registry.json"
    )
    for low, high in ((10, 5), (0, 10), (10, 70000)):
        with pytest.raises(ValueError, match="invalid port range"):
            PortRegistry(low, high, tmp_path / "r.json")


# -- project ids ---------------------------------------------------------------------------------------


def test_project_ids_are_readable_valid_and_stable(tmp_path):
    project = tmp_path / "My Project (v2)!"
    project.mkdir()
    ident = project_id(project)
    assert ident.startswith("my-project-v2-")
    assert USER_ID_RE.fullmatch(ident)
    assert ident == project_id(str(project)) == project_id(tmp_path / "." / "My Project (v2)!")
    assert len(ident.rsplit("-", 1)[1]) == 6


def test_same_name_in_different_folders_gets_different_ids(tmp_path):
    one, two = tmp_path / "a" / "api", tmp_path / "b" / "api"
    assert project_id(one) != project_id(two)
    assert project_id(one).startswith("api-") and project_id(two).startswith("api-")


@pytest.mark.parametrize(
    ("name", "start"),
    [
        ("...", "project-"),
        ("日本語", "project-"),
        ("-x-", "x-"),
        ("a.b_c:d", "a.b_c:d-"),
        ("UPPER", "upper-"),
    ],
)
def test_names_are_sanitised_to_the_user_id_rules(tmp_path, name, start):
    ident = project_id(tmp_path / name)
    assert ident.startswith(start)
    assert USER_ID_RE.fullmatch(ident)


def test_long_names_and_prefixes_stay_within_128_characters(tmp_path):
    ident = project_id(tmp_path / ("n" * 300), prefix="PyCharm ")
    assert len(ident) == 128
    assert ident.startswith("pycharm-nnn")
    assert USER_ID_RE.fullmatch(ident)
    assert project_id("/", prefix="ide:").startswith("ide:project-")
    with pytest.raises(ValueError, match="prefix"):
        project_id(tmp_path, prefix="p" * 125)


def test_the_package_exports_everything_it_defines():
    for module in (proxy.interceptor.port_registry, proxy.interceptor.app):
        tree = ast.parse(Path(module.__file__).read_text())
        public = {
            node.name
            for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_")
        }
        assert public <= set(module.__all__), module.__name__
        assert set(module.__all__) <= set(proxy.interceptor.__all__)
    assert all(hasattr(proxy.interceptor, name) for name in proxy.interceptor.__all__)
