"""The fake Supermemory answers like the real v3/v4 API and Memory Router, over a socket and in process."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import openai
import pytest
from respx.models import AllMockedAssertionError

import conformance.fakes
from conformance.fakes import (
    DEFAULT_SUPERMEMORY_API_KEY,
    DEFAULT_SUPERMEMORY_BASE_URL,
    FakeProvider,
    FakeSupermemory,
    LoopbackServer,
    echo_reply,
    fake_provider_transport,
    fake_supermemory_router,
    fake_supermemory_transport,
)
from conformance.fakes import supermemory as supermemory_module

AUTH = {"authorization": f"Bearer {DEFAULT_SUPERMEMORY_API_KEY}"}
# The fixture's "errors", copied here so a change to the fake's bodies fails this test.
FIXTURE_ERRORS: dict[int, dict[str, str]] = {
    401: {"error": "Unauthorized"},
    402: {"error": "Search quota or credits exhausted"},
    429: {"error": "Too many requests"},
    500: {"error": "Internal server error"},
}
EMPTY_Q = {"error": "Invalid request parameters", "details": "q: String must contain at least 1 character(s)"}
PROVIDER_BASE = "http://fake-provider.test"


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FakeSupermemory, LoopbackServer, FakeProvider, LoopbackServer]]:
    """One Supermemory and one provider server for the module: uvicorn per test would dominate the run."""
    sm = FakeSupermemory()
    provider = FakeProvider()
    with LoopbackServer(sm.app) as sm_server, LoopbackServer(provider.app) as provider_server:
        yield sm, sm_server, provider, provider_server


@pytest.fixture
async def sm(
    served: tuple[FakeSupermemory, LoopbackServer, FakeProvider, LoopbackServer],
) -> AsyncIterator[FakeSupermemory]:
    served[0].reset()
    served[2].reset()
    yield served[0]
    await served[0].aclose()  # a router client opened in this test's loop (respx) dies with the loop


@pytest.fixture
def sm_url(served: tuple[FakeSupermemory, LoopbackServer, FakeProvider, LoopbackServer]) -> str:
    return served[1].url


@pytest.fixture
def provider(served: tuple[FakeSupermemory, LoopbackServer, FakeProvider, LoopbackServer]) -> FakeProvider:
    return served[2]


@pytest.fixture
def provider_url(served: tuple[FakeSupermemory, LoopbackServer, FakeProvider, LoopbackServer]) -> str:
    return served[3].url


@pytest.fixture(params=["loopback", "respx"])
async def client(
    request: pytest.FixtureRequest, sm: FakeSupermemory, sm_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    """An authenticated client of the same fake, over a real socket or through the respx transport."""
    if request.param == "loopback":
        async with httpx.AsyncClient(base_url=sm_url, headers=AUTH, timeout=5) as http:
            yield http
    else:
        transport = fake_supermemory_transport(sm)
        async with httpx.AsyncClient(
            transport=transport, base_url=DEFAULT_SUPERMEMORY_BASE_URL, headers=AUTH, timeout=5
        ) as http:
            yield http


async def store(client: httpx.AsyncClient, content: str, tag: str, **extra: Any) -> str:
    response = await client.post("/v3/documents", json={"content": content, "containerTag": tag, **extra})
    assert response.status_code == 200, response.text
    return response.json()["id"]


def texts(results: list[dict[str, Any]]) -> list[str]:
    """What a correct client reads from v4 results: ``memory`` or ``chunk``, whichever is there."""
    return [item.get("memory") or item["chunk"] for item in results]


# -- the module ------------------------------------------------------------------------------------------


def test_all_is_complete() -> None:
    """Every public name of the module is exported, here and from ``conformance.fakes``."""
    defined = {
        name
        for name, value in vars(supermemory_module).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == supermemory_module.__name__
    }
    assert defined <= set(supermemory_module.__all__)
    assert set(supermemory_module.__all__) <= set(conformance.fakes.__all__)
    assert all(hasattr(conformance.fakes, name) for name in supermemory_module.__all__)


# -- storing and recalling -------------------------------------------------------------------------------


async def test_store_answers_queued_and_search_is_scoped_to_the_container(
    client: httpx.AsyncClient, sm: FakeSupermemory
) -> None:
    """A stored document is searchable at once, and only through its own containerTag."""
    response = await client.post(
        "/v3/documents",
        json={"content": "my favourite colour is teal", "containerTag": "alice", "metadata": {"k": "v"}},
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "status"} and body["status"] == "queued"
    await store(client, "my favourite colour is red", "bob")

    question = {"q": "What is my favourite colour?", "limit": 5}
    alice = (await client.post("/v4/search", json={**question, "containerTag": "alice"})).json()
    bob = (await client.post("/v4/search", json={**question, "containerTag": "bob"})).json()
    carol = (await client.post("/v4/search", json={**question, "containerTag": "carol"})).json()
    assert texts(alice["results"]) == ["my favourite colour is teal"]
    assert alice["results"][0]["id"] == body["id"]
    assert alice["results"][0]["similarity"] == 1.0
    assert alice["results"][0]["metadata"] == {"k": "v"}
    assert texts(bob["results"]) == ["my favourite colour is red"]
    assert carol == {"results": [], "timing": 1, "total": 0}
    assert [doc.content for doc in sm.documents("alice")] == ["my favourite colour is teal"]


async def test_profile_has_static_dynamic_and_search_results_only_with_q(
    client: httpx.AsyncClient, sm: FakeSupermemory
) -> None:
    """/v4/profile lists the container's facts, and searchResults (always ``memory``) only when q is given."""
    sm.static_profile["alice"] = ["User is a software engineer"]
    await store(client, "user: I moved to Lisbon.\nassistant: Noted.", "alice")
    await store(client, "User lives in Lisbon", "alice")
    await store(client, "User lives in Oslo", "bob")

    plain = (await client.post("/v4/profile", json={"containerTag": "alice"})).json()
    assert plain == {
        "profile": {
            "static": ["User is a software engineer"],
            "dynamic": ["User lives in Lisbon", "user: I moved to Lisbon.\nassistant: Noted."],
        }
    }
    asked = (await client.post("/v4/profile", json={"containerTag": "alice", "q": "Lisbon"})).json()
    results = asked["searchResults"]["results"]
    assert [item["memory"] for item in results] == [
        "User lives in Lisbon",
        "user: I moved to Lisbon.\nassistant: Noted.",
    ]
    assert asked["searchResults"]["total"] == 2 and isinstance(asked["searchResults"]["timing"], int)
    assert set(results[0]) == {"id", "memory", "similarity", "metadata", "updatedAt", "version"}
    bob = (await client.post("/v4/profile", json={"containerTag": "bob", "q": "Lisbon"})).json()
    assert bob == {
        "profile": {"static": [], "dynamic": ["User lives in Oslo"]},
        "searchResults": {"results": [], "total": 0, "timing": 1},
    }


