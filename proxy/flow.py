"""The request flow: every completion request takes these steps, in this order, on both API surfaces.

    authenticate → identify → parse → recall → inject → complete → relay → remember

Each step is a method of :class:`Flow` taking the values earlier steps made and returning a new one
(nothing is changed in place): the client's :class:`~proxy.identification.ClientIdentity`, the
validated :class:`~proxy.call.Call`, what memory :class:`~proxy.memory.service.Recall`-ed, the call as
the provider gets it, and the answer. Only ``complete`` differs between backends; what differs between
the OpenAI and the Anthropic API is data (:mod:`proxy.surfaces`). Identification comes before parsing so
that even a rejected body is answered with the client's ``x-memory-user-id``. Beside the steps, a
:class:`~proxy.activity.RequestTrace` notes how far the request got and how long each part took; the
finished record goes to the console's request list and to the metrics (:mod:`proxy.activity`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi.responses import JSONResponse, Response
from starlette.requests import Request

from proxy.activity import CLIENTS_SEEN, KEPT_REQUESTS, Activity, RequestTrace
from proxy.auth import ProxyKey
from proxy.backends.base import Backend
from proxy.call import Answer, Api, Call
from proxy.config import Config
from proxy.credentials import provider_credential, without_credentials
from proxy.error_responses import error_response
from proxy.errors import InvalidRequest, ModelNotFound, ProxyError, to_proxy_error
from proxy.identification import ClientIdentifier, ClientIdentity
from proxy.memory.service import STATUS_REASON_HEADER, MemoryService, Recall
from proxy.memory.supermemory_router import SupermemoryRouter
from proxy.memory_tool.files import MemoryFiles
from proxy.memory_tool.loop import declares_memory_tool, executor, run_json, run_stream, with_memory_tool
from proxy.metrics import Metrics
from proxy.model_catalog import STATEFUL_RESPONSES_PROVIDERS, ModelCatalog
from proxy.people import Person
from proxy.request_log import log_request
from proxy.requests import RequestShape, parse_call, read_json_object
from proxy.scopes import PROJECT_HEADER, Scope, ScopeResolver
from proxy.shared_records import RequestsTable, SharedRecords, StoreRecords
from proxy.signed_out import SignOutTable, StoreSignedOut
from proxy.streaming import OpenedStream, checked, relay
from proxy.surfaces import Surface

__all__ = [
    "FORWARDED_HEADERS",
    "OVERHEAD_HEADER",
    "RECALL_HEADER",
    "STORE_HEADER",
    "UPSTREAM_HEADER",
    "USER_ID_HEADER",
    "Flow",
    "flow_of",
]

USER_ID_HEADER = "x-memory-user-id"
OVERHEAD_HEADER = "x-memory-proxy-overhead-ms"
"""The proxy's own time before the provider call (recall included)."""
RECALL_HEADER = "x-memory-proxy-recall-ms"
UPSTREAM_HEADER = "x-memory-proxy-upstream-ms"
"""From the provider call until its answer (a stream: its first chunk) reached the proxy."""

logger = logging.getLogger("proxy.flow")

STORE_HEADER = "x-memory-store"
_OFF = frozenset({"off", "false", "no", "0"})

FORWARDED_HEADERS = ("anthropic-beta",)
"""Client headers the provider must see as well: Anthropic betas (Claude Code sends a long list)."""


