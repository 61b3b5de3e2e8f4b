"""The sdk backend: LiteLLM in-process, through one ``litellm.Router`` built from ``model_list``.

The Router gives model aliases, wildcards, retries and timeouts the same meaning as in the LiteLLM proxy.
Every provider call goes through the app's one HTTP session (see :mod:`proxy.session`): at start the
backend builds, per deployment, the client object LiteLLM's handler for that provider takes (an
``openai.AsyncOpenAI`` for OpenAI-compatible providers, an ``AsyncHTTPHandler`` for the rest), both
wrapping the shared ``httpx.AsyncClient``; the Router hands it to LiteLLM on each call.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import os
from collections.abc import AsyncIterator
from copy import deepcopy
from typing import TYPE_CHECKING, Any

from proxy.backends.base import ChatCall
from proxy.config import Config
from proxy.memory.router_mode import MemoryRouterMode
from proxy.requests import forwardable_fields
from proxy.session import SessionManager
from proxy.streaming import sse_frames

if TYPE_CHECKING:
    import litellm

__all__ = ["SdkBackend"]

logger = logging.getLogger("proxy.backends.sdk")


def _import_litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    return litellm


def _warm_tokenizer(litellm: Any) -> None:
    """Count one token, so LiteLLM loads its tokenizer now rather than during the first streamed answer.

    LiteLLM counts a stream's tokens when the provider sends no usage; the first count loads tiktoken's
    encoding (about 0.4 s on the 2-core machine), which would delay that answer's first byte.
    """
    try:
        litellm.token_counter(model="gpt-4o-mini", text="warm up")
    except Exception:  # a missing tokenizer only costs the first stream its load time, as before
        logger.debug("could not preload LiteLLM's tokenizer", exc_info=True)


def _register_custom_providers(litellm: Any, entries: list[dict[str, Any]]) -> None:
    """Apply ``litellm_settings.custom_provider_map`` as the LiteLLM proxy does (``module.attr`` handlers)."""
    resolved = []
    for entry in entries:
        handler = entry["custom_handler"]
        if isinstance(handler, str):
            module, _, attr = handler.rpartition(".")
            handler = getattr(importlib.import_module(module), attr)
        resolved.append({"provider": entry["provider"], "custom_handler": handler})
    known = {item["provider"] for item in litellm.custom_provider_map}
    litellm.custom_provider_map.extend(item for item in resolved if item["provider"] not in known)
    litellm.utils.custom_llm_setup()


def _router_kwargs(router_cls: type, config: Config) -> dict[str, Any]:
    settings = config.litellm_settings
    accepted = set(inspect.signature(router_cls.__init__).parameters)
    kwargs: dict[str, Any] = {}
    for key, value in config.router_settings.items():
        if key in accepted:
            kwargs[key] = value
        else:
            logger.warning(
                "router_settings.%s is not a litellm.Router setting; ignored by the sdk backend", key
            )
    if "num_retries" in settings:
        kwargs.setdefault("num_retries", settings["num_retries"])
    if "request_timeout" in settings:
        kwargs.setdefault("timeout", settings["request_timeout"])
    # With one deployment per model group, a cooldown only turns the real error into "no deployments
    # available" 429s; honour cooldowns only when router_settings asks for them.
    asks_for_cooldowns = any(
        key in kwargs for key in ("allowed_fails", "cooldown_time", "allowed_fails_policy")
    )
    kwargs.setdefault("disable_cooldowns", not asks_for_cooldowns)
    return kwargs


class SdkBackend:
    """LiteLLM in-process. Cheap to construct; :meth:`start` imports litellm and builds the Router."""

    name = "sdk"

    def __init__(self, config: Config, *, session: SessionManager | None = None) -> None:
        self.config = config
        self.session = session or SessionManager()
        self._router: litellm.Router | None = None
        self.tokenizer_warmed: asyncio.Future[None] | None = None
        """Done once LiteLLM's tokenizer is loaded (started by :meth:`start`)."""
        self._session_clients: dict[str, Any] = {}
        self._memory_router = MemoryRouterMode(config)
        self._model_names: frozenset[str] = frozenset()
        self._drop_params = config.litellm_settings.get("drop_params")

    @property
    def router(self) -> litellm.Router:
        if self._router is None:
            raise RuntimeError("the sdk backend is not started")
        return self._router

    async def start(self) -> None:
        litellm = _import_litellm()
        # The LiteLLM proxy's own serializer: drops LiteLLM's empty extras but keeps the nulls OpenAI
        # always sends (message.content on a tool call, refusal), so both backends answer alike.
        from litellm.proxy.utils import model_dump_with_preserved_fields

        self._serialize = lambda response: model_dump_with_preserved_fields(response, exclude_unset=True)
        http = await self.session.start()
        _register_custom_providers(litellm, self.config.litellm_settings.get("custom_provider_map") or [])
        router_cls = _session_router_class(litellm)
        self._router = router_cls(
            model_list=deepcopy(self.config.model_list),
            **_router_kwargs(litellm.Router, self.config),
        )
        self._router.session_clients = self._session_clients
        for deployment in self._router.get_model_list() or []:
            client = await _session_client_for(litellm, deployment["litellm_params"], http)
            if client is not None:
                self._session_clients[deployment["model_info"]["id"]] = client
        aliases = self._router.model_group_alias or {}
        self._model_names = frozenset([*self._router.get_model_names(), *aliases])
        # Beside startup, in a worker thread: nothing waits for it.
        self.tokenizer_warmed = asyncio.get_running_loop().run_in_executor(None, _warm_tokenizer, litellm)

    async def close(self) -> None:
        self._session_clients.clear()
        self._router = None
        await self.session.close()

    def has_model(self, model: str) -> bool:
        router = self.router
        return model in self._model_names or bool(router.pattern_router.route(model))

    async def list_models(self) -> list[dict[str, Any]]:
        names = [*self.config.model_names, *(self.router.model_group_alias or {})]
        return [
            {"id": name, "object": "model", "created": 0, "owned_by": "litellm-memory-proxy"}
            for name in names
        ]

    async def ready(self) -> bool:
        return self._router is not None and self.session.is_open

    def _call_kwargs(self, call: ChatCall) -> dict[str, Any]:
        kwargs = forwardable_fields(call.payload)
        if self._drop_params is not None:
            kwargs["drop_params"] = self._drop_params
        headers = {**call.headers, **self._memory_router.headers_for(call.model, call.user_id)}
        if headers:
            kwargs["extra_headers"] = headers
        return kwargs

    async def chat(self, call: ChatCall) -> dict[str, Any]:
        response = await self.router.acompletion(model=call.model, **self._call_kwargs(call))
        return self._serialize(response)

    async def chat_stream(self, call: ChatCall) -> AsyncIterator[dict[str, Any]]:
        stream = await self.router.acompletion(model=call.model, stream=True, **self._call_kwargs(call))
        return _chunks(stream)

    async def messages(self, call: ChatCall) -> dict[str, Any]:
        response = await self.router.aanthropic_messages(model=call.model, **self._call_kwargs(call))
        return {key: value for key, value in dict(response).items() if not key.startswith("_")}

    async def messages_stream(self, call: ChatCall) -> AsyncIterator[bytes]:
        stream = await self.router.aanthropic_messages(
            model=call.model, stream=True, **self._call_kwargs(call)
        )
        return sse_frames(_bytes(stream))


