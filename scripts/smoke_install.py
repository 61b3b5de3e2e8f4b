"""A smoke test of an installed litellm-memory-proxy, run by `./RUN_TESTS.sh release` in a venv that holds
nothing but LiteLLM and the project's wheel (no test tools, no LiteLLM proxy extras): the demo
answers both APIs, streaming and not, through the sdk backend, and remembers; the console's page and
assets (package data) and /metrics are served."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile

import httpx

LOCAL = "http://127.0.0.1:8764"
CHAT = {"model": "demo", "messages": [{"role": "user", "content": "My cat is called Miso."}]}
MESSAGES = {
    "model": "demo",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "What is my cat called?"}],
}


async def main() -> int:
    os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="memory-proxy-smoke-")
    from proxy.sdk import app

    answers = []
    # Two runs of the app: stopping the first stores its exchanges, which the second must recall.
    for path, body in (("/v1/chat/completions", CHAT), ("/v1/messages", MESSAGES)):
        async with (
            app.router.lifespan_context(app),
            # This machine's own name: without a key the console answers no other.
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=LOCAL) as client,
        ):
            answers += [
                await client.post(path, json=body),
                await client.post(path, json={**body, "stream": True}),
            ]
            served = [await client.get(page) for page in ("/ui", "/ui/static/console.js", "/metrics")]
    answers += served
    failed = [
        f"{a.request.url.path}: {a.status_code} {a.text[:300]}" for a in answers if a.status_code != 200
    ]
    if "memory_proxy_requests_total" not in served[-1].text:
        failed.append(f"/metrics did not count the requests: {served[-1].text[:300]}")
    if "Miso" not in answers[2].text:
        failed.append(f"/v1/messages did not recall the first exchange: {answers[2].text[:300]}")
    print("\n".join(failed) or "smoke test passed: both APIs, streaming and not, and memory", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