async def test_v4_search_results_carry_memory_or_chunk(client: httpx.AsyncClient) -> None:
    """A document starting with "user:" comes back as ``chunk``, any other as ``memory``, never both."""
    await store(client, "user: I moved to Lisbon.", "alice")
    await store(client, "User lives in Lisbon", "alice")
    results = (await client.post("/v4/search", json={"q": "lisbon", "containerTag": "alice"})).json()[
        "results"
    ]
    by_kind = {("chunk" if "chunk" in item else "memory"): item for item in results}
    assert by_kind["chunk"]["chunk"] == "user: I moved to Lisbon." and "memory" not in by_kind["chunk"]
    assert by_kind["memory"]["memory"] == "User lives in Lisbon" and "chunk" not in by_kind["memory"]


async def test_relevance_threshold_limit_and_recency(client: httpx.AsyncClient) -> None:
    """Similarity is the share of query words found; ties go to the newest; threshold and limit apply."""
    await store(client, "teal is nice", "t")
    old = await store(client, "favourite colour teal", "t")
    await store(client, "colour teal", "t")
    new = await store(client, "Favourite COLOUR: teal!", "t")
    await store(client, "nothing in common", "t")
    q = {"q": "what is the favourite colour teal?", "containerTag": "t"}

    results = (await client.post("/v4/search", json=q)).json()["results"]
    assert [item["id"] for item in results[:2]] == [new, old]
    assert [round(item["similarity"], 2) for item in results] == [1.0, 1.0, 0.67, 0.33]
    above = (await client.post("/v4/search", json={**q, "threshold": 0.5})).json()["results"]
    assert texts(above) == ["Favourite COLOUR: teal!", "favourite colour teal", "colour teal"]
    limited = (await client.post("/v4/search", json={**q, "limit": 1})).json()
    assert [item["id"] for item in limited["results"]] == [new] and limited["total"] == 1


