"""The binary backend: forwards to a separate LiteLLM proxy process (``litellm --config …``).

Same app, routing, errors and streaming as the sdk backend; only the call differs. Every call goes
through the one persistent session with the LiteLLM master key. A stream is one upstream request whose
SSE lines are relayed as they arrive. Only connection failures (nothing reached the LiteLLM proxy) are
retried, a bounded number of times; anything else is answered as the LiteLLM proxy answered it, mapped
back to the errors the sdk backend gives for the same fault.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx

from proxy.backends.base import ChatCall
from proxy.backends.litellm_proxy_errors import error_from_event, error_from_response
from proxy.config import Config
from proxy.memory.router_mode import MemoryRouterMode
from proxy.requests import forwardable_fields
from proxy.session import SessionManager
from proxy.streaming import frame_data, sse_frames

__all__ = ["BinaryBackend"]

CHAT_PATH = "/v1/chat/completions"
MESSAGES_PATH = "/v1/messages"
CONNECT_ATTEMPTS = 3
CONNECT_BACKOFF_SECONDS = 0.1


class BinaryBackend:
    """A LiteLLM proxy at ``memory_proxy.litellm_base_url``, reached through one persistent session."""

    name = "binary"

    def __init__(self, config: Config, *, session: SessionManager | None = None) -> None:
        self.config = config
        self.session = session or SessionManager()
        self.base_url = config.memory_proxy.litellm_base_url.rstrip("/")
        master_key = config.master_key or os.environ.get("LITELLM_MASTER_KEY")
        self._headers = {"authorization": f"Bearer {master_key}"} if master_key else {}
        aliases = config.router_settings.get("model_group_alias") or {}
        self._names = frozenset([*config.model_names, *aliases])
        self._patterns = tuple(name for name in config.model_names if "*" in name)
        self._memory_router = MemoryRouterMode(config)
        self._urls: dict[str, httpx.URL] = {}
        """Parsed once per path: parsing a URL string is half of building a request."""

    async def start(self) -> None:
        await self.session.start()

    async def close(self) -> None:
        await self.session.close()

    def has_model(self, model: str) -> bool:
        return model in self._names or any(fnmatch.fnmatchcase(model, pattern) for pattern in self._patterns)

    async def list_models(self) -> list[dict[str, Any]]:
        response = await self._request("GET", "/v1/models")
        if response.status_code >= 400:
            raise error_from_response(response.status_code, response.content, response.headers)
        return response.json()["data"]

    async def ready(self) -> bool:
        if not self.session.is_open:
            return False
        try:
            response = await self.session.client.get(f"{self.base_url}/health/liveliness", timeout=5.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def _body(self, call: ChatCall, *, stream: bool) -> dict[str, Any]:
        body = {"model": call.model, **forwardable_fields(call.payload), "stream": stream}
        headers = self._memory_router.headers_for(call.model, call.user_id)
        if headers:
            body["extra_headers"] = headers  # the LiteLLM proxy passes these on to the provider call
        return body

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        stream: bool = False,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Call the LiteLLM proxy, retrying only when the connection itself could not be made."""
        client = self.session.client
        url = self._urls.get(path) or self._urls.setdefault(path, httpx.URL(f"{self.base_url}{path}"))
        request = client.build_request(method, url, json=json, headers={**(headers or {}), **self._headers})
        for attempt in range(1, CONNECT_ATTEMPTS + 1):
            try:
                return await client.send(request, stream=stream)
            except httpx.ConnectError:
                if attempt == CONNECT_ATTEMPTS:
                    raise
                await asyncio.sleep(CONNECT_BACKOFF_SECONDS * attempt)
        raise AssertionError("unreachable")

    async def _answer(self, path: str, call: ChatCall) -> dict[str, Any]:
        response = await self._request(
            "POST", path, json=self._body(call, stream=False), headers=call.headers
        )
        if response.status_code >= 400:
            raise error_from_response(response.status_code, response.content, response.headers)
        return response.json()

    async def _stream(self, path: str, call: ChatCall) -> httpx.Response:
        """One upstream request, its body left unread for the relay; an error status is raised here."""
        response = await self._request(
            "POST", path, json=self._body(call, stream=True), stream=True, headers=call.headers
        )
        if response.status_code >= 400:
            try:
                content = await response.aread()
            finally:
                await response.aclose()
            raise error_from_response(response.status_code, content, response.headers)
        return response

    async def chat(self, call: ChatCall) -> dict[str, Any]:
        return await self._answer(CHAT_PATH, call)

    async def chat_stream(self, call: ChatCall) -> AsyncIterator[dict[str, Any]]:
        return _events(await self._stream(CHAT_PATH, call))

    async def messages(self, call: ChatCall) -> dict[str, Any]:
        return await self._answer(MESSAGES_PATH, call)

    async def messages_stream(self, call: ChatCall) -> AsyncIterator[bytes]:
        return _anthropic_frames(await self._stream(MESSAGES_PATH, call))


async def _anthropic_frames(response: httpx.Response) -> AsyncIterator[bytes]:
    """The LiteLLM proxy's Anthropic SSE frames as they arrive; its error event is raised, so that the
    relay answers it as the sdk backend would."""
    async for frame in sse_frames(_closing(response)):
        data = frame_data(frame)
        if isinstance(data, dict) and data.get("type") == "error":
            raise error_from_event(data)
        yield frame


async def _closing(response: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.aiter_raw():
            yield chunk
    finally:
        await response.aclose()


async def _events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """The chunks of the LiteLLM proxy's SSE stream, as they arrive, until ``[DONE]``."""
    try:
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                return
            chunk = json.loads(data)
            if isinstance(chunk, dict) and "error" in chunk:
                raise error_from_event(chunk)
            yield chunk
    finally:
        await response.aclose()
