"""Draw docs/console.png, the README's picture of the memory console, from a real proxy that needs no network.

The proxy is the sdk backend (LiteLLM in process) in front of the conformance kit's fake provider, which
answers every prompt with "echo: " and the prompt; memory is a SQLite file in a scratch folder, and the
interceptor's project registry is a scratch one holding one made-up project, so that neither the
developer's memories nor their project paths end up in a picture meant for the README. Two clients (the
project, as the interceptor names it, on the Anthropic API, and a person on the OpenAI API) tell the
proxy a few things and then ask something memory answers; headless chromium opens /ui at 1400x900,
selects the project's client, opens the request that carried memory, and saves the page.

    LITELLM_LOCAL_MODEL_COST_MAP=True .venv/bin/python scripts/console_screenshot.py [--output PATH]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before litellm is imported: no download

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser.support import CHROMIUM_ARGS, find_chromium  # noqa: E402  (after the path is set)

OUTPUT = ROOT / "docs" / "console.png"
VIEWPORT = {"width": 1400, "height": 900}
PROJECT = "/home/dana/src/orders-api"
"""The made-up project the interceptor serves (a path that need not exist)."""
PERSON = "dana"

# Few enough that the opened request's injected memory still fits in the picture.
PROJECT_SAYS = [
    "The orders service uses FastAPI, SQLAlchemy 2 and PostgreSQL 16.",
    "Run the tests with make test; they start PostgreSQL in Docker.",
]
PROJECT_ASKS = "How do I run the tests before I push?"
PERSON_SAYS = ["My time zone is Europe/Lisbon."]
PERSON_ASKS = "Which time zone should the nightly report use?"


def chromium() -> str:
    """The browser the tests use (``tests/browser/support.py``), or exit saying how to get one."""
    found, why_not = find_chromium(os.environ)
    if found is None:
        sys.exit(why_not)
    return found


def config(provider_url: str, store: Path) -> dict[str, Any]:
    """Two models a reader knows by name, both answered by the fake provider; memory in ``store``."""
    return {
        "model_list": [
            {
                "model_name": "claude-sonnet-4-6",
                "litellm_params": {
                    "model": "anthropic/claude-sonnet-4-6",
                    "api_base": provider_url,
                    "api_key": "sk-ant-not-a-real-key",
                },
            },
            {
                "model_name": "gpt-4o-mini",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_base": f"{provider_url}/v1",
                    "api_key": "sk-not-a-real-key",
                },
            },
        ],
        "litellm_settings": {"num_retries": 0},
        "context_retrieval": {"enabled": True, "local_store_path": str(store), "semantic": False},
    }


def stored(http: httpx.Client, count: int) -> None:
    """Wait until write-back has stored ``count`` exchanges (it runs after each answer)."""
    deadline = time.monotonic() + 30
    while http.get("/memory/status").json()["write_back"]["stored"] < count:
        if time.monotonic() > deadline:
            sys.exit("write-back did not store the exchanges in 30 s")
        time.sleep(0.05)


def converse(http: httpx.Client, project_client: str) -> None:
    """The traffic the picture shows: each client's facts, one at a time (newest first makes sense
    then), and a question each that recalls one of them."""
    count = 0

    def as_project(text: str) -> None:
        messages = [{"role": "user", "content": text}]
        body = {"model": "claude-sonnet-4-6", "max_tokens": 300, "messages": messages}
        http.post("/v1/messages", json=body, headers={"x-memory-user-id": project_client}).raise_for_status()

    def as_person(text: str) -> None:
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}
        http.post("/v1/chat/completions", json=body, headers={"x-memory-user-id": PERSON}).raise_for_status()

    for say, facts in ((as_person, PERSON_SAYS), (as_project, PROJECT_SAYS)):
        for fact in facts:
            say(fact)
            count += 1
            stored(http, count)
    as_person(PERSON_ASKS)
    as_project(PROJECT_ASKS)
    stored(http, count + 2)


def screenshot(url: str, project_client: str, output: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(f"{url}/ui")
            page.locator(f'#clients tbody tr[data-user-id="{project_client}"]').click()
            expect(page.locator("#memories tbody tr")).to_have_count(len(PROJECT_SAYS) + 1)
            page.locator("#requests tbody tr").first.click()  # the project's question, which memory answered
            expect(page.locator("#request-detail figure.injected")).to_have_count(1)
            page.mouse.move(0, 0)  # no hover highlight in the picture
            output.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(output))
        finally:
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT, help=f"where to write the PNG ({OUTPUT})")
    output: Path = parser.parse_args().output

    scratch = Path(tempfile.mkdtemp(prefix="console-screenshot-"))
    try:
        # The console lists the interceptor's projects from $XDG_CONFIG_HOME: a scratch one, with one project.
        os.environ["XDG_CONFIG_HOME"] = str(scratch / "config")
        from conformance.backends import sdk_backend
        from conformance.fakes import FakeProvider, LoopbackServer
        from proxy.interceptor import PortRegistry, project_id

        PortRegistry().get_or_allocate_port(PROJECT)
        project_client = project_id(PROJECT)
        provider = FakeProvider()
        with LoopbackServer(provider.app) as provider_server:
            app = sdk_backend.build_app(config(provider_server.url, scratch / "memory.sqlite3"))
            with (
                LoopbackServer(app, lifespan="on", startup_timeout=60.0) as proxy,
                httpx.Client(base_url=proxy.url, timeout=30.0) as http,
            ):
                converse(http, project_client)
                screenshot(proxy.url, project_client, output)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