async def test_custom_id_replaces_within_a_container_and_memories_is_an_alias(
    client: httpx.AsyncClient, sm: FakeSupermemory
) -> None:
    """A repeated customId in one container replaces that document (same id); elsewhere it is a new one."""
    first = await store(client, "draft about lisbon", "alice", customId="conv-1")
    again = await store(client, "final about porto", "alice", customId="conv-1")
    other = await store(client, "bob's lisbon", "bob", customId="conv-1")
    legacy = await client.post("/v3/memories", json={"content": "legacy lisbon", "containerTag": "alice"})
    assert legacy.status_code == 200 and legacy.json()["status"] == "queued"
    assert first == again and other != first
    assert [(doc.content, doc.custom_id) for doc in sm.documents("alice")] == [
        ("final about porto", "conv-1"),
        ("legacy lisbon", None),
    ]
    found = (await client.post("/v4/search", json={"q": "lisbon", "containerTag": "alice"})).json()
    assert texts(found["results"]) == ["legacy lisbon"]


async def test_v3_search_returns_documents_with_chunks_across_named_containers(
    client: httpx.AsyncClient,
) -> None:
    """/v3/search takes several containerTags and returns documents whose relevant lines are chunks."""
    doc = await store(client, "user: I moved to Lisbon.\nassistant: Noted.", "alice")
    await store(client, "Lisbon trip notes", "bob")
    await store(client, "Lisbon is secret", "carol")
    body = {"q": "where do I live? Lisbon", "containerTags": ["alice", "bob"], "limit": 5}
    answer = (await client.post("/v3/search", json=body)).json()
    assert answer["total"] == 2 and {r["documentId"] for r in answer["results"]} >= {doc}
    alice = next(r for r in answer["results"] if r["documentId"] == doc)
    assert set(alice) == {
        "documentId",
        "title",
        "type",
        "score",
        "metadata",
        "createdAt",
        "updatedAt",
        "chunks",
    }
    assert alice["chunks"] == [
        {"content": "user: I moved to Lisbon.", "score": 0.5, "isRelevant": True, "position": 0}
    ]
    assert all("secret" not in r["chunks"][0]["content"] for r in answer["results"])


async def test_list_get_and_forget(client: httpx.AsyncClient) -> None:
    """A container's documents can be listed (GET /v4/memories, POST /v3/documents/list) and deleted."""
    keep = await store(client, "keep lisbon", "alice", customId="c-keep")
    drop = await store(client, "drop lisbon", "alice")
    await store(client, "bob lisbon", "bob")
    listed = (await client.get("/v4/memories", params={"containerTag": "alice"})).json()
    assert [item["id"] for item in listed["memories"]] == [drop, keep]
    assert listed["pagination"]["totalItems"] == 2
    assert listed["memories"][1]["content"] == "keep lisbon" and listed["memories"][1]["customId"] == "c-keep"
    posted = (await client.post("/v3/documents/list", json={"containerTags": ["bob"]})).json()
    assert [item["content"] for item in posted["memories"]] == ["bob lisbon"]
    assert (await client.get(f"/v3/documents/{keep}")).json()["content"] == "keep lisbon"

    deleted = await client.delete(f"/v3/documents/{drop}")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert (await client.delete(f"/v3/documents/{drop}")).status_code == 404
    assert (await client.delete("/v3/documents/c-keep")).status_code == 204  # by customId too
    after = (await client.post("/v4/search", json={"q": "lisbon", "containerTag": "alice"})).json()
    assert after["results"] == []


async def test_invalid_requests_answer_the_documented_400(client: httpx.AsyncClient) -> None:
    """Empty q, several containers on v4 and a missing container are 400 Invalid request parameters."""
    empty = await client.post("/v4/search", json={"q": "", "containerTag": "alice"})
    assert (empty.status_code, empty.json()) == (400, EMPTY_Q)
    empty_profile = await client.post("/v4/profile", json={"q": "", "containerTag": "alice"})
    assert (empty_profile.status_code, empty_profile.json()) == (400, EMPTY_Q)
    two = await client.post("/v4/search", json={"q": "x", "containerTags": ["alice", "bob"]})
    assert two.status_code == 400 and "single-space" in two.json()["details"]
    one = await client.post("/v4/search", json={"q": "x", "containerTags": ["alice"]})
    assert one.status_code == 200
    for path, body in [("/v4/search", {"q": "x"}), ("/v4/profile", {}), ("/v3/documents", {"content": "x"})]:
        missing = await client.post(path, json=body)
        assert missing.status_code == 400 and missing.json()["error"] == "Invalid request parameters"
    not_found = await client.get("/v5/nothing")
    assert not_found.status_code == 404 and "error" in not_found.json()


