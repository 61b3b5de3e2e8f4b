"""The console's server side: its page and JSON behind the proxy key, what it lists, search and forget, and
the request records it shows (the browser tests in tests/browser click through the same in chromium)."""

from __future__ import annotations

import secrets
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from conformance.fakes.supermemory import DEFAULT_SUPERMEMORY_API_KEY, FakeSupermemory
from conformance.harness import app_client
from proxy.activity import ERROR_CHARS, INJECTED_CHARS, KEPT_REQUESTS, Activity, RequestTrace
from proxy.app import create_app
from proxy.auth import SESSION_COOKIE, ProxyKey
from proxy.config import parse_config
from proxy.identification import ClientIdentity
from proxy.interceptor import PortRegistry, project_id
from proxy.memory.conversations import Pin
from proxy.memory.service import Recall
from proxy.processes import free_port
from tests.doubles import CannedBackend

LOCAL = "http://127.0.0.1:8764"
"""The console answers only at this machine's own names while no proxy key is set."""

KEY = "console-key-4f9a1c"
PROVIDER_KEY = "sk-provider-secret-77d2"


def config(store_path: Path, memory: dict[str, Any] | None = None, **memory_proxy: Any):
    """A proxy with a local store at ``store_path`` (``memory``: more context_retrieval settings)."""
    return parse_config(
        {
            "model_list": [
                {"model_name": "m", "litellm_params": {"model": "openai/m", "api_key": PROVIDER_KEY}}
            ],
            "context_retrieval": {"local_store_path": str(store_path), "semantic": False, **(memory or {})},
            "memory_proxy": memory_proxy,
        },
        source="test",
    )


async def say(client: httpx.AsyncClient, user: str, text: str, **headers: str) -> httpx.Response:
    body = {"model": "m", "messages": [{"role": "user", "content": text}]}
    answer = await client.post(
        "/v1/chat/completions", json=body, headers={"x-memory-user-id": user, **headers}
    )
    assert answer.status_code == 200, answer.text
    return answer


async def stored(client: httpx.AsyncClient, expected: int, **headers: str) -> None:
    """Until write-back has stored ``expected`` exchanges (it runs after the answer)."""
    deadline = time.monotonic() + 10
    while (await client.get("/memory/status", headers=headers)).json()["write_back"]["stored"] < expected:
        assert time.monotonic() < deadline, "write-back did not store the exchanges"
        await client.get("/health")  # yield to the writer


@pytest.fixture
def app(tmp_path: Path) -> Any:
    return create_app(config(tmp_path / "memory.sqlite3"), CannedBackend())


async def test_clients_are_listed_with_their_memory_counts_and_last_activity(app: Any):
    async with app_client(app, LOCAL) as client:
        before = time.time()
        await say(client, "alice", "my cat is called Tom")
        await say(client, "alice", "my dog is called Rex")
        await stored(client, 2)
        await say(client, "bob", "I live in Lisbon")  # after alice's memories were written
        await stored(client, 3)
        overview = (await client.get("/ui/api/overview")).json()
    clients = {entry["user_id"]: entry for entry in overview["clients"]}
    assert set(clients) == {"alice", "bob"}
    assert clients["alice"]["memories"] == 2
    assert clients["bob"]["memories"] == 1
    assert clients["alice"]["newest_memory_at"] >= before
    assert clients["bob"]["last_request_at"] >= before
    assert overview["clients"][0]["user_id"] == "bob"  # the most recent first
    assert overview["memory"]["write_back"]["stored"] == 3
    assert overview["key_required"] is False


async def test_a_client_seen_but_without_memories_is_listed_too(tmp_path: Path):
    settings = config(tmp_path / "memory.sqlite3", memory={"store_conversations": False})
    app = create_app(settings, CannedBackend())
    async with app_client(app, LOCAL) as client:
        await say(client, "carol", "hello")
        overview = (await client.get("/ui/api/overview")).json()
    assert [(entry["user_id"], entry["memories"]) for entry in overview["clients"]] == [("carol", 0)]


