"""The console's browser tests: headless chromium driven by Playwright, against a proxy on loopback.

Playwright's sync API, one browser per module and a fresh context (cookies, storage) per test. Not per
session: between its calls the sync API marks its own event loop as the thread's running loop, so a
browser left open would make every async test that this xdist worker runs later fail ("cannot run the
event loop while another loop is running"). A module-scoped fixture is torn down before the worker moves
on to another module.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from conformance.backends import sdk_backend
from conformance.explain import ExchangeLog
from conformance.fakes import FakeProvider
from conformance.harness import conformance_raw_config, deep_merge, serve_proxy
from conformance.tools import missing_tool
from tests.browser.support import CHROMIUM_ARGS, ConsoleUnderTest, find_chromium

TIMEOUT_MS = 10_000
"""How long a step may wait for the page (the console answers in milliseconds; a loaded CI box is slow)."""

expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="session")
def chromium() -> str:
    """The chromium binary, or a skip saying how to get one (a failure under CI)."""
    path, why_not = find_chromium(os.environ)
    if path is None:
        missing_tool(why_not)
    return path


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a context of its own; an uncaught error of the console's scripts fails the test."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield opened
    finally:
        context.close()
    assert not errors, f"the console's scripts raised: {errors}"


@pytest.fixture
def open_console(
    tmp_path: Path,
    fake_provider: FakeProvider,
    fake_provider_url: str,
    unreachable_url: str,
    conformance_exchanges: ExchangeLog,
) -> Iterator[Callable[..., ConsoleUnderTest]]:
    """Factory: ``open_console(semantic=False, **overrides)`` serves a proxy (the sdk backend in front of the
    fake provider, memory in a SQLite file of this test) until the test ends; ``overrides`` are merged into
    the conformance config section by section."""

    def open_one(*, semantic: bool = False, **overrides: Any) -> ConsoleUnderTest:
        memory = {
            "context_retrieval": {
                "enabled": True,
                "local_store_path": str(tmp_path / "memory.sqlite3"),
                "semantic": semantic,
            }
        }
        config = deep_merge(conformance_raw_config(fake_provider_url, unreachable_url), memory)
        config = deep_merge(config, overrides)
        proxy = stack.enter_context(serve_proxy(sdk_backend, config, fake_provider, conformance_exchanges))
        return ConsoleUnderTest(proxy, key=config.get("memory_proxy", {}).get("auth_key"))

    with ExitStack() as stack:
        yield open_one
