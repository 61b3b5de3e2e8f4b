"""What the console's browser tests share: where chromium is, and a proxy with memory that clients talk to.

The proxy is the real one (the sdk backend, LiteLLM in process) on a loopback port, in front of the
conformance kit's fake provider, with a local SQLite store; the tests fill it the way users do, with chat
requests through the official openai SDK, and read it back through the console's JSON API with httpx,
which is a different path from the page under test.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from conformance.harness import ProxyUnderTest

__all__ = [
    "CHROMIUM_ARGS",
    "CHROMIUM_VARIABLE",
    "NO_CHROMIUM",
    "ConsoleUnderTest",
    "find_chromium",
]

CHROMIUM_VARIABLE = "MEMORY_PROXY_TEST_CHROMIUM"
CHROMIUM_NAMES = ("chromium", "chromium-browser")
NO_CHROMIUM = f"no chromium: apt-get install chromium (RUN_TESTS.sh does as root), or set {CHROMIUM_VARIABLE}"

CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root in a container, where chromium's sandbox cannot start
    "--disable-gpu",
    # Without these, chromium reaches for Google's hosts at start (field trials, component updates,
    # sync, QUIC probes); the test machines refuse them, and the attempts slow the start down.
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

WRITE_BACK_SECONDS = 15.0
"""How long an exchange may take to be stored (it is written in the background after the answer)."""


def find_chromium(environ: Mapping[str, str]) -> tuple[str | None, str]:
    """The chromium to drive (``$MEMORY_PROXY_TEST_CHROMIUM``, else ``chromium`` or ``chromium-browser`` on
    PATH), or None and why the browser tests skip."""
    configured = environ.get(CHROMIUM_VARIABLE, "").strip()
    if configured:
        found = shutil.which(configured)
        if found is None:
            return None, f"{CHROMIUM_VARIABLE}={configured} is not an executable"
        return found, ""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found is not None:
            return found, ""
    return None, NO_CHROMIUM


@dataclass
class ConsoleUnderTest:
    """A running proxy seen from its console's side: the page's URL, and clients that fill its memory."""

    proxy: ProxyUnderTest
    key: str | None = None
    """The proxy key (``memory_proxy.auth_key``), when the config sets one."""

    @property
    def url(self) -> str:
        return f"{self.proxy.url}/ui"

    def _headers(self, user_id: str | None = None) -> dict[str, str]:
        headers = {"authorization": f"Bearer {self.key}"} if self.key else {}
        if user_id is not None:
            headers["x-memory-user-id"] = user_id
        return headers

    def say(self, user_id: str, text: str) -> str:
        """One chat exchange by ``user_id`` through the openai SDK; the answer's memory status."""
        client = self.proxy.openai(
            api_key=self.key or "sk-client-key-not-for-the-provider",
            default_headers={"x-memory-user-id": user_id},
        )
        with client:
            raw = client.chat.completions.with_raw_response.create(
                model="gpt-fake", messages=[{"role": "user", "content": text}]
            )
        raw.parse()
        return raw.headers["x-memory-status"]

    def remember(self, user_id: str, text: str) -> str:
        """:meth:`say`, then wait until the exchange is stored (write-back runs after the answer)."""
        before = self.write_back()["stored"]
        status = self.say(user_id, text)
        self.wait_until_stored(before + 1)
        return status

    def post(self, user_id: str, body: dict[str, Any]) -> httpx.Response:
        """A chat completions request as it is, for the ones the SDK would refuse or raise on."""
        with self.proxy.client(headers=self._headers(user_id)) as http:
            return http.post("/v1/chat/completions", json=body)

    def write_back(self) -> dict[str, int]:
        with self.proxy.client(headers=self._headers()) as http:
            answer = http.get("/memory/status")
        answer.raise_for_status()
        counts: dict[str, int] = answer.json()["write_back"]
        return counts

    def wait_until_stored(self, stored: int) -> None:
        """Poll ``/memory/status`` until ``stored`` exchanges are in the store (failing on a lost one)."""
        deadline = time.monotonic() + WRITE_BACK_SECONDS
        while True:
            counts = self.write_back()
            assert counts["failed"] == counts["dropped"] == 0, counts
            if counts["stored"] >= stored:
                return
            assert time.monotonic() < deadline, f"write-back stored {counts} after {WRITE_BACK_SECONDS} s"
            time.sleep(0.02)

    def wait_until_recall_by_meaning(self) -> None:
        """Wait until the embedding model has loaded (it loads in the background at start-up)."""
        deadline = time.monotonic() + WRITE_BACK_SECONDS
        while True:
            with self.proxy.client(headers=self._headers()) as http:
                store = http.get("/memory/status").json()["store"]
            if store["recall_mode"] is None:
                return
            assert time.monotonic() < deadline, store
            time.sleep(0.05)

    def api(self, path: str, **params: Any) -> Any:
        """A console API answer (``/ui/api`` + ``path``), read past the page with the proxy key."""
        with self.proxy.client(headers=self._headers()) as http:
            answer = http.get(f"/ui/api{path}", params=params)
        answer.raise_for_status()
        return answer.json()

    def forget(self, user_id: str) -> None:
        """Forget all of ``user_id``'s memories past the page (as another tab or the CLI would)."""
        with self.proxy.client(headers=self._headers()) as http:
            http.delete(f"/ui/api/clients/{user_id}/memories").raise_for_status()

    def memories(self, user_id: str) -> list[str]:
        """What the store holds for ``user_id``, newest first."""
        return [memory["content"] for memory in self.api(f"/clients/{user_id}/memories")["memories"]]