async def test_memories_newest_first_search_by_recall_and_forget(app: Any):
    async with app_client(app, LOCAL) as client:
        for text in ("my cat is called Tom", "my dog is called Rex", "the boat is blue"):
            await say(client, "alice", text)
        await say(client, "bob", "my cat is called Felix")
        await stored(client, 4)
        listed = (await client.get("/ui/api/clients/alice/memories")).json()["memories"]
        found = (await client.get("/ui/api/clients/alice/search", params={"q": "cat"})).json()
        first = listed[0]["id"]
        forgot = await client.delete(f"/ui/api/clients/alice/memories/{first}")
        again = await client.delete(f"/ui/api/clients/alice/memories/{first}")
        bobs_id = (await client.get("/ui/api/clients/bob/memories")).json()["memories"][0]["id"]
        cross = await client.delete(f"/ui/api/clients/alice/memories/{bobs_id}")
        left = (await client.get("/ui/api/clients/alice/memories")).json()["memories"]
        everything = await client.delete("/ui/api/clients/alice/memories")
        after = (await client.get("/ui/api/clients/alice/memories")).json()["memories"]
        bobs = (await client.get("/ui/api/clients/bob/memories")).json()["memories"]
    assert [memory["content"].split("\nassistant:")[0] for memory in listed] == [
        "user: the boat is blue",
        "user: my dog is called Rex",
        "user: my cat is called Tom",
    ]
    assert [(result["rank"], result["signal"]) for result in found["results"]] == [(1, "words")]
    assert "Tom" in found["results"][0]["content"]  # alice's cat, never bob's
    assert found["results"][0]["score"] > 0
    assert forgot.json() == {"forgotten": 1}
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "memory_not_found"
    assert cross.status_code == 404  # another client's memory is not alice's to forget
    assert len(left) == 2
    assert everything.json() == {"forgotten": 2}
    assert after == []
    assert len(bobs) == 1


async def test_each_namespace_shows_its_kind_and_a_memory_moves_between_project_and_person(app: Any):
    """A memory filed in the wrong scope is moved in the console as ``memories move`` does: written in its
    new namespace (content, time and metadata kept, its scope now the new kind) before it leaves the old."""
    project = project_id("/home/sam/billing-api")
    async with app_client(app, LOCAL) as client:
        await say(client, project, "I prefer tabs over spaces")
        await say(client, project, "the build tool here is bazel")
        await stored(client, 2)
        overview = (await client.get("/ui/api/overview")).json()
        listed = (await client.get(f"/ui/api/clients/{project}/memories")).json()["memories"]
        tabs = next(memory for memory in listed if "tabs" in memory["content"])
        move = f"/ui/api/clients/{project}/memories/{tabs['id']}/move"
        moved = await client.post(move, json={"to": "person:sam"})
        again = await client.post(move, json={"to": "person:sam"})
        invalid = await client.post(move, json={"to": "not valid"})
        missing = await client.post(move, json={})
        person = (await client.get("/ui/api/clients/person:sam/memories")).json()["memories"]
        left = (await client.get(f"/ui/api/clients/{project}/memories")).json()["memories"]
        kinds = {
            entry["user_id"]: entry["kind"]
            for entry in (await client.get("/ui/api/overview")).json()["clients"]
        }
    assert {entry["user_id"]: entry["kind"] for entry in overview["clients"]} == {project: "project"}
    assert moved.json() == {"moved": 1, "to": "person:sam"}
    assert [(m["content"], m["created_at"]) for m in person] == [(tabs["content"], tabs["created_at"])]
    assert person[0]["metadata"]["scope"] == "person"
    assert ["bazel" in m["content"] for m in left] == [True]
    assert again.status_code == 404 and again.json()["error"]["code"] == "memory_not_found"
    assert (invalid.status_code, missing.status_code) == (400, 400)
    assert kinds == {project: "project", "person:sam": "person"}


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/ui/api/clients/not%20valid/memories", 400),
        ("/ui/api/clients/alice/memories?limit=0", 400),
        ("/ui/api/clients/alice/search", 400),
        ("/ui/api/clients/alice/search?q=", 400),
        ("/ui/api/requests/12345", 404),
        ("/ui/api/requests/abc", 400),
        ("/ui/api/nothing-here", 404),
    ],
)
async def test_bad_console_requests_are_4xx_in_the_envelope(app: Any, path: str, status: int):
    async with app_client(app, LOCAL) as client:
        answer = await client.get(path)
    assert answer.status_code == status
    assert answer.json()["error"]["message"]


