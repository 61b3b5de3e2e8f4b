"""The fake provider itself: it records each request, obeys its directive and dispatches it to a surface.

All behaviour lives in :meth:`FakeProvider.respond` (plain data in, plain data out); the ASGI app and the
respx router are thin adapters over it, so a test sees the same provider over a socket or in process.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from starlette.applications import Starlette

from conformance.fakes.http import (
    FakeRequest,
    FakeResponse,
    fake_route,
    install_drop_log_filter,
    request_cookie,
)
from conformance.fakes.provider.answer import answer_to, split, tool_results
from conformance.fakes.provider.directives import Directive, DirectiveError, parse_directive
from conformance.fakes.provider.endpoints import Computed, Fixed, endpoint_path, find_endpoint
from conformance.fakes.provider.errors_catalogue import ERRORS, bad_request, directive_error, invalid_url
from conformance.fakes.provider.surface import Dialect, Events, Surface, id_headers, json_response
from conformance.fakes.recorder import ReceivedRequest, Recorder

__all__ = ["FakeProvider", "RecordedRequest"]

_COOKIE_NAME = "cf_clearance"


@dataclass
class RecordedRequest(ReceivedRequest):
    """What reached the fake provider, plus how the fake answered and how a stream ended."""

    directive: Directive | None = None
    streamed: bool = False
    stream_completed: bool = False
    """The whole stream was handed to the transport."""
    stream_cancelled: bool = False
    """The client went away before the end of the stream."""
    stream_aborted: bool = False
    """The fake dropped the connection on purpose (``cut``)."""

    @property
    def endpoint(self) -> str:
        """The path without ``/v1``, e.g. ``/chat/completions``."""
        return endpoint_path(self.path)

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (undecodable bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")


class FakeProvider(Recorder[RecordedRequest]):
    """A scripted fake LLM provider that records every request it receives (see :class:`Recorder`)."""

    name = "fake provider"

    def __init__(self) -> None:
        super().__init__(RecordedRequest)
        self.cookie_value: str = secrets.token_urlsafe(16)
        self.cookie_issued: bool = False

    # -- state ---------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget all records and the cookie challenge, so one provider can serve many tests."""
        with self._changed:
            self.records.clear()
            self.cookie_issued = False
            self.cookie_value = secrets.token_urlsafe(16)
            self._changed.notify_all()

    def _path_matches(self, record: RecordedRequest, path: str) -> bool:
        return record.endpoint == endpoint_path(path)  # with or without the /v1 prefix

    # -- the one entry point --------------------------------------------------------------------------

    async def respond(self, request: FakeRequest) -> FakeResponse:
        """Record ``request``, then produce the answer its endpoint and directive call for."""
        record = self._record(request)
        response = await self._dispatch(request, record)
        self._answered(record, response.status)
        return response

    async def _dispatch(self, request: FakeRequest, record: RecordedRequest) -> FakeResponse:
        endpoint = find_endpoint(request.method, request.path)
        if endpoint is None:
            return invalid_url(request.method.upper(), request.path)
        handler = endpoint.handler
        if isinstance(handler, Fixed):
            return json_response(200, handler.body, endpoint.dialect)

        payload = record.json
        if not isinstance(payload, dict):
            return bad_request(endpoint.dialect, "We could not parse the JSON body of your request.")
        try:
            directive = parse_directive(record.text)
            record.directive = directive
            return await self._scripted(request, record, payload, endpoint.dialect, handler, directive)
        except DirectiveError as exc:
            return bad_request(endpoint.dialect, f"fake provider: {exc}")

    async def _scripted(
        self,
        request: FakeRequest,
        record: RecordedRequest,
        payload: dict[str, Any],
        dialect: Dialect,
        handler: Surface | Computed,
        directive: Directive | None,
    ) -> FakeResponse:
        """Obey the directives that act before any answer (delay, error, garbage, cookie), then answer."""
        name = directive.name if directive else None
        if directive is not None and directive.name == "slow":
            await asyncio.sleep(directive.number("seconds", 1.0))
        if directive is not None and directive.name in ERRORS:
            return directive_error(directive, dialect, str(payload.get("model", "")))
        if name == "malformed":
            # As a broken provider once did: garbage that echoes the credential it was sent.
            credential = request.headers.get("authorization") or request.headers.get("x-api-key") or ""
            garbage = f'{{"this is not json, nor a stream; you sent {credential}'.encode()
            return FakeResponse(200, [("content-type", "application/json")], garbage)

        extra_headers: list[tuple[str, str]] = []
        if name == "cookie_challenge" and request_cookie(request.headers, _COOKIE_NAME) != self.cookie_value:
            if self.cookie_issued:
                html = b"<html><body>cf challenge: missing cf_clearance</body></html>"
                return FakeResponse(403, [("content-type", "text/html; charset=utf-8")], html)
            self.cookie_issued = True
            extra_headers.append(("set-cookie", f"{_COOKIE_NAME}={self.cookie_value}; Path=/; HttpOnly"))

        if isinstance(handler, Computed):
            response = json_response(200, handler.body(payload), dialect)
        else:
            response = self._answer(handler, dialect, record, payload, directive)
        response.headers.extend(extra_headers)
        return response

    def _answer(
        self,
        surface: Surface,
        dialect: Dialect,
        record: RecordedRequest,
        payload: dict[str, Any],
        directive: Directive | None,
    ) -> FakeResponse:
        """The model's answer rendered by ``surface``: a tool call, a stream, a cut, as asked."""
        calls_tool = (
            directive is not None
            and directive.name == "tool_call"
            and ("rounds" not in directive.params or tool_results(payload) < directive.number("rounds", 0))
        )
        answer = answer_to(payload, surface.user_text(payload), tool_call=calls_tool)
        if calls_tool and directive is not None and "say" in directive.params:
            answer = replace(answer, saying=directive.params["say"].replace("_", " "))
        if calls_tool and directive is not None and "cmd" in directive.params:
            answer = replace(answer, command=directive.params["cmd"].replace("_", " "))
        if calls_tool and directive is not None and "tool" in directive.params:
            arguments = {
                key.removeprefix("arg_"): value.replace("_", " ")
                for key, value in directive.params.items()
                if key.startswith("arg_")
            }
            answer = replace(answer, tool_name=directive.params["tool"], arguments=arguments)
        empty = directive is not None and directive.name == "empty"
        if empty:
            answer = replace(answer, text="")
        if payload.get("stream"):
            pieces = (
                []
                if empty
                else split(
                    answer.tool_arguments if answer.tool_name else answer.text, _piece_count(directive)
                )
            )
            events = surface.stream(answer, payload, pieces)
            return self._stream_response(events, directive, dialect, record)
        response = json_response(200, surface.body(answer, payload), dialect)
        if directive is not None and directive.name == "cut":
            # A dropped connection mid-body: announce the full length, send half, then abort.
            half = response.body[: len(response.body) // 2]
            response.headers.append(("content-length", str(len(response.body))))
            response.stream = self._tracked([half], [0.0], record, aborts=True)
            response.body = b""
            response.abort_after = 1
        return response

    def _stream_response(
        self,
        events: Events,
        directive: Directive | None,
        dialect: Dialect,
        record: RecordedRequest,
    ) -> FakeResponse:
        record.streamed = True
        chunks = events.prelude + events.content + events.epilogue
        delays = [0.0] * len(chunks)
        abort_after: int | None = None
        if directive is not None and directive.name == "cut":
            after = int(directive.number("after", 2))
            chunks = events.prelude + events.content[:after]
            abort_after = len(chunks)
        elif directive is not None and directive.name == "slow_stream":
            delay = directive.number("delay", 0.05)
            first_content = len(events.prelude)
            for index in range(first_content + 1, len(chunks)):
                delays[index] = delay
        headers = [("content-type", "text/event-stream"), ("cache-control", "no-cache")]
        headers += id_headers(dialect)
        stream = self._tracked(chunks, delays, record, aborts=abort_after is not None)
        return FakeResponse(200, headers, stream=stream, abort_after=abort_after)

    async def _tracked(
        self,
        chunks: list[bytes],
        delays: list[float],
        record: RecordedRequest,
        *,
        aborts: bool,
    ) -> AsyncIterator[bytes]:
        """Yield the stream and note on the record whether it ended, was cut, or the client left."""
        try:
            for index, chunk in enumerate(chunks):
                if delays[index]:
                    await asyncio.sleep(delays[index])
                if index == len(chunks) - 1:
                    # Handed over in full: a client that stops reading at [DONE] did not cancel anything.
                    record.stream_aborted = aborts
                    record.stream_completed = not aborts
                yield chunk
            if not chunks:
                record.stream_aborted = aborts
                record.stream_completed = not aborts
        finally:
            if not (record.stream_completed or record.stream_aborted):
                record.stream_cancelled = True
            self._notify()

    # -- the ASGI adapter -----------------------------------------------------------------------------

    @cached_property
    def app(self) -> Starlette:
        """The fake as an ASGI app (built once), to serve with ``LoopbackServer``."""
        install_drop_log_filter()
        return Starlette(routes=[fake_route(self.respond)])


def _piece_count(directive: Directive | None) -> int | None:
    """How many pieces to stream the content in: ``slow_stream``'s ``chunks``, else one per word."""
    if directive is not None and directive.name == "slow_stream":
        return int(directive.number("chunks", 40))
    return None