async def _bytes(stream: Any) -> AsyncIterator[bytes]:
    try:
        async for chunk in stream:
            yield chunk if isinstance(chunk, bytes) else str(chunk).encode()
    finally:
        closer = getattr(stream, "aclose", None)
        if closer is not None:
            await closer()


async def _chunks(stream: Any) -> AsyncIterator[dict[str, Any]]:
    try:
        async for chunk in stream:
            # As the LiteLLM proxy serializes a chunk, so both backends send the same fields.
            yield chunk.model_dump(mode="json", exclude_none=True, exclude_unset=True)
    finally:
        # Also runs when the client went away: closing the wrapper closes the provider's response.
        await stream.aclose()


async def _session_client_for(litellm: Any, params: dict[str, Any], http: Any) -> Any:
    """The provider client LiteLLM's handler for this deployment accepts, wrapping the shared session."""
    from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler

    try:
        _, provider, dynamic_key, api_base = litellm.get_llm_provider(
            model=params["model"],
            custom_llm_provider=params.get("custom_llm_provider"),
            api_base=params.get("api_base"),
            api_key=params.get("api_key"),
        )
    except Exception as exc:  # an unknown provider fails the call itself, with LiteLLM's own message
        logger.warning("cannot tell the provider of %s: %s", params.get("model"), exc)
        return None
    if provider in ("openai", "custom_openai") or provider in litellm.openai_compatible_providers:
        import openai

        api_key = (
            params.get("api_key")
            or dynamic_key
            or (os.environ.get("OPENAI_API_KEY") if provider == "openai" else None)
        )
        if not api_key or (api_base is None and provider != "openai"):
            return None  # LiteLLM builds its own client and reports the missing key or base itself
        return openai.AsyncOpenAI(api_key=api_key, base_url=api_base, http_client=http, max_retries=0)
    if provider in ("azure", "azure_text"):
        return None  # LiteLLM's Azure handler builds AsyncAzureOpenAI clients with their own auth flows
    handler = AsyncHTTPHandler()
    own = handler.client
    handler.client = http
    await own.aclose()
    return handler


GENERIC_CALL = "_ageneric_api_call_with_fallbacks"
"""The Router's ``function_name`` for calls like ``aanthropic_messages`` that skip its completion path."""


def _session_router_class(litellm: Any) -> type:
    """A Router that hands LiteLLM the session-backed client built for the chosen deployment.

    ``_get_async_openai_model_client`` is where the Router picks the client for the deployment it chose
    for a completion (for every provider, despite its name). Anthropic Messages calls take another path
    that never asks for a client; ``_update_kwargs_with_deployment`` sees the chosen deployment there, so
    the session's client is added as the call's ``client``, for the providers LiteLLM calls through its
    own HTTP handler (Anthropic's native API among them). tests/unit/test_sdk_backend.py fails if litellm
    renames either method.
    """
    from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler

    class SessionRouter(litellm.Router):
        session_clients: dict[str, Any] = {}

        def _session_client(self, deployment: dict, kwargs: dict) -> Any:
            if kwargs.get("api_key") is not None:  # a client-sent key gets LiteLLM's own client
                return None
            return self.session_clients.get(deployment.get("model_info", {}).get("id"))

        def _get_async_openai_model_client(self, deployment: dict, kwargs: dict) -> Any:
            client = self._session_client(deployment, kwargs)
            if client is not None:
                return client
            return super()._get_async_openai_model_client(deployment, kwargs)

        def _update_kwargs_with_deployment(
            self, deployment: dict, kwargs: dict, function_name: str | None = None
        ) -> None:
            super()._update_kwargs_with_deployment(deployment, kwargs, function_name)
            client = self._session_client(deployment, kwargs)
            if function_name == GENERIC_CALL and isinstance(client, AsyncHTTPHandler):
                kwargs.setdefault("client", client)

    return SessionRouter
