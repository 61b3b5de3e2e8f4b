"""What the security tests share: a headless chromium that resolves an attacker's names to 127.0.0.1 (as
DNS rebinding makes them resolve), and proxies with memory, guarded or not, that the attacks aim at."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from conformance.backends import sdk_backend
from conformance.explain import ExchangeLog
from conformance.fakes import FakeProvider
from conformance.harness import conformance_raw_config, deep_merge, serve_proxy
from conformance.tools import missing_tool
from tests.browser.support import CHROMIUM_ARGS, ConsoleUnderTest, find_chromium

ATTACKER_DOMAIN = "evil.example"
"""Names under it resolve to 127.0.0.1 in the test browser: the attacker's site after rebinding."""


@pytest.fixture(scope="module")
def hostile_browser() -> Iterator[Any]:
    """Chromium, headless; one per module (Playwright's sync API must not outlive the module: see
    tests/browser/conftest.py)."""
    from playwright.sync_api import sync_playwright

    path, why_not = find_chromium(os.environ)
    if path is None:
        missing_tool(why_not)
    rules = f"--host-resolver-rules=MAP *.{ATTACKER_DOMAIN} 127.0.0.1"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=path, args=[*CHROMIUM_ARGS, rules], headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def visit(hostile_browser: Any) -> Iterator[Callable[[str], Any]]:
    """``visit(url)``: a fresh page (its own cookies) opened at ``url``."""
    with ExitStack() as stack:

        def open_page(url: str) -> Any:
            context = hostile_browser.new_context()
            stack.callback(context.close)
            page = context.new_page()
            page.goto(url)
            return page

        yield open_page


@pytest.fixture
def memory_proxy(
    tmp_path: Path,
    fake_provider: FakeProvider,
    fake_provider_url: str,
    unreachable_url: str,
    conformance_exchanges: ExchangeLog,
) -> Iterator[Callable[..., ConsoleUnderTest]]:
    """Factory: ``memory_proxy(guard=True)`` serves the sdk backend with memory (a SQLite file of its own)
    in front of the fake provider until the test ends; ``guard=False`` switches the browser boundary off."""

    stores = itertools.count()

    def open_one(*, guard: bool = True) -> ConsoleUnderTest:
        store = tmp_path / f"memory-{next(stores)}.sqlite3"
        overrides = {
            "context_retrieval": {"enabled": True, "local_store_path": str(store), "semantic": False},
            "memory_proxy": {"browser_guard": guard},
        }
        config = deep_merge(conformance_raw_config(fake_provider_url, unreachable_url), overrides)
        return ConsoleUnderTest(
            stack.enter_context(serve_proxy(sdk_backend, config, fake_provider, conformance_exchanges))
        )

    with ExitStack() as stack:
        yield open_one
