"""The sdk backend: LiteLLM in-process, through one ``litellm.Router`` built from ``model_list``.

The Router gives model aliases, wildcards, retries and timeouts the same meaning as in the LiteLLM proxy.
Every provider call goes through the app's one HTTP session (see :mod:`proxy.session`), handed to
LiteLLM through the seams :mod:`proxy.backends.litellm_adapter` describes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from proxy.backends import litellm_adapter
from proxy.call import Api, Call
from proxy.config import Config
from proxy.model_catalog import ModelCatalog
from proxy.requests import forwardable_fields
from proxy.session import SessionManager
from proxy.streaming import close_iterator, sse_event, sse_frames

if TYPE_CHECKING:
    import litellm

__all__ = ["SdkBackend"]

logger = logging.getLogger("proxy.backends.sdk")


class SdkBackend:
    """LiteLLM in-process. Cheap to construct; :meth:`start` imports litellm and builds the Router."""

    name = "sdk"

    def __init__(self, config: Config, *, session: SessionManager | None = None) -> None:
        self.config = config
        self.session = session or SessionManager.from_config(config)
        self.tokenizer_warmed: asyncio.Future[None] | None = None
        """Done once LiteLLM's tokenizer is loaded (started by :meth:`start`)."""
        self._router: litellm.Router | None = None
        self._litellm: Any = None
        self._seams: litellm_adapter.SessionSeams | None = None
        self._catalog = ModelCatalog(config)
        self._handler_groups: frozenset[str] = frozenset()
        self._drop_params = config.litellm_settings.get("drop_params")

    @property
    def router(self) -> litellm.Router:
        if self._router is None:
            raise RuntimeError("the sdk backend is not started")
        return self._router

    async def start(self) -> None:
        litellm = self._litellm = litellm_adapter.import_litellm()
        http = await self.session.start()
        litellm_adapter.register_custom_providers(
            litellm, self.config.litellm_settings.get("custom_provider_map") or []
        )
        self._seams = litellm_adapter.SessionSeams(litellm, http)
        self._seams.install()
        model_list, self._handler_groups = self._seams.model_list(self.config.model_list)
        self._router = litellm.Router(
            model_list=model_list, **litellm_adapter.router_kwargs(litellm.Router, self.config)
        )
        # Beside startup, in a worker thread: nothing waits for it.
        loop = asyncio.get_running_loop()
        self.tokenizer_warmed = loop.run_in_executor(None, litellm_adapter.warm_tokenizer, litellm)

    async def close(self) -> None:
        if self._seams is not None:
            self._seams.uninstall()
            self._seams = None
        self._router = None
        await self.session.close()

    async def ready(self) -> bool:
        return self._router is not None and self.session.is_open

    def _call_kwargs(self, call: Call) -> dict[str, Any]:
        kwargs = forwardable_fields(call.payload)
        if self._drop_params is not None:
            kwargs["drop_params"] = self._drop_params
        if call.provider_headers:
            kwargs["extra_headers"] = dict(call.provider_headers)
        if call.credential is not None:  # the client's own: LiteLLM sends it as the provider expects
            kwargs["api_key"] = call.credential
        if call.api is Api.CHAT and self._catalog.group_of(call.model) in self._handler_groups:
            assert self._seams is not None
            kwargs["client"] = self._seams.handler
        return kwargs

    async def complete(self, call: Call) -> dict[str, Any]:
        with litellm_adapter.missing_modules_explained():
            if call.api is Api.COUNT_TOKENS:
                params = self._catalog.deployment_of(call.model)
                assert params is not None  # the flow serves only models of the catalog
                if call.credential is not None:
                    params = {**params, "api_key": call.credential}
                return await litellm_adapter.count_tokens(self._litellm, params, call.payload)
            if call.api is Api.EMBEDDINGS:
                response = await self.router.aembedding(model=call.model, **self._call_kwargs(call))
                return litellm_adapter.serialize_object(response)
            if call.api is Api.RESPONSES:
                response = await self.router.aresponses(model=call.model, **self._call_kwargs(call))
                return litellm_adapter.serialize_object(response)
            if call.api is Api.MESSAGES:
                response = await self.router.aanthropic_messages(model=call.model, **self._call_kwargs(call))
                return {key: value for key, value in dict(response).items() if not key.startswith("_")}
            response = await self.router.acompletion(model=call.model, **self._call_kwargs(call))
            return litellm_adapter.serialize(response)

    async def stream(self, call: Call) -> AsyncIterator[Any]:
        with litellm_adapter.missing_modules_explained():
            if call.api is Api.RESPONSES:
                events = await self.router.aresponses(
                    model=call.model, stream=True, **self._call_kwargs(call)
                )
                return _responses_frames(events)
            if call.api is Api.MESSAGES:
                stream = await self.router.aanthropic_messages(
                    model=call.model, stream=True, **self._call_kwargs(call)
                )
                return sse_frames(_bytes(stream))
            return _chunks(
                await self.router.acompletion(model=call.model, stream=True, **self._call_kwargs(call))
            )


async def _bytes(stream: Any) -> AsyncIterator[bytes]:
    try:
        async for chunk in stream:
            yield chunk if isinstance(chunk, bytes) else str(chunk).encode()
    finally:
        await close_iterator(stream)


async def _chunks(stream: Any) -> AsyncIterator[dict[str, Any]]:
    try:
        async for chunk in stream:
            # As the LiteLLM proxy serializes a chunk, so both backends send the same fields.
            yield chunk.model_dump(mode="json", exclude_none=True, exclude_unset=True)
    finally:
        # Also runs when the client went away: closing the wrapper closes the provider's response.
        await stream.aclose()


async def _responses_frames(stream: Any) -> AsyncIterator[bytes]:
    """LiteLLM's Responses events as the SSE frames the API sends: ``event: <type>`` and its JSON."""
    try:
        async for event in stream:
            data = litellm_adapter.serialize_object(event)
            yield sse_event(data, event=data.get("type"))
    finally:
        await close_iterator(stream)