# -- auth and faults ---------------------------------------------------------------------------------------


async def test_wrong_or_missing_key_is_401_and_recorded(
    client: httpx.AsyncClient, sm: FakeSupermemory
) -> None:
    """Only ``Authorization: Bearer <api_key>`` gets in; every call, refused or not, is recorded."""
    body = {"content": "secret", "containerTag": "alice"}
    missing = await client.post("/v3/documents", json=body, headers={"authorization": ""})
    wrong = await client.post("/v3/documents", json=body, headers={"authorization": "Bearer sm-other"})
    for response in (missing, wrong):
        assert (response.status_code, response.json()) == (401, {"error": "Unauthorized"})
    assert sm.documents() == []
    assert [(r.method, r.path, r.status) for r in sm.records] == [("POST", "/v3/documents", 401)] * 2
    assert sm.records[1].headers["authorization"] == "Bearer sm-other"
    assert sm.records[1].json == body


@pytest.mark.parametrize("status", sorted(FIXTURE_ERRORS))
async def test_fail_with_answers_the_fixture_error(
    client: httpx.AsyncClient, sm: FakeSupermemory, status: int
) -> None:
    """``fail_with`` answers every memory call with the fixture's body; 429 adds retry-after: 5."""
    sm.fail_with = status
    stored = await client.post("/v3/documents", json={"content": "x", "containerTag": "a"})
    searched = await client.post("/v4/profile", json={"containerTag": "a", "q": "x"})
    for response in (stored, searched):
        assert (response.status_code, response.json()) == (status, FIXTURE_ERRORS[status])
        assert response.headers.get("retry-after") == ("5" if status == 429 else None)
    assert sm.documents() == []
    sm.fail_with = None
    assert (await client.post("/v4/profile", json={"containerTag": "a"})).status_code == 200


def test_fail_with_rejects_an_undocumented_status() -> None:
    """A typo'd status is a test bug, so setting it raises instead of answering something unknown."""
    with pytest.raises(ValueError, match="418"):
        FakeSupermemory().fail_with = 418


async def test_garbage_answers_200_that_is_not_json(client: httpx.AsyncClient, sm: FakeSupermemory) -> None:
    """``garbage`` answers 200 application/json whose body does not parse."""
    assert (await client.post("/v4/search", json={"q": "x", "containerTag": "a"})).json()["results"] == []
    sm.garbage = True
    bad = await client.post("/v4/search", json={"q": "x", "containerTag": "a"})
    assert bad.status_code == 200 and bad.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        bad.json()


async def test_slow_mode_delays_every_answer(
    client: httpx.AsyncClient, sm: FakeSupermemory, request: pytest.FixtureRequest
) -> None:
    """``delay`` holds each answer back, long enough to trip a client timeout shorter than it."""
    sm.delay = 0.3
    started = time.perf_counter()
    answered = await client.post("/v4/profile", json={"containerTag": "a"})
    assert answered.status_code == 200 and time.perf_counter() - started >= 0.3
    if request.node.callspec.params["client"] == "loopback":  # only a socket has a read timeout
        with pytest.raises(httpx.ReadTimeout):
            await client.post("/v4/profile", json={"containerTag": "a"}, timeout=0.1)


def test_wait_for_wakes_on_a_record_and_times_out_with_the_records(sm: FakeSupermemory, sm_url: str) -> None:
    """``wait_for`` returns once a call from another thread lands, and names the records on timeout."""

    def later() -> None:
        time.sleep(0.05)
        httpx.post(f"{sm_url}/v4/profile", json={"containerTag": "a"}, headers=AUTH)

    thread = threading.Thread(target=later)
    thread.start()
    sm.wait_for(lambda: any(r.status == 200 for r in sm.records), timeout=3)
    thread.join()
    assert sm.last("/v4/profile").json == {"containerTag": "a"}
    with pytest.raises(TimeoutError, match="/v4/profile"):
        sm.wait_for(lambda: len(sm.records) > 1, timeout=0.05)


