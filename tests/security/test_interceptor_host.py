"""The interceptor hands the client's Host on to a memory proxy on this machine (whose browser rules then
hold through it), and to a remote one its own name (a gateway routes by it)."""

from __future__ import annotations

import httpx
import pytest

from proxy.interceptor.app import Interceptor


@pytest.mark.parametrize(
    ("target", "arrives_as"),
    [
        ("http://127.0.0.1:8764", "127.0.0.1:18801"),
        ("http://localhost:8764", "127.0.0.1:18801"),
        ("https://memory.team.example", "memory.team.example"),
    ],
)
async def test_the_host_a_target_gets(target, arrives_as):
    seen: list[str] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["host"])
        return httpx.Response(200, stream=httpx.ByteStream(b"{}"))  # unread, as a network answer is

    app = Interceptor(target, "my-app-3f9c1e", transport=httpx.MockTransport(upstream))
    await app.start()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:18801"
        ) as client:
            assert (await client.get("/v1/models")).status_code == 200
    finally:
        await app.close()
    assert seen == [arrives_as]
