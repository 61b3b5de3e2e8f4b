"""A team's proxy: each person's key keeps their memory apart from everyone else's, through the API, the
console and the MCP endpoint; an admin's key sees everyone's (:mod:`proxy.people`)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from starlette.datastructures import Headers
from typer.testing import CliRunner

from conformance.fakes.loopback import LoopbackServer
from conformance.harness import app_client
from conformance.suites.mcp import mcp_session, tool_result
from proxy.app import create_app
from proxy.auth import ProxyKey
from proxy.cli import app as cli
from proxy.config import ConfigError, parse_config
from proxy.errors import InvalidRequest
from proxy.identification import ClientIdentifier
from proxy.people import OWNER, Person
from proxy.scopes import ScopeResolver, person_namespace, project_id
from tests.doubles import CannedBackend

SAM_KEY = "sam-key-0a1b2c3d4e5f6071"
ALEX_KEY = "alex-key-8a9b0c1d2e3f4051"
ADMIN_KEY = "admin-key-6a7b8c9d0e1f2031"
KEYS = [
    {"key": SAM_KEY, "person": "sam"},
    {"key": ALEX_KEY, "person": "alex"},
    {"key": ADMIN_KEY, "person": "lee", "admin": True},
]
PROJECT = "/home/dev/billing-api"
SEVERAL_HOSTS = "http://proxy.team.example:8764"


def team_config(store: Path | None = None, **memory_proxy: Any):
    memory = {"local_store_path": str(store)} if store else {"enabled": False}
    return parse_config(
        {
            "model_list": [
                {"model_name": "m", "litellm_params": {"model": "openai/m", "api_key": "sk-x-123"}}
            ],
            "context_retrieval": {**memory, "semantic": False},
            "memory_proxy": {"keys": KEYS, **memory_proxy},
        },
        source="test",
    )


def as_(key: str, **headers: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}", **headers}


# --- the config ------------------------------------------------------------------------------------------


def test_keys_name_people_and_are_secrets_of_the_config():
    config = team_config()
    assert [(k.person, k.admin) for k in config.memory_proxy.keys] == [
        ("sam", False),
        ("alex", False),
        ("lee", True),
    ]
    assert {SAM_KEY, ALEX_KEY, ADMIN_KEY} <= set(config.secrets)  # masked in every error and log
    assert SAM_KEY not in repr(config.memory_proxy)


@pytest.mark.parametrize(
    ("keys", "extra", "said"),
    [
        ([{"key": SAM_KEY, "person": "sam"}], {"auth_key": "one-key-for-all"}, "set auth_key or keys"),
        ([{"key": SAM_KEY, "person": "sam"}, {"key": SAM_KEY, "person": "alex"}], {}, "a key is given twice"),
        (
            [{"key": SAM_KEY, "person": "sam"}, {"key": ALEX_KEY, "person": "sam"}],
            {},
            "each person once (sam)",
        ),
        ([{"key": SAM_KEY, "person": "person"}], {}, "keys.0.person"),
        ([{"key": SAM_KEY, "person": "sam:admin"}], {}, "keys.0.person"),
        ([{"key": SAM_KEY, "person": "Sam"}], {}, "keys.0.person"),
        ([{"key": "short", "person": "sam"}], {}, "keys.0.key"),
        (
            [{"key": "os.environ/NO_SUCH_KEY_VARIABLE", "person": "sam"}],
            {},
            "NO_SUCH_KEY_VARIABLE is not set",
        ),
    ],
    ids=["with-auth-key", "same-key", "same-person", "reserved", "colon", "upper-case", "short", "unset-env"],
)
def test_a_bad_list_of_keys_is_refused_naming_what_is_wrong(keys, extra, said):
    with pytest.raises(ConfigError) as refused:
        parse_config({"memory_proxy": {"keys": keys, **extra}}, source="test")
    assert said in str(refused.value)
    assert SAM_KEY not in str(refused.value)


def test_a_key_may_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("SAMS_PROXY_KEY", SAM_KEY)
    config = parse_config(
        {"memory_proxy": {"keys": [{"key": "os.environ/SAMS_PROXY_KEY", "person": "sam"}]}}, source="test"
    )
    assert ProxyKey.of(config.memory_proxy).owner_of(SAM_KEY) == Person("sam")


# --- keys and sessions -----------------------------------------------------------------------------------


def test_each_key_lets_in_its_own_person_and_no_other():
    key = ProxyKey.of(team_config().memory_proxy)
    assert key.required and key.for_people
    assert key.owner_of(SAM_KEY) == Person("sam")
    assert key.owner_of(ADMIN_KEY) == Person("lee", admin=True)
    assert key.owner_of(SAM_KEY[:-1]) is None
    assert key.owner_of("") is None
    assert key.person_of(Headers({"x-api-key": ALEX_KEY})) == Person("alex")
    assert key.person_of(Headers({"x-memory-proxy-key": ALEX_KEY, "authorization": "Bearer sk-ant-own"})) == (
        Person("alex")
    )
    assert ProxyKey(None).person_of(Headers({})) is OWNER  # no key: the one person
    assert ProxyKey("one-key-for-all").owner_of("one-key-for-all") is OWNER


def test_a_session_is_its_persons_and_cannot_be_turned_into_anothers():
    key = ProxyKey.of(team_config().memory_proxy)
    sams = key.new_session(Person("sam"))
    assert key._session_person(sams) == Person("sam")
    expires, nonce, _, signature = sams.split(".")
    assert key._session_person(f"{expires}.{nonce}.alex.{signature}") is None
    assert key._session_person(f"{expires}.{nonce}.lee.{signature}") is None
    assert key._session_person(f"{expires}.{nonce}..{signature}") is None  # nobody is the one person here
    assert key._session_person(f"{expires}.{nonce}.nobody.{signature}") is None
    rotated = team_config().memory_proxy.model_copy(
        update={
            "keys": [k.model_copy(update={"key": k.key + "-new"}) for k in team_config().memory_proxy.keys]
        }
    )
    assert ProxyKey.of(rotated)._session_person(sams) is None  # a changed key ends its sessions


# --- namespaces ------------------------------------------------------------------------------------------


def test_a_persons_namespaces_carry_their_name_and_a_long_project_id_keeps_its_hash():
    sam = Person("sam")
    assert sam.namespace("claude-code") == "sam:claude-code"
    long_project = project_id("/srv/" + "a" * 200)
    assert len(long_project) == 128
    inside = sam.namespace(long_project)
    assert len(inside) == 128 and inside.startswith("sam:a") and inside.endswith(long_project[-7:])
    with pytest.raises(InvalidRequest, match="too long"):
        sam.namespace("x" * 126)
    assert OWNER.namespace("x" * 128) == "x" * 128


def test_a_person_sees_only_their_own_namespaces_and_an_admin_every_one():
    sam, lee = Person("sam"), Person("lee", admin=True)
    assert sam.sees("sam:claude-code") and sam.sees("person:sam")
    assert not sam.sees("alex:claude-code") and not sam.sees("person:alex")
    assert not sam.sees("claude-code") and not sam.sees("sammy:claude-code") and not sam.sees("person:sammy")
    assert lee.sees("alex:claude-code") and lee.sees("person:sam") and OWNER.sees("anything")


def test_two_people_in_a_project_of_the_same_path_never_share_a_namespace():
    config = team_config()
    identifier = ClientIdentifier(config.user_id_mappings)
    resolver = ScopeResolver(config, identifier.patterns)

    def scope(person: Person, **headers: str):
        sent = Headers(headers)
        return resolver.resolve(identifier.identify(sent), sent, None, person)

    sams = scope(Person("sam"), **{"x-memory-project": PROJECT})
    alexs = scope(Person("alex"), **{"x-memory-project": PROJECT})
    assert sams.project == alexs.project == project_id(PROJECT)  # the same project, as each client sees it
    assert (sams.namespace, sams.person) == (f"sam:{project_id(PROJECT)}", person_namespace("sam"))
    assert (alexs.namespace, alexs.person) == (f"alex:{project_id(PROJECT)}", "person:alex")
    # A namespace named outright stays inside the sender's memory, whatever it names.
    assert scope(Person("alex"), **{"x-memory-user-id": "person:sam"}).namespace == "alex:person:sam"
    assert (
        scope(Person("alex"), **{"x-memory-user-id": "sam:claude-code"}).namespace == "alex:sam:claude-code"
    )
    assert scope(Person("alex")).namespace == "alex:default-dev"


# --- through the proxy -----------------------------------------------------------------------------------


async def ask(client: httpx.AsyncClient, key: str, text: str, **headers: str) -> httpx.Response:
    body = {"model": "m", "messages": [{"role": "user", "content": text}]}
    answer = await client.post("/v1/chat/completions", json=body, headers=as_(key, **headers))
    assert answer.status_code == 200, answer.text
    return answer


async def stored(client: httpx.AsyncClient, expected: int) -> None:
    deadline = time.monotonic() + 10
    status = "/memory/status"
    while (await client.get(status, headers=as_(ADMIN_KEY))).json()["write_back"]["stored"] < expected:
        assert time.monotonic() < deadline, "write-back did not store the exchanges"


def sent_to_provider(backend: CannedBackend) -> str:
    return str(backend.calls[-1].payload["messages"])


@pytest.fixture
def team(tmp_path: Path) -> tuple[Any, CannedBackend]:
    backend = CannedBackend()
    return create_app(team_config(tmp_path / "memory.sqlite3"), backend), backend


async def test_one_persons_memories_never_reach_anothers_request_in_the_same_project(team):
    app, backend = team
    in_project = {"x-memory-project": PROJECT}
    async with app_client(app, SEVERAL_HOSTS) as client:
        await ask(client, SAM_KEY, "Remember: the staging database password rotates on Fridays", **in_project)
        await ask(client, SAM_KEY, "I prefer answers in French")
        await stored(client, 2)
        alexs = await ask(client, ALEX_KEY, "When does the staging database password rotate?", **in_project)
        to_alex = sent_to_provider(backend)
        await ask(client, SAM_KEY, "When does the staging database password rotate?", **in_project)
        to_sam = sent_to_provider(backend)
        refused = await client.post(
            "/v1/chat/completions", json={"model": "m", "messages": []}, headers=as_("not-a-key-at-all")
        )
        routing = await client.get("/memory-routing/info", headers=as_(ALEX_KEY, **in_project))
    assert "Fridays" not in to_alex and "French" not in to_alex
    assert alexs.headers["x-memory-status"].startswith("skipped")
    assert "Fridays" in to_sam
    assert refused.status_code == 401
    assert routing.json()["key_owner"] == "alex"
    assert routing.json()["namespace"] == f"alex:{project_id(PROJECT)}"
    assert routing.json()["person"] == "person:alex"


async def sign_in(client: httpx.AsyncClient, key: str) -> None:
    signed_in = await client.post("/ui/signin", json={"key": key})
    assert signed_in.status_code == 204, signed_in.text


async def test_in_the_console_a_person_sees_and_changes_only_their_own_memories(team):
    app, _ = team
    in_project = {"x-memory-project": PROJECT}
    sams_project = f"sam:{project_id(PROJECT)}"
    async with app_client(app, SEVERAL_HOSTS) as client:
        await ask(client, SAM_KEY, "Remember: the deploy key lives in vault", **in_project)
        await ask(client, ALEX_KEY, "Remember: the release train leaves on Tuesdays", **in_project)
        await stored(client, 2)
        everyones = (await client.get("/ui/api/requests", headers=as_(ADMIN_KEY))).json()["requests"]
        sams_request = next(r["id"] for r in everyones if r["person"] == "sam")
        await sign_in(client, ALEX_KEY)
        overview = (await client.get("/ui/api/overview")).json()
        requests = (await client.get("/ui/api/requests")).json()["requests"]
        reads = [
            await client.get(f"/ui/api/clients/{sams_project}/memories"),
            await client.get(f"/ui/api/clients/{sams_project}/search", params={"q": "deploy"}),
            await client.delete(f"/ui/api/clients/{sams_project}/memories"),
            await client.get(f"/ui/api/requests/{sams_request}"),
        ]
        own = (await client.get(f"/ui/api/clients/alex:{project_id(PROJECT)}/memories")).json()["memories"]
        moved = await client.post(
            f"/ui/api/clients/alex:{project_id(PROJECT)}/memories/{own[0]['id']}/move",
            json={"to": sams_project},
        )
        client.cookies.clear()
        await sign_in(client, ADMIN_KEY)
        admins = (await client.get("/ui/api/overview")).json()
        admin_requests = (await client.get("/ui/api/requests")).json()["requests"]
        sams_memories = (await client.get(f"/ui/api/clients/{sams_project}/memories")).json()["memories"]
    listed = {entry["user_id"] for entry in overview["clients"]}
    assert listed == {f"alex:{project_id(PROJECT)}", "alex:default-dev"}
    assert overview["signed_in_as"] == {"person": "alex", "admin": False}
    assert {r["person"] for r in requests} == {"alex"}
    assert [answer.status_code for answer in reads] == [404, 404, 404, 404]
    assert moved.status_code == 404
    assert {f"alex:{project_id(PROJECT)}", sams_project} <= {entry["user_id"] for entry in admins["clients"]}
    assert {r["person"] for r in admin_requests} == {"sam", "alex"}
    assert sams_memories[0]["content"].startswith("user: Remember: the deploy key lives in vault")


def test_mcp_tools_work_in_the_callers_own_memory(tmp_path: Path):
    app = create_app(team_config(tmp_path / "memory.sqlite3"), CannedBackend())

    async def session_of(url: str, key: str, tool: str, arguments: dict[str, Any]) -> Any:
        async with mcp_session(url, headers=as_(key, **{"x-memory-project": PROJECT})) as session:
            return await session.call_tool(tool, arguments)

    async def scenario(url: str) -> tuple[Any, Any, Any]:
        kept = tool_result(
            await session_of(url, SAM_KEY, "remember", {"note": "the on-call rota is in the wiki"})
        )
        alexs = tool_result(await session_of(url, ALEX_KEY, "recall", {"query": "on-call rota"}))
        sams = tool_result(await session_of(url, SAM_KEY, "recall", {"query": "on-call rota"}))
        return kept, alexs, sams

    with LoopbackServer(app, lifespan="on") as server:
        kept, alexs, sams = asyncio.run(scenario(f"{server.url}/mcp"))
    assert (kept["namespace"], kept["kind"]) == (f"sam:{project_id(PROJECT)}", "project")
    assert alexs == []
    assert [item["content"] for item in sams] == ["the on-call rota is in the wiki"]


# --- the CLI ---------------------------------------------------------------------------------------------


def test_the_cli_names_the_people_and_lists_or_exports_one_persons_memories(team, tmp_path: Path):
    app, _ = team

    async def two_people_said_something() -> None:
        async with app_client(app, SEVERAL_HOSTS) as client:
            await ask(
                client, SAM_KEY, "Remember: the deploy key lives in vault", **{"x-memory-project": PROJECT}
            )
            await ask(client, ALEX_KEY, "Remember: the release train leaves on Tuesdays")
            await stored(client, 2)

    asyncio.run(two_people_said_something())  # the CLI runs its own event loop
    config_file = tmp_path / "team.yaml"
    config_file.write_text(
        yaml.safe_dump(
            {
                "context_retrieval": {
                    "local_store_path": str(tmp_path / "memory.sqlite3"),
                    "semantic": False,
                },
                "memory_proxy": {"keys": KEYS},
            }
        )
    )
    runner = CliRunner()
    checked = runner.invoke(cli, ["check-config", "--config", str(config_file)])
    listed = runner.invoke(
        cli, ["memories", "clients", "--person", "sam", "--json", "--config", str(config_file)]
    )
    everyone = runner.invoke(cli, ["memories", "clients", "--json", "--config", str(config_file)])
    exported = runner.invoke(cli, ["memories", "export", "--person", "alex", "--config", str(config_file)])
    bad = runner.invoke(cli, ["memories", "export", "--person", "Sam:x", "--config", str(config_file)])
    assert checked.exit_code == 0, checked.output
    assert "one per person: sam, alex, lee (admin)" in checked.output
    assert SAM_KEY not in checked.output
    assert [json.loads(line)["namespace"] for line in listed.stdout.splitlines()] == [
        f"sam:{project_id(PROJECT)}"
    ]
    assert {json.loads(line)["namespace"] for line in everyone.stdout.splitlines()} == {
        f"sam:{project_id(PROJECT)}",
        "alex:default-dev",
    }
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [line["user_id"] for line in lines if "user_id" in line] == ["alex:default-dev"]
    assert bad.exit_code == 2