async def test_reset_forgets_documents_records_and_faults(
    client: httpx.AsyncClient, sm: FakeSupermemory
) -> None:
    """``reset`` leaves a fresh fake: no documents, no records, no fault modes."""
    await store(client, "teal", "a")
    sm.fail_with, sm.delay, sm.garbage = 500, 0.01, True
    sm.reset()
    assert (sm.documents(), sm.records, sm.fail_with, sm.delay, sm.garbage) == ([], [], None, 0.0, False)
    assert (await client.post("/v4/search", json={"q": "teal", "containerTag": "a"})).json()["results"] == []


# -- the Memory Router -------------------------------------------------------------------------------------


def router_headers(**extra: str) -> dict[str, str]:
    return {
        "x-supermemory-api-key": DEFAULT_SUPERMEMORY_API_KEY,
        "x-sm-user-id": "pycharm-ai",
        "authorization": "Bearer sk-provider",
        **extra,
    }


def chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-test", "messages": [{"role": "user", "content": text}], **extra}


async def test_router_forwards_to_the_provider_without_supermemory_headers(
    sm: FakeSupermemory, sm_url: str, provider: FakeProvider, provider_url: str
) -> None:
    """A router call reaches the provider with its own headers only; Supermemory records the user id."""
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.post(
            f"{sm_url}/v3/{provider_url}/v1/chat/completions?trace=1",
            json=chat("hello router"),
            headers=router_headers(**{"x-sm-conversation-id": "conv-7", "x-custom": "kept"}),
        )
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == echo_reply("hello router")
    assert response.headers["x-supermemory-conversation-id"] == "conv-7"

    forwarded = provider.last("/v1/chat/completions")
    assert forwarded.json == chat("hello router") and forwarded.query == {"trace": "1"}
    assert forwarded.headers["authorization"] == "Bearer sk-provider"
    assert forwarded.headers["x-custom"] == "kept"
    leaked = [key for key in forwarded.headers if key.startswith(("x-sm-", "x-supermemory-"))]
    assert leaked == []
    assert forwarded.headers["host"] == provider_url.removeprefix("http://")

    record = sm.router_records()[-1]
    assert (record.sm_user_id, record.sm_api_key, record.sm_conversation_id) == (
        "pycharm-ai",
        DEFAULT_SUPERMEMORY_API_KEY,
        "conv-7",
    )
    assert record.router_target == f"{provider_url}/v1/chat/completions?trace=1"
    assert record.status == 200 and record.headers["x-sm-user-id"] == "pycharm-ai"


def test_router_streams_for_the_openai_sdk(
    sm: FakeSupermemory, sm_url: str, provider: FakeProvider, provider_url: str
) -> None:
    """An SDK pointed at the router URL streams the provider's answer through, with a conversation id."""
    client = openai.OpenAI(
        base_url=f"{sm_url}/v3/{provider_url}/v1",
        api_key="sk-provider",
        max_retries=0,
        default_headers={
            "x-supermemory-api-key": DEFAULT_SUPERMEMORY_API_KEY,
            "x-sm-user-id": "openai-python",
        },
    )
    stream = client.chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "streamed"}], stream=True
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == echo_reply("streamed")
    assert provider.last().stream_completed and provider.last().headers.get("x-sm-user-id") is None
    assert sm.router_records()[-1].sm_user_id == "openai-python"
    assert sm.router_records()[-1].sm_conversation_id is None


async def test_router_requires_the_supermemory_key(
    sm: FakeSupermemory, sm_url: str, provider: FakeProvider, provider_url: str
) -> None:
    """Without the right x-supermemory-api-key the router answers 401 JSON and the provider sees nothing."""
    async with httpx.AsyncClient(timeout=5) as http:
        for key in ("sm-wrong", None):
            headers = router_headers()
            if key is None:
                del headers["x-supermemory-api-key"]
            else:
                headers["x-supermemory-api-key"] = key
            response = await http.post(
                f"{sm_url}/v3/{provider_url}/v1/chat/completions", json=chat("x"), headers=headers
            )
            assert (response.status_code, response.json()) == (401, {"error": "Unauthorized"})
    assert provider.records == []
    assert [r.sm_api_key for r in sm.router_records()] == ["sm-wrong", None]