async def test_memory_routes_say_when_memory_is_off(tmp_path: Path):
    app = create_app(config(tmp_path / "memory.sqlite3", memory={"enabled": False}), CannedBackend())
    async with app_client(app, LOCAL) as client:
        answer = await client.get("/ui/api/clients/alice/memories")
        overview = await client.get("/ui/api/overview")
    assert answer.status_code == 409
    assert "memory is disabled" in answer.json()["error"]["message"]
    assert overview.status_code == 200
    assert overview.json()["clients_problem"] == "this store cannot list its clients"


async def test_a_broken_store_is_a_503_naming_why(tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    app = create_app(config(blocker / "memory.sqlite3"), CannedBackend())
    async with app_client(app, LOCAL) as client:
        answer = await client.get("/ui/api/clients/alice/memories")
        overview = await client.get("/ui/api/overview")
    assert answer.status_code == 503
    assert "local memory store" in answer.json()["error"]["message"]
    assert overview.status_code == 200
    assert overview.json()["clients_problem"].startswith("the store could not list its clients")


async def test_each_request_is_recorded_with_what_memory_did(app: Any):
    async with app_client(app, LOCAL) as client:
        await say(client, "alice", "my cat is called Tom")
        await stored(client, 1)
        await say(client, "alice", "what is my cat called Tom?")
        unknown = await client.post(
            "/v1/chat/completions", json={"model": "nope", "messages": [{"role": "user"}]}
        )
        unserved = await client.post(
            "/v1/chat/completions", json={"model": "nope", "messages": [{"role": "user", "content": "hi"}]}
        )
        summaries = (await client.get("/ui/api/requests")).json()["requests"]
        detail = (await client.get(f"/ui/api/requests/{summaries[2]['id']}")).json()
    assert (unknown.status_code, unserved.status_code) == (400, 404)
    assert [summary["status_code"] for summary in summaries] == [404, 400, 200, 200]
    not_served, invalid, used, first = summaries
    assert not_served["model"] == "nope"  # the record names what the client asked for
    assert "does not exist" in not_served["error"]
    assert invalid["model"] is None and invalid["memory_status"] is None and invalid["error"]
    assert (used["user_id"], used["model"], used["memory_status"]) == ("alice", "m", "used")
    assert used["memory_reason"] == "1 memory recalled"
    assert used["recall_ms"] >= 0 and used["upstream_ms"] >= 0 and used["total_ms"] >= used["recall_ms"]
    assert used["injected_blocks"] == 1 and "injected" not in used
    assert first["memory_status"] == "skipped"
    assert detail["query"] == "what is my cat called Tom?"
    assert detail["identified_by"] == "its user id header"
    [block] = detail["injected"]
    assert block["where"] == "system"
    assert "my cat is called Tom" in block["text"]


async def test_the_request_log_keeps_only_the_newest():
    activity = Activity(kept=3)
    trace = RequestTrace("chat", ClientIdentity("alice"))
    for _ in range(5):
        activity.record(trace, 200)
    assert [record.id for record in await activity.recent()] == [5, 4, 3]
    assert await activity.get(1) is None
    assert await activity.get(4) is not None
    assert KEPT_REQUESTS >= 200  # "the last few hundred requests"


async def test_the_console_and_its_api_refuse_a_request_without_the_key(tmp_path: Path):
    app = create_app(config(tmp_path / "memory.sqlite3", auth_key=KEY), CannedBackend())
    async with app_client(app, LOCAL) as client:
        page = await client.get("/ui")
        api = await client.get("/ui/api/overview")
        wrong = await client.post("/ui/signin", json={"key": "not-the-key"})
        with_header = await client.get("/ui/api/overview", headers={"authorization": f"Bearer {KEY}"})
        asset = await client.get("/ui/static/console.js")
    assert page.status_code == 401
    assert 'id="signin-form"' in page.text
    assert KEY not in page.text
    assert api.status_code == 401
    assert api.json()["error"]["type"] == "authentication_error"
    assert wrong.status_code == 401
    assert SESSION_COOKIE not in wrong.cookies
    assert with_header.status_code == 200
    assert with_header.json()["key_required"] is True
    assert asset.status_code == 200  # the script holds no secret; the sign-in page needs its assets


async def test_signing_in_once_sets_a_session_cookie_that_is_not_the_key(tmp_path: Path):
    app = create_app(config(tmp_path / "memory.sqlite3", auth_key=KEY), CannedBackend())
    async with app_client(app, LOCAL) as client:
        signed_in = await client.post("/ui/signin", json={"key": KEY})
        cookie = signed_in.headers["set-cookie"]
        page = await client.get("/ui")
        api = await client.get("/ui/api/overview")
        refused_api = await client.get("/v1/models")  # the session is the console's, not the API's
        signed_out = await client.post("/ui/signout")
        after = await client.get("/ui")
    assert signed_in.status_code == 204
    assert KEY not in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert page.status_code == 200 and 'id="clients"' in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert api.status_code == 200
    assert refused_api.status_code == 401
    assert signed_out.status_code == 204
    assert after.status_code == 401


async def test_a_signed_out_session_is_refused_by_every_worker_even_when_its_cookie_is_replayed(
    tmp_path: Path,
):
    settings = config(tmp_path / "memory.sqlite3", auth_key=KEY)
    worker, other_worker = create_app(settings, CannedBackend()), create_app(settings, CannedBackend())
    async with app_client(worker, LOCAL) as client, app_client(other_worker, LOCAL) as other:
        await client.post("/ui/signin", json={"key": KEY})
        session = client.cookies[SESSION_COOKIE]
        replayed = {"cookie": f"{SESSION_COOKIE}={session}"}
        assert (await other.get("/ui/api/overview", headers=replayed)).status_code == 200
        signed_out = await client.post("/ui/signout")
        here = await client.get("/ui/api/overview", headers=replayed)
        there = await other.get("/ui/api/overview", headers=replayed)
        garbage = await other.post("/ui/signout", headers={"cookie": f"{SESSION_COOKIE}=1.x.y"})
        await client.post("/ui/signin", json={"key": KEY})
        again = await client.get("/ui/api/overview")
    assert signed_out.status_code == 204
    assert (here.status_code, there.status_code) == (401, 401)
    assert garbage.status_code == 204
    assert again.status_code == 200  # a new session is a new cookie


async def test_on_postgresql_a_signed_out_session_is_refused_by_every_host(
    postgres_database: str, tmp_path: Path
):
    """Two hosts share nothing but the database (each its own data home): a sign-out on one holds on both."""
    settings = parse_config(
        {
            "model_list": [{"model_name": "m", "litellm_params": {"model": "openai/m"}}],
            "context_retrieval": {"provider": "postgres", "dsn": postgres_database, "semantic": False},
            "memory_proxy": {"auth_key": KEY},
        },
        source="test",
    )
    hosts = []
    for name in ("one", "other"):
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("XDG_DATA_HOME", str(tmp_path / name))
            hosts.append(create_app(settings, CannedBackend()))
    async with app_client(hosts[0], LOCAL) as client, app_client(hosts[1], LOCAL) as other:
        await client.post("/ui/signin", json={"key": KEY})
        replayed = {"cookie": f"{SESSION_COOKIE}={client.cookies[SESSION_COOKIE]}"}
        before = await other.get("/ui/api/overview", headers=replayed)
        await client.post("/ui/signout")
        after = await other.get("/ui/api/overview", headers=replayed)
    assert (before.status_code, after.status_code) == (200, 401)


def test_a_session_is_refused_when_forged_expired_or_made_with_another_key():
    key = ProxyKey(KEY)
    session = key.new_session()
    expires, nonce, name, signature = session.split(".")
    past = int(time.time()) - 1
    assert key._session_valid(session)
    assert key.new_session() != session  # each sign-in is a session of its own
    assert not ProxyKey("another-key-123")._session_valid(session)
    assert not key._session_valid(f"{int(expires) + 1}.{nonce}.{name}.{signature}")
    assert not key._session_valid(f"{expires}.{'0' * 16}.{name}.{signature}")
    assert not key._session_valid(f"{past}.{nonce}.{name}.{key._sign(past, nonce)}")
    assert not key._session_valid("9" * 5000 + f".{nonce}.{name}.{signature}")
    assert not key._session_valid("")
    assert not key._session_valid(f"²{expires}.{nonce}.{name}.{signature}")  # a Unicode digit
    assert not key._session_valid(f"{expires}.{nonce}.{name}.é{signature[1:]}")
    assert not key._session_valid(f"{expires}.é{nonce[1:]}.{name}.{signature}")


async def test_a_hostile_session_cookie_is_a_401_not_a_500(tmp_path: Path):
    app = create_app(config(tmp_path / "memory.sqlite3", auth_key=KEY), CannedBackend())
    async with app_client(app, LOCAL) as client:
        for cookie in ("².x", "9999999999.é", "1." + "a" * 100_000, "..", "\x00"):
            raw = [(b"cookie", f"{SESSION_COOKIE}={cookie}".encode())]
            assert (await client.get("/ui", headers=raw)).status_code == 401, cookie
            assert (await client.get("/ui/api/overview", headers=raw)).status_code == 401, cookie


async def test_no_secret_of_the_config_on_any_console_answer(tmp_path: Path):
    app = create_app(config(tmp_path / "memory.sqlite3", auth_key=KEY), CannedBackend())
    headers = {"authorization": f"Bearer {KEY}"}
    async with app_client(app, LOCAL) as client:
        await say(client, "alice", "remember the number 42", **headers)
        await stored(client, 1, **headers)
        await say(client, "alice", "what number 42?", **headers)
        await client.post("/v1/chat/completions", json={"model": "m"}, headers=headers)
        answers = [
            await client.get(path, headers=headers) for path in ("/ui", "/ui/api/overview", "/metrics")
        ]
        answers += [
            await client.get(path, headers=headers)
            for path in ("/ui/api/requests", "/ui/api/requests/2", "/ui/api/clients/alice/memories")
        ]
    assert all(answer.status_code == 200 for answer in answers)
    for answer in answers:
        assert KEY not in answer.text
        assert PROVIDER_KEY not in answer.text


async def test_the_console_can_be_turned_off(tmp_path: Path):
    app = create_app(config(tmp_path / "memory.sqlite3", console=False), CannedBackend())
    async with app_client(app, LOCAL) as client:
        page = await client.get("/ui")
        api = await client.get("/ui/api/overview")
        metrics = await client.get("/metrics")
    assert (page.status_code, api.status_code, metrics.status_code) == (404, 404, 200)


async def test_interceptor_projects_are_listed_with_their_port_and_client(
    app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    project = tmp_path / "my-app"
    project.mkdir()
    port = PortRegistry(port_min=40100, port_max=40199).get_or_allocate_port(project)
    async with app_client(app, LOCAL) as client:
        overview = (await client.get("/ui/api/overview")).json()
    [listed] = overview["projects"]
    assert listed == {
        "path": str(project.resolve()),
        "port": port,
        "user_id": project_id(project),
        "listening": False,
    }


async def test_no_registry_file_is_made_by_looking_at_the_projects(
    app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    async with app_client(app, LOCAL) as client:
        overview = (await client.get("/ui/api/overview")).json()
    assert overview["projects"] == []
    assert not (tmp_path / "config").exists()


async def test_sign_in_reads_its_body_as_the_api_does_bounded_and_strict(app: Any):
    async with app_client(app, LOCAL) as client:
        deep = await client.post("/ui/signin", content=b"[" * 8000)
        huge = await client.post("/ui/signin", content=b'{"key": "' + b"k" * 20_000 + b'"}')
    assert deep.status_code == 400
    assert huge.status_code == 413


async def test_the_sign_in_form_works_without_javascript(tmp_path: Path):
    app = create_app(config(tmp_path / "memory.sqlite3", auth_key=KEY), CannedBackend())
    form = {"content-type": "application/x-www-form-urlencoded"}
    async with app_client(app, LOCAL) as client:
        wrong = await client.post("/ui/signin", content=b"key=not-the-key", headers=form)
        right = await client.post("/ui/signin", content=f"key={KEY}".encode(), headers=form)
        page = await client.get("/ui")
    assert wrong.status_code == 401 and 'id="signin-form"' in wrong.text
    assert right.status_code == 303 and right.headers["location"] == "/ui"
    assert KEY not in right.headers["set-cookie"]
    assert page.status_code == 200


@pytest.mark.parametrize(
    ("request_args", "param"),
    [
        ({"method": "POST", "url": "/ui/signin", "content": b"the-secret-guess"}, None),
        ({"method": "POST", "url": "/ui/signin", "json": {"key": 12345678}}, "key"),
        ({"method": "GET", "url": "/ui/api/clients/alice/memories?limit=the-secret-guess"}, "limit"),
    ],
)
async def test_a_malformed_console_request_is_a_400_that_echoes_no_input(
    app: Any, request_args: dict, param: str | None
):
    async with app_client(app, LOCAL) as client:
        answer = await client.request(**request_args)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["param"] == param
    assert "the-secret-guess" not in answer.text
    assert "File " not in error["message"] and ".py" not in error["message"]


def on_supermemory(url: str) -> Any:
    """A proxy whose memory is the fake Supermemory at ``url``."""
    memory = {"provider": "supermemory", "base_url": url, "api_key": DEFAULT_SUPERMEMORY_API_KEY}
    model = {"model_name": "m", "litellm_params": {"model": "openai/m"}}
    return parse_config({"model_list": [model], "context_retrieval": memory}, source="test")


async def test_on_supermemory_the_console_lists_the_clients_it_saw_and_reads_and_forgets_their_memories(
    fake_supermemory: FakeSupermemory,
    fake_supermemory_url: str,
):
    user = f"sm-{secrets.token_hex(4)}"
    app = create_app(on_supermemory(fake_supermemory_url), CannedBackend())
    async with app_client(app, LOCAL) as client:
        await say(client, user, "my cat is called Tom")
        await stored(client, 1)
        overview = (await client.get("/ui/api/overview")).json()
        listed = (await client.get(f"/ui/api/clients/{user}/memories")).json()["memories"]
        forgot = (await client.delete(f"/ui/api/clients/{user}/memories")).json()
        after = (await client.get(f"/ui/api/clients/{user}/memories")).json()["memories"]
    assert overview["clients_problem"] == "this store cannot list its clients"
    assert [(entry["user_id"], entry["memories"]) for entry in overview["clients"]] == [(user, None)]
    assert [memory["content"].split("\n")[0] for memory in listed] == ["user: my cat is called Tom"]
    assert forgot == {"forgotten": 1}
    assert after == []


async def test_on_supermemory_every_memory_a_console_search_shows_can_be_forgotten(
    fake_supermemory: FakeSupermemory,
    fake_supermemory_url: str,
):
    """Recall shows the profile's facts beside search results; each id it shows is one forget takes."""
    user = f"sm-{secrets.token_hex(4)}"
    fake_supermemory.static_profile[user] = ["Has a cat called Tom"]
    app = create_app(on_supermemory(fake_supermemory_url), CannedBackend())
    async with app_client(app, LOCAL) as client:
        await say(client, user, "my cat is called Tom")
        await stored(client, 1)
        found = (await client.get(f"/ui/api/clients/{user}/search", params={"q": "cat Tom"})).json()[
            "results"
        ]
        forgotten = [await client.delete(f"/ui/api/clients/{user}/memories/{r['id']}") for r in found]
        after = (await client.get(f"/ui/api/clients/{user}/search", params={"q": "cat Tom"})).json()[
            "results"
        ]
    assert any(r["id"].startswith("profile-") for r in found) and len(found) >= 2
    assert [answer.status_code for answer in forgotten] == [200] * len(found)
    assert after == []


def test_a_record_keeps_a_bounded_amount_of_injected_memory_the_newest_block_whole():
    pins = tuple(Pin(f"block {n} " + "x" * 4_990, n, "prefix") for n in range(10))
    trace = RequestTrace("messages", ClientIdentity("alice"))
    trace.recalled(Recall("used", "1 memory recalled", pins), 0.001)
    record = Activity().record(trace, 200, "e" * 10_000)
    kept = record.injected
    assert len(kept) == 10
    assert kept[-1].text == pins[-1].text
    assert sum(len(block.text) for block in kept) <= INJECTED_CHARS + 10 * 80
    assert kept[0].text == "" or kept[0].text.endswith("not kept by the console)")
    assert "more characters not kept" in kept[5].text
    assert len(record.error or "") == ERROR_CHARS


@pytest.mark.parametrize("base_url", ["http://attacker.example:8764", "http://192.0.2.20:8764"])
async def test_without_a_key_the_console_answers_only_at_this_machines_own_names(app: Any, base_url: str):
    async with app_client(app, base_url) as client:
        page = await client.get("/ui")
        api = await client.get("/ui/api/overview")
        forget = await client.delete("/ui/api/clients/alice/memories")
        chat = await client.post(
            "/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        )
    assert (page.status_code, api.status_code, forget.status_code, chat.status_code) == (403, 403, 403, 403)
    assert api.json()["error"]["type"] == "permission_error"
    async with app_client(app, "http://localhost:8764") as client:
        assert (await client.get("/ui")).status_code == 200
    async with app_client(app, "http://[::1]:8764") as client:
        assert (await client.get("/ui/api/overview")).status_code == 200


async def test_with_a_key_any_name_reaches_the_console_and_listening_everywhere_this_hosts_names(
    tmp_path: Path,
):
    keyed = create_app(config(tmp_path / "a.sqlite3", auth_key=KEY), CannedBackend())
    everywhere = create_app(config(tmp_path / "b.sqlite3", host="0.0.0.0"), CannedBackend())
    async with app_client(keyed, "http://proxy.team.example") as client:
        assert (await client.get("/ui/api/overview", headers={"x-api-key": KEY})).status_code == 200
    async with app_client(everywhere, f"http://{socket.gethostname()}:8764") as client:
        assert (await client.get("/ui/api/overview")).status_code == 200
    async with app_client(everywhere, "http://192.0.2.20:8764") as client:  # TEST-NET: no interface of ours
        assert (await client.get("/ui/api/overview")).status_code == 403


async def test_on_supermemory_one_client_cannot_forget_anothers_memory(
    fake_supermemory: FakeSupermemory, fake_supermemory_url: str
):  # fake_supermemory: emptied, no fault left by another test
    alice, bob = f"alice-{secrets.token_hex(4)}", f"bob-{secrets.token_hex(4)}"
    app = create_app(on_supermemory(fake_supermemory_url), CannedBackend())
    async with app_client(app, LOCAL) as client:
        await say(client, bob, "bob's secret is 42")
        await stored(client, 1)
        [bobs] = (await client.get(f"/ui/api/clients/{bob}/memories")).json()["memories"]
        cross = await client.delete(f"/ui/api/clients/{alice}/memories/{bobs['id']}")
        hostile = await client.delete(f"/ui/api/clients/{alice}/memories/..%2F..%2Fv3%2Fdocuments")
        still = (await client.get(f"/ui/api/clients/{bob}/memories")).json()["memories"]
    assert cross.status_code == 404
    assert hostile.status_code == 404
    assert [memory["id"] for memory in still] == [bobs["id"]]


async def test_a_damaged_project_registry_is_named_not_repaired_and_the_overview_still_answers(
    app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    registry = PortRegistry().registry_file
    registry.parent.mkdir(parents=True)
    registry.write_text("{not json")
    async with app_client(app, LOCAL) as client:
        overview = await client.get("/ui/api/overview")
    assert overview.status_code == 200
    assert overview.json()["projects"] == []
    assert overview.json()["projects_problem"].startswith(
        "the interceptor's project registry could not be read"
    )
    assert registry.read_text() == "{not json"  # left for the interceptor, which owns it


async def test_a_project_whose_interceptor_listens_is_shown_listening(
    app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    port = free_port()
    PortRegistry(port_min=port, port_max=port).get_or_allocate_port(tmp_path)
    with socket.socket() as server:  # the project's interceptor
        server.bind(("127.0.0.1", port))
        server.listen()
        async with app_client(app, LOCAL) as client:
            [project] = (await client.get("/ui/api/overview")).json()["projects"]
    assert (project["port"], project["listening"]) == (port, True)
