"""The binary backend: forwards to a separate LiteLLM proxy process (``litellm --config …``).

Same app, flow, errors and streaming as the sdk backend; only the call differs. Every call goes
through the one persistent session with the LiteLLM master key. A stream is one upstream request whose
SSE lines are relayed as they arrive. Only connection failures (nothing reached the LiteLLM proxy) are
retried, a bounded number of times; anything else is answered as the LiteLLM proxy answered it, mapped
back to the errors the sdk backend gives for the same fault.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx

from proxy.call import Api, Call
from proxy.config import Config, ConfigError
from proxy.errors import UpstreamUnreachable
from proxy.litellm_errors import error_from_event, error_from_response
from proxy.requests import forwardable_fields
from proxy.session import SessionManager
from proxy.streaming import close_iterator, frame_data, sse_frames

__all__ = ["BinaryBackend", "typed_responses_events"]

PATHS = {
    Api.CHAT: "/v1/chat/completions",
    Api.MESSAGES: "/v1/messages",
    Api.RESPONSES: "/v1/responses",
    Api.COUNT_TOKENS: "/v1/messages/count_tokens",
    Api.EMBEDDINGS: "/v1/embeddings",
}
"""The LiteLLM proxy's route for each API."""
STREAMING_APIS = frozenset({Api.CHAT, Api.MESSAGES, Api.RESPONSES})
"""The APIs whose body says whether to stream (the others answer JSON only)."""
CONNECT_ATTEMPTS = 3
CONNECT_BACKOFF_SECONDS = 0.1


class BinaryBackend:
    """A LiteLLM proxy at ``memory_proxy.litellm_base_url``, reached through one persistent session."""

    name = "binary"

    def __init__(self, config: Config, *, session: SessionManager | None = None) -> None:
        self.config = config
        self.session = session or SessionManager.from_config(config)
        self.base_url = config.memory_proxy.litellm_base_url.rstrip("/")
        master_key = config.master_key or os.environ.get("LITELLM_MASTER_KEY")
        self._headers = {"authorization": f"Bearer {master_key}"} if master_key else {}
        self._master_key = master_key
        if config.memory_proxy.client_credentials and not config.forwards_client_credentials:
            raise ConfigError(
                f"{config.source}: memory_proxy.client_credentials needs the LiteLLM proxy to pass a "
                "client's key on to the provider: set general_settings.forward_llm_provider_auth_headers: "
                "true in the config the LiteLLM proxy reads"
            )
        self._urls: dict[str, httpx.URL] = {}
        """Parsed once per path: parsing a URL string is half of building a request."""

    async def start(self) -> None:
        await self.session.start()

    async def close(self) -> None:
        await self.session.close()

    async def ready(self) -> bool:
        if not self.session.is_open:
            return False
        try:
            response = await self.session.client.get(f"{self.base_url}/health/liveliness", timeout=5.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def _body(self, call: Call) -> dict[str, Any]:
        body = {"model": call.model, **forwardable_fields(call.payload)}
        if call.api in STREAMING_APIS:
            body["stream"] = call.stream
        if call.provider_headers:
            body["extra_headers"] = dict(call.provider_headers)  # the LiteLLM proxy passes them on
        return body

    def _headers_for(self, call: Call) -> dict[str, str]:
        """The LiteLLM proxy's master key, and a client's own credential: then the master key goes in
        ``x-litellm-api-key`` and the credential in ``x-api-key``, which the LiteLLM proxy (with
        ``forward_llm_provider_auth_headers``) uses as the provider's key."""
        if call.credential is None:
            return self._headers
        headers = {"x-api-key": call.credential}
        if self._master_key:
            headers["x-litellm-api-key"] = self._master_key
        return headers

    async def _post(self, call: Call) -> httpx.Response:
        """Send ``call`` to the LiteLLM proxy, retrying only when the connection itself could not be made."""
        client = self.session.client
        path = PATHS[call.api]
        url = self._urls.get(path) or self._urls.setdefault(path, httpx.URL(f"{self.base_url}{path}"))
        request = client.build_request("POST", url, json=self._body(call), headers=self._headers_for(call))
        for attempt in range(1, CONNECT_ATTEMPTS + 1):
            try:
                return await client.send(request, stream=call.stream)
            except httpx.ConnectError:
                if attempt == CONNECT_ATTEMPTS:
                    raise
                await asyncio.sleep(CONNECT_BACKOFF_SECONDS * attempt)
        raise AssertionError("unreachable")

    async def complete(self, call: Call) -> dict[str, Any]:
        response = await self._post(call)
        if response.status_code >= 400:
            raise error_from_response(response.status_code, response.content, response.headers)
        return response.json()

    async def stream(self, call: Call) -> AsyncIterator[Any]:
        """One upstream request, its body left unread for the relay; an error status is raised here."""
        response = await self._post(call)
        if response.status_code >= 400:
            try:
                content = await response.aread()
            finally:
                await response.aclose()
            raise error_from_response(response.status_code, content, response.headers)
        if call.api is Api.CHAT:
            return _events(response)
        frames = sse_frames(_closing(response))
        return typed_responses_events(frames) if call.api is Api.RESPONSES else frames


async def typed_responses_events(frames: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """A LiteLLM proxy's Responses stream as the Responses API frames it. Releases before 1.110 send each
    event as a ``data:`` line alone and end with ``data: [DONE]``; the API (and the openai SDK's event
    names) has an ``event:`` line per event and no ``[DONE]``. Frames that have their name pass untouched."""
    try:
        async for frame in frames:
            if frame.startswith(b"event:") or b"\nevent:" in frame:
                yield frame
                continue
            data = frame_data(frame)
            if isinstance(data, dict) and isinstance(data.get("type"), str):
                yield b"event: " + data["type"].encode() + b"\n" + frame
            elif data is None and frame.strip() == b"data: [DONE]":
                continue
            else:
                yield frame
    finally:
        await close_iterator(frames)


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
            try:
                chunk = json.loads(data)
            except ValueError:
                chunk = None
            if not isinstance(chunk, dict):
                raise UpstreamUnreachable("The LiteLLM proxy's stream holds something that is not a chunk.")
            if "error" in chunk:
                raise error_from_event(chunk)
            yield chunk
    finally:
        await response.aclose()