async def test_router_fails_open_when_supermemory_errors_and_502_when_the_provider_is_gone(
    sm: FakeSupermemory, sm_url: str, provider: FakeProvider, provider_url: str
) -> None:
    """With ``fail_with`` the router still forwards and says why; an unreachable provider is a 502."""
    sm.fail_with = 500
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.post(
            f"{sm_url}/v3/{provider_url}/v1/chat/completions", json=chat("open"), headers=router_headers()
        )
        assert response.status_code == 200
        assert response.headers["x-supermemory-error"] == "Internal server error"
        assert len(provider.records) == 1
        gone = await http.post(
            f"{sm_url}/v3/http://127.0.0.1:9/v1/chat/completions", json=chat("x"), headers=router_headers()
        )
    assert gone.status_code == 502 and gone.json()["error"] == "Bad gateway"


async def test_router_cookie_is_set_once_then_required(
    sm: FakeSupermemory, sm_url: str, provider: FakeProvider, provider_url: str
) -> None:
    """Like Cloudflare: call one gets cf_clearance; a client that sends it back passes, others get 403."""
    sm.router_cookie = True
    url = f"{sm_url}/v3/{provider_url}/v1/chat/completions"
    async with httpx.AsyncClient(timeout=5) as jarred:
        first = await jarred.post(url, json=chat("one"), headers=router_headers())
        assert first.status_code == 200
        assert first.headers["set-cookie"] == f"cf_clearance={sm.cookie_value}; Path=/"
        second = await jarred.post(url, json=chat("two"), headers=router_headers())
        assert second.status_code == 200 and "set-cookie" not in second.headers
    async with httpx.AsyncClient(timeout=5) as stranger:
        refused = await stranger.post(url, json=chat("three"), headers=router_headers())
        assert refused.status_code == 403 and refused.headers["content-type"].startswith("text/html")
        api = await stranger.post(f"{sm_url}/v4/profile", json={"containerTag": "a"}, headers=AUTH)
        assert api.status_code == 200  # the challenge guards the router only
    assert [r.json["messages"][0]["content"] for r in provider.records] == ["one", "two"]


async def test_router_in_process_through_respx() -> None:
    """Both fakes in process: the router forwards through ``router_transport`` and streams back."""
    provider = FakeProvider()
    sm = FakeSupermemory(api_key="sm-own", router_transport=fake_provider_transport(provider))
    headers = router_headers(**{"x-supermemory-api-key": "sm-own"})
    url = f"/v3/{PROVIDER_BASE}/v1/chat/completions"
    try:
        async with httpx.AsyncClient(
            transport=fake_supermemory_transport(sm), base_url=DEFAULT_SUPERMEMORY_BASE_URL
        ) as http:
            plain = await http.post(url, json=chat("in process"), headers=headers)
            assert plain.json()["choices"][0]["message"]["content"] == echo_reply("in process")
            async with http.stream(
                "POST", url, json=chat("streamed", stream=True), headers=headers
            ) as streamed:
                lines = [line async for line in streamed.aiter_lines() if line.startswith("data: ")]
            assert lines[-1] == "data: [DONE]"
            deltas = [json.loads(line[6:])["choices"] for line in lines[:-1]]
            text = "".join(c[0]["delta"].get("content") or "" for c in deltas if c)
            assert text == echo_reply("streamed")
    finally:
        await sm.aclose()
    assert [r.headers.get("x-sm-user-id") for r in provider.records] == [None, None]
    assert provider.records[1].stream_completed
    assert [r.sm_user_id for r in sm.router_records()] == ["pycharm-ai", "pycharm-ai"]


async def test_respx_router_is_strict_and_names_its_routes() -> None:
    """A request to a host the router does not serve fails; known paths hit their named routes."""
    sm = FakeSupermemory()
    async with httpx.AsyncClient(transport=fake_supermemory_transport(sm), headers=AUTH) as http:
        with pytest.raises(AllMockedAssertionError, match="profile"):
            await http.post("http://elsewhere.test/v4/profile", json={"containerTag": "a"})
    router = fake_supermemory_router(sm, "http://localhost:9999/sm")
    async with httpx.AsyncClient(transport=httpx.MockTransport(router.async_handler), headers=AUTH) as http:
        response = await http.post(
            "http://localhost:9999/sm/v3/documents", json={"content": "x", "containerTag": "a"}
        )
    assert response.status_code == 200
    assert router.routes["add_document"].call_count == 1
    assert sm.last().path == "/v3/documents"