class Flow:
    """The request flow of one app: the parts it is built from, and its steps."""

    def __init__(self, config: Config, backend: Backend) -> None:
        self.backend = backend
        self.identifier = ClientIdentifier(config.user_id_mappings)
        self.scopes = ScopeResolver(config, self.identifier.patterns)
        self.catalog = ModelCatalog(config)
        self.supermemory_router = SupermemoryRouter(config)
        self.memory = MemoryService(
            config.context_retrieval,
            supermemory_router=self.supermemory_router,
            client_rules=config.user_id_mappings.header_patterns or (),
        )
        self.metrics = Metrics(self.memory)
        request_log = (log_request,) if config.memory_proxy.request_log else ()
        shared = self._shared_records()
        self.activity = Activity(listeners=(self.metrics.observe, *request_log), shared=shared)
        team_store = self.memory.store if self.memory.settings.provider == "postgres" else None
        signed_out = StoreSignedOut(team_store) if isinstance(team_store, SignOutTable) else None
        self.key = ProxyKey.of(config.memory_proxy, signed_out)
        self._client_credential_models = frozenset(config.memory_proxy.client_credentials)
        self.memory_tool = config.memory_proxy.memory_tool == "serve"
        self.memory_tool_steps = config.memory_proxy.memory_tool_steps
        self._max_body_bytes = config.memory_proxy.max_body_bytes
        self.client_timeout = config.memory_proxy.client_timeout

    def _shared_records(self) -> SharedRecords | StoreRecords | None:
        """Where every process's request records meet: the PostgreSQL store, else a ``--workers`` run's
        file; None for a process alone."""
        settings = self.memory.settings
        if settings.enabled and settings.provider == "postgres":
            store = self.memory.store
            if isinstance(store, RequestsTable):
                return StoreRecords(store, kept=KEPT_REQUESTS, clients_seen=CLIENTS_SEEN)
        return SharedRecords.of_this_run(kept=KEPT_REQUESTS, clients_seen=CLIENTS_SEEN)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Memory and the backend, started for the app's lifetime."""
        await self.memory.start()
        try:
            await self.backend.start()
            try:
                yield
            finally:
                await self.backend.close()
        finally:
            # After the backend: answers still in flight get their write-back queued first.
            await self.memory.close()

    async def handle(self, request: Request, surface: Surface) -> Response:
        """One completion request, start to end; any failure is answered in the surface's envelope.
        What happened is recorded for the console and the metrics (:mod:`proxy.activity`)."""
        started = time.perf_counter()
        identity = self.identify(request)
        person = self.person_of(request)
        trace = RequestTrace(
            surface.api.value, identity, started=started, person=person.name, **_line_of(request)
        )
        try:
            call = await self.parse(request, surface)
            trace.parsed(call.model, call.stream)
            self.require_model(call.model)
            self.require_stored_responses(call)
            call = self.credentials(request, call)
            scope = self.scopes.resolve(identity, request.headers, call.payload, person)
            trace.project = scope.project
            recall_started = time.perf_counter()
            recall = await self.recall(scope, call)
            recall_seconds = time.perf_counter() - recall_started
            trace.recalled(recall, recall_seconds)
            sent = self.inject(scope, call, recall, surface)
            upstream_started = time.perf_counter()
            answer = await self.answer(sent, surface, scope)
            upstream_seconds = time.perf_counter() - upstream_started
            trace.answered(upstream_seconds)
            kept = _kept(request)
            headers = {
                USER_ID_HEADER: identity.user_id,
                **recall.headers,
                OVERHEAD_HEADER: _ms(upstream_started - started),
                RECALL_HEADER: _ms(recall_seconds),
                UPSTREAM_HEADER: _ms(upstream_seconds),
            }
            if scope.project is not None:
                headers[PROJECT_HEADER] = scope.project
            if not kept:
                headers[STATUS_REASON_HEADER] += f"; not stored ({STORE_HEADER}: off)"
            return self.relay(
                surface,
                answer,
                headers,
                lambda reply: self.remember(scope, call, reply, recall, kept=kept),
                lambda problem: self.activity.record(trace, 200, problem),
                lambda error: surface.error_event(without_credentials(error, request.headers)),
            )
        except Exception as exc:
            error = without_credentials(to_proxy_error(exc), request.headers)
            self.activity.record(trace, error.status, error.message)
            logger.log(
                logging.WARNING if error.status >= 500 else logging.INFO,
                "%s %s from %s answered %d %s: %s",
                request.method,
                request.url.path,
                identity.user_id,
                error.status,
                error.code,
                error.message[:300],
            )
            return error_response(error, surface.envelope, {USER_ID_HEADER: identity.user_id})

    async def forward(
        self,
        request: Request,
        api: Api,
        shape: type[RequestShape],
        envelope: Callable[[ProxyError], dict[str, Any]],
    ) -> Response:
        """A request of an API without memory (token counting, embeddings): parsed and checked like a
        completion, sent to the backend as it came, answered as the provider answered, any failure in
        ``envelope``. Recorded for the console and the metrics like the rest."""
        started = time.perf_counter()
        identity = self.identify(request)
        person = self.person_of(request).name
        trace = RequestTrace(api.value, identity, started=started, person=person, **_line_of(request))
        try:
            call = parse_call(await self.read_body(request), api=api, shape=shape)
            trace.parsed(call.model, False)
            self.require_model(call.model)
            call = self.credentials(request, call).with_headers(_forwarded(request))
            upstream_started = time.perf_counter()
            answer = await self.backend.complete(call)
            trace.answered(time.perf_counter() - upstream_started)
        except Exception as exc:
            error = without_credentials(to_proxy_error(exc), request.headers)
            self.activity.record(trace, error.status, error.message)
            return error_response(error, envelope, {USER_ID_HEADER: identity.user_id})
        self.activity.record(trace, 200, None)
        return JSONResponse(answer, headers={USER_ID_HEADER: identity.user_id})

    def authenticate(self, request: Request) -> None:
        """With a proxy key set, the client must send one (Bearer or ``x-api-key``); whose it is says
        whose memory the request uses."""
        self.key.check(request)

    def person_of(self, request: Request) -> Person:
        """Whose key the request came with (:meth:`authenticate` found it); a 401 if it came with none."""
        person = getattr(request.state, "person", None)
        return person if person is not None else self.key.check(request)

    def identify(self, request: Request) -> ClientIdentity:
        """Which client (memory namespace) this is, from its headers."""
        return self.identifier.identify(request.headers)

    async def read_body(self, request: Request) -> dict[str, Any]:
        """The request's JSON object, within the proxy's size and time limits."""
        return await read_json_object(
            request, max_bytes=self._max_body_bytes, max_seconds=self.client_timeout
        )

    async def parse(self, request: Request, surface: Surface) -> Call:
        """The body, validated by the surface, with the client headers the provider must see."""
        call = parse_call(await self.read_body(request), api=surface.api, shape=surface.shape)
        return call.with_headers(_forwarded(request))

    def require_model(self, model: str) -> None:
        """A 404 for a model the proxy does not serve (part of parsing; separate so that the request's
        record still names the model the client asked for)."""
        if model not in self.catalog:
            raise ModelNotFound(
                f"The model '{model}' does not exist; GET /v1/models lists the available ones.", param="model"
            )

    def credentials(self, request: Request, call: Call) -> Call:
        """For a model that uses the caller's own provider credential, the call with it (a 401 when the
        client sent none); every other call as it is."""
        group = self.catalog.group_of(call.model)
        if group not in self._client_credential_models:
            return call
        return call.with_credential(provider_credential(request.headers, call.model, self.key))

    def require_stored_responses(self, call: Call) -> None:
        """A 400 for a Responses call continuing a stored response (``previous_response_id``) on a model
        whose provider keeps none: LiteLLM would answer from the new input alone, the earlier turns lost
        without a word."""
        if call.previous_response_id is None:
            return
        providers = self.catalog.providers_of(call.model)
        stateless = sorted(providers - STATEFUL_RESPONSES_PROVIDERS)
        if stateless:
            raise InvalidRequest(
                f"previous_response_id needs a provider that keeps its responses (OpenAI, Azure); "
                f"'{call.model}' is served by {', '.join(stateless)}, which keeps none, so the earlier "
                "turns would be lost. Send the whole conversation in 'input' instead (with store: false, "
                "as Codex does).",
                param="previous_response_id",
            )

    async def recall(self, scope: Scope, call: Call) -> Recall:
        """What the scope's memory holds for this conversation (time-boxed; never fails the request)."""
        return await self.memory.recall(scope, call)

    def inject(self, scope: Scope, call: Call, recall: Recall, surface: Surface) -> Call:
        """The call as the provider gets it: the conversation's memory placed in the body (the same bytes
        on every turn), and for a Memory Router model the Supermemory headers that let Supermemory do the
        memory work instead."""
        if recall.pins:
            call = call.with_payload(surface.place(call.payload, recall.pins))
        return call.with_headers(self.supermemory_router.headers_for(call.model, scope.namespace))

    async def answer(self, call: Call, surface: Surface, scope: Scope) -> dict[str, Any] | OpenedStream[Any]:
        """The backend's answer (:meth:`complete`), with Anthropic's memory tool run here when the proxy
        serves it (:mod:`proxy.memory_tool`)."""
        if not self.serves_memory_tool(call):
            return await self.complete(call, surface)
        call = with_memory_tool(call)
        kept = {"client": scope.client} | ({"project": scope.project} if scope.project else {})
        execute = executor(MemoryFiles(self.memory.store, scope.namespace, kept))
        steps = self.memory_tool_steps
        if not call.stream:
            return await run_json(call, self.backend.complete, execute, steps=steps)

        async def step(next_call: Call) -> AsyncIterator[Any]:
            return checked(await self.backend.stream(next_call), surface.chunk_problem)

        return await OpenedStream.open(run_stream(call, step, execute, steps=steps), surface.starts_answer)

    def serves_memory_tool(self, call: Call) -> bool:
        """Whether this request gets Anthropic's memory tool from the proxy: served, an Anthropic Messages
        request to an Anthropic model, memory on, not a client's side request, no memory tool of the
        client's own, and no tool call forced by the client (every step would call a tool)."""
        forced = call.payload.get("tool_choice")
        return (
            self.memory_tool
            and call.api is Api.MESSAGES
            and self.memory.settings.enabled
            and self.catalog.providers_of(call.model) == {"anthropic"}
            and not (isinstance(forced, dict) and forced.get("type") in ("any", "tool"))
            and not self.memory.side_requests.match(call)
            and not declares_memory_tool(dict(call.payload))
        )

    async def complete(self, call: Call, surface: Surface) -> dict[str, Any] | OpenedStream[Any]:
        """The backend's answer; a stream is returned once its answer has begun, each chunk checked to be
        the surface's protocol (a provider's garbage never reaches the client)."""
        if call.stream:
            chunks = checked(await self.backend.stream(call), surface.chunk_problem)
            return await OpenedStream.open(chunks, surface.starts_answer)
        return await self.backend.complete(call)

    def relay(
        self,
        surface: Surface,
        answer: dict[str, Any] | OpenedStream[Any],
        headers: dict[str, str],
        on_complete: Callable[[Answer], None],
        on_end: Callable[[str | None], None],
        error_event: Callable[[ProxyError], bytes],
    ) -> Response:
        """The answer to the client: JSON, or server-sent events chunk by chunk; ``on_complete`` gets the
        answer once it has all been sent, ``on_end`` how the answer ended (None: whole; a stream can still
        fail, or lose its client, after its status line, and is then ended with ``error_event``)."""
        if isinstance(answer, OpenedStream):
            return relay(
                answer,
                encode=surface.encode_chunk,
                end=surface.stream_end,
                error_event=error_event,
                text_of=surface.chunk_text,
                calls_tool=surface.chunk_calls_tool,
                on_complete=on_complete,
                headers=headers,
                on_end=on_end,
                is_last=surface.ends_answer,
                response_id_of=surface.chunk_response_id,
            )
        on_complete(surface.answer_of(answer))
        on_end(None)
        return JSONResponse(answer, headers=headers)

    def remember(
        self, scope: Scope, call: Call, answer: Answer, recall: Recall, *, kept: bool = True
    ) -> None:
        """Note the answer in the conversation (a later request may continue from its id), and queue the
        exchange for the scope's memory, off the request path, unless the client said not to keep it.
        ``call`` is the client's own request, before injection: recalled memory is never stored again."""
        self.memory.answered(scope, answer, recall)
        if kept:
            self.memory.remember_later(scope, call, answer, recall)


def _forwarded(request: Request) -> dict[str, str]:
    """The client headers the provider must see as well (:data:`FORWARDED_HEADERS`)."""
    return {name: request.headers[name] for name in FORWARDED_HEADERS if name in request.headers}


def _line_of(request: Request) -> dict[str, str]:
    """What the terminal's line per request names of it: ``METHOD /path`` and the client's address."""
    client = request.client
    peer = f"{client.host}:{client.port}" if client is not None else "-"
    return {"request_line": f"{request.method} {request.url.path}", "peer": peer}


def _kept(request: Request) -> bool:
    """Whether the client lets this exchange be remembered (``x-memory-store: off`` says no; Claude Code
    sends it with ``ANTHROPIC_CUSTOM_HEADERS``). Recall still happens."""
    return request.headers.get(STORE_HEADER, "").strip().lower() not in _OFF


def flow_of(request: Request) -> Flow:
    """The flow of the app serving ``request`` (``create_app`` keeps it on ``app.state``)."""
    flow: Flow = request.app.state.flow
    return flow


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"
