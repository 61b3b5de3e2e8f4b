"""A fake of the LLM provider APIs the proxy talks to: OpenAI chat/responses and Anthropic messages.

End-to-end tests point LiteLLM's ``api_base`` at this fake and then assert on what it recorded, so the
answers must be faithful enough that LiteLLM and the official SDKs parse them, and map its errors, exactly
as they would for the real services. All behaviour lives in :meth:`FakeProvider.respond` (plain data in,
plain data out); the Starlette app here and the respx router in ``respx_router.py`` are thin adapters, so
a test sees the same provider whether it runs over a loopback socket or in process.

A test picks a behaviour by writing a directive anywhere in its prompt, e.g.
``"hello [[fake:rate_limit retry_after=7]]"`` (see :func:`fake_directive` and :data:`DIRECTIVES`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from http.cookies import CookieError, SimpleCookie
from typing import Any, Literal

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route
from starlette.types import Send

from conformance.fakes.recorder import ReceivedRequest, Recorder

__all__ = [
    "DIRECTIVES",
    "REPLY_PREFIX",
    "ConnectionDropped",
    "Directive",
    "DirectiveError",
    "FakeASGIResponse",
    "FakeProvider",
    "FakeRequest",
    "FakeResponse",
    "RecordedRequest",
    "echo_reply",
    "endpoint_path",
    "fake_directive",
    "fake_route",
    "parse_directive",
    "request_cookie",
]

REPLY_PREFIX = "echo: "
"""Every normal answer is this prefix followed by the text of the last user message."""

DIRECTIVES: Mapping[str, str] = {
    "rate_limit": "429 with retry-after (param retry_after, default 7)",
    "bad_request": "400 invalid_request_error",
    "context_length": "400 that LiteLLM maps to ContextWindowExceededError",
    "auth": "401 authentication error",
    "permission": "403 permission error",
    "not_found": "404 model not found",
    "server_error": "500 server error",
    "overloaded": "503 with retry-after (529 overloaded_error on /v1/messages); param retry_after",
    "slow": "sleep `seconds` (default 1) before answering normally",
    "malformed": "200 application/json whose body is not JSON",
    "cut": "stream `after` (default 2) content chunks, then drop the connection",
    "slow_stream": "stream `chunks` (default 40) content chunks `delay` (default 0.05) seconds apart",
    "cookie_challenge": "Cloudflare-like cf_clearance cookie: issue once, then 403 html without it",
    "tool_call": "if the request has tools, call the first one with {'echo': <last user text>}; with "
    "`rounds`, only until the conversation holds that many tool results (then answer: a tool loop's end); "
    "with `say` (underscores for spaces), say that before the call (JSON answers)",
}
"""Directive name → what the fake does; the only names :func:`parse_directive` accepts."""

_DIRECTIVE_RE = re.compile(r"\[\[fake:([a-z_]+)((?:\s+[a-z_]+=[^\]\s]+)*)\]\]")
_PARAM_RE = re.compile(r"([a-z_]+)=([^\]\s]+)")
_COOKIE_NAME = "cf_clearance"

Protocol = Literal["openai", "anthropic"]


class DirectiveError(ValueError):
    """A ``[[fake:…]]`` directive the fake does not know, or with a bad parameter: a bug in the test."""


@dataclass(frozen=True)
class Directive:
    """One scripted behaviour parsed from the request text."""

    name: str
    params: Mapping[str, str] = field(default_factory=dict)

    def number(self, key: str, default: float) -> float:
        """A numeric parameter; a malformed value is a test bug, so it raises instead of defaulting."""
        raw = self.params.get(key)
        if raw is None:
            return default
        try:
            return float(raw)
        except ValueError:
            raise DirectiveError(f"[[fake:{self.name}]]: {key}={raw!r} is not a number") from None


def fake_directive(name: str, **params: object) -> str:
    """Format a directive for a prompt, e.g. ``fake_directive("rate_limit", retry_after=3)``."""
    if name not in DIRECTIVES:
        raise DirectiveError(f"unknown fake directive {name!r}; known: {', '.join(DIRECTIVES)}")
    args = "".join(f" {key}={value}" for key, value in params.items())
    return f"[[fake:{name}{args}]]"


def parse_directive(text: str) -> Directive | None:
    """The first directive in ``text``, or None; unknown names raise so a typo cannot pass silently."""
    match = _DIRECTIVE_RE.search(text)
    if match is None:
        return None
    name = match.group(1)
    if name not in DIRECTIVES:
        raise DirectiveError(f"unknown fake directive [[fake:{name}]]; known: {', '.join(DIRECTIVES)}")
    return Directive(name, dict(_PARAM_RE.findall(match.group(2))))


def echo_reply(user_text: str) -> str:
    """The deterministic answer the fake gives to a request whose last user message is ``user_text``."""
    return REPLY_PREFIX + user_text


def endpoint_path(path: str) -> str:
    """``path`` without a leading ``/v1`` and a trailing slash: the fake serves both spellings."""
    path = path.rstrip("/") or "/"
    if path == "/v1":
        return "/"
    if path.startswith("/v1/"):
        return path[3:]
    return path


@dataclass(frozen=True)
class FakeRequest:
    """A transport-neutral HTTP request, built by the ASGI app or the respx router."""

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    body: bytes = b""


@dataclass
class FakeResponse:
    """A transport-neutral HTTP response.

    ``headers`` is a list of pairs so that several ``set-cookie`` headers survive. A streamed answer has
    ``stream``; ``abort_after`` set means the transport must drop the connection once the stream (which
    yields exactly that many chunks) is exhausted, instead of ending the body cleanly.
    """

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None
    abort_after: int | None = None

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (case-insensitive), or None."""
        name = name.lower()
        return next((value for key, value in self.headers if key.lower() == name), None)


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


@dataclass(frozen=True)
class _Answer:
    """What the model 'says': either text or one tool call, with deterministic usage numbers."""

    model: str
    text: str
    user_text: str
    input_tokens: int
    tool_name: str | None = None
    saying: str = ""
    """Text said before a tool call (directive ``tool_call say=...``)."""

    @property
    def tool_arguments(self) -> str:
        return json.dumps({"echo": self.user_text})


@dataclass
class _Events:
    """A stream split where ``cut`` and ``slow_stream`` act: before, during and after the content."""

    prelude: list[bytes]
    content: list[bytes]
    epilogue: list[bytes]


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
        method = request.method.upper()
        path = endpoint_path(request.path)
        protocol: Protocol = "anthropic" if path.startswith("/messages") else "openai"
        kind = {
            ("POST", "/chat/completions"): "chat",
            ("POST", "/responses"): "responses",
            ("POST", "/messages"): "messages",
            ("POST", "/messages/count_tokens"): "count_tokens",
            ("GET", "/models"): "models",
        }.get((method, path))
        if kind is None:
            return _openai_error(404, f"Invalid URL ({method} {request.path})", "invalid_request_error")
        if kind == "models":
            models = [{"id": "fake-model", "object": "model", "created": 0, "owned_by": "fake"}]
            return _json_response(200, {"object": "list", "data": models}, protocol)

        payload = record.json
        if not isinstance(payload, dict):
            return _error(protocol, 400, "bad_request", "We could not parse the JSON body of your request.")
        try:
            directive = parse_directive(record.text)
            record.directive = directive
            return await self._scripted(request, record, payload, protocol, kind, directive)
        except DirectiveError as exc:
            return _error(protocol, 400, "bad_request", f"fake provider: {exc}")

    async def _scripted(
        self,
        request: FakeRequest,
        record: RecordedRequest,
        payload: dict[str, Any],
        protocol: Protocol,
        kind: str,
        directive: Directive | None,
    ) -> FakeResponse:
        name = directive.name if directive else None
        if directive is not None and directive.name == "slow":
            await asyncio.sleep(directive.number("seconds", 1.0))
        if directive is not None and directive.name in _ERRORS:
            return _error(protocol, *_error_for(directive, protocol, str(payload.get("model", ""))))
        if name == "malformed":
            return FakeResponse(200, [("content-type", "application/json")], b'{"this is not json')

        extra_headers: list[tuple[str, str]] = []
        if name == "cookie_challenge" and request_cookie(request.headers, _COOKIE_NAME) != self.cookie_value:
            if self.cookie_issued:
                html = b"<html><body>cf challenge: missing cf_clearance</body></html>"
                return FakeResponse(403, [("content-type", "text/html; charset=utf-8")], html)
            self.cookie_issued = True
            extra_headers.append(("set-cookie", f"{_COOKIE_NAME}={self.cookie_value}; Path=/; HttpOnly"))

        if kind == "count_tokens":
            response = _json_response(200, {"input_tokens": _count_tokens(payload)}, protocol)
            response.headers.extend(extra_headers)
            return response

        calls_tool = name == "tool_call" and (
            directive is None
            or "rounds" not in directive.params
            or _tool_results(payload) < directive.number("rounds", 0)
        )
        answer = _answer(payload, kind, tool_call=calls_tool)
        if calls_tool and directive is not None and "say" in directive.params:
            answer = replace(answer, saying=directive.params["say"].replace("_", " "))
        stream = bool(payload.get("stream"))
        if stream:
            events = _STREAMS[kind](answer, payload, _content_pieces(answer, directive))
            response = self._stream_response(events, directive, protocol, record)
        else:
            response = _json_response(200, _BODIES[kind](answer, payload), protocol)
            if name == "cut":
                # A dropped connection mid-body: announce the full length, send half, then abort.
                half = response.body[: len(response.body) // 2]
                response.headers.append(("content-length", str(len(response.body))))
                response.stream = self._tracked([half], [0.0], record, aborts=True)
                response.body = b""
                response.abort_after = 1
        response.headers.extend(extra_headers)
        return response

    def _stream_response(
        self,
        events: _Events,
        directive: Directive | None,
        protocol: Protocol,
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
        headers += _id_headers(protocol)
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
        _install_log_filter()
        return Starlette(routes=[fake_route(self.respond)])


# -- the ASGI response ---------------------------------------------------------------------------------


class ConnectionDropped(Exception):
    """Raised inside the ASGI app so uvicorn closes the socket mid-response, as a flaky provider would."""


class _DropFilter(logging.Filter):
    """Keeps uvicorn from printing a traceback for every connection the fake drops on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, BaseExceptionGroup):
            return exc.subgroup(ConnectionDropped) is None
        return not isinstance(exc, ConnectionDropped)


def _install_log_filter() -> None:
    target = logging.getLogger("uvicorn.error")
    if not any(isinstance(existing, _DropFilter) for existing in target.filters):
        target.addFilter(_DropFilter())


_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def fake_route(respond: Callable[[FakeRequest], Awaitable[FakeResponse]]) -> Route:
    """A catch-all route handing every request to ``respond`` as a :class:`FakeRequest` and sending back
    its :class:`FakeResponse`: how each fake of the kit is served over ASGI."""

    async def endpoint(request: Request) -> FakeASGIResponse:
        headers = httpx.Headers([(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw])
        fake = FakeRequest(
            method=request.method,
            path=request.scope["path"],
            query=dict(request.query_params),
            headers=headers,
            body=await request.body(),
        )
        return FakeASGIResponse(await respond(fake))

    return Route("/{path:path}", endpoint, methods=_METHODS)


class FakeASGIResponse(StreamingResponse):
    """Sends a :class:`FakeResponse`, closes its stream when the client leaves, and drops on request.

    Starlette's StreamingResponse already cancels the stream when the client disconnects (ASGI spec
    < 2.4, which uvicorn speaks); ``stream_response`` is replaced to send raw header pairs (several
    ``set-cookie`` survive), to always ``aclose`` the stream (so a record learns about the disconnect now,
    and a relayed stream gives its connection back, not at garbage collection), and to raise
    :class:`ConnectionDropped` instead of finishing an aborted body.
    """

    def __init__(self, fake: FakeResponse) -> None:
        self.fake = fake
        self.status_code = fake.status
        self.background = None
        headers = list(fake.headers)
        sized = any(key.lower() == "content-length" for key, _ in headers)
        if fake.stream is None and fake.status != 204 and not sized:
            headers.append(("content-length", str(len(fake.body))))
        self.raw_headers = [
            (key.lower().encode("latin-1"), value.encode("latin-1")) for key, value in headers
        ]

    async def stream_response(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        stream = self.fake.stream
        if stream is None:
            await send({"type": "http.response.body", "body": self.fake.body, "more_body": False})
            return
        try:
            async for chunk in stream:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
        if self.fake.abort_after is not None:
            raise ConnectionDropped("fake provider dropped the connection on purpose")
        await send({"type": "http.response.body", "body": b"", "more_body": False})


# -- errors ----------------------------------------------------------------------------------------------

# kind → (status, OpenAI type, OpenAI code, OpenAI message, Anthropic type, Anthropic message), modelled on
# the real services' answers so LiteLLM's and the SDKs' mapping runs the same code paths.
_ERRORS: dict[str, tuple[int, str, str | None, str, str, str]] = {
    "bad_request": (
        400,
        "invalid_request_error",
        None,
        "Invalid request: the fake provider was asked to reject it.",
        "invalid_request_error",
        "Invalid request: the fake provider was asked to reject it.",
    ),
    "context_length": (
        400,
        "invalid_request_error",
        "context_length_exceeded",
        "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens. "
        "Please reduce the length of the messages.",
        "invalid_request_error",
        "prompt is too long: 210000 tokens > 200000 maximum",
    ),
    "auth": (
        401,
        "invalid_request_error",
        "invalid_api_key",
        "Incorrect API key provided: fake-key. You can find your API key at https://platform.openai.com/account/api-keys.",
        "authentication_error",
        "invalid x-api-key",
    ),
    "permission": (
        403,
        "invalid_request_error",
        "permission_denied",
        "You are not allowed to sample from this model",
        "permission_error",
        "Your API key does not have permission to use the specified resource.",
    ),
    "not_found": (
        404,
        "invalid_request_error",
        "model_not_found",
        "The model `{model}` does not exist or you do not have access to it.",
        "not_found_error",
        "model: {model}",
    ),
    "server_error": (
        500,
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
        "api_error",
        "Internal server error",
    ),
    "rate_limit": (
        429,
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for fake-model in organization org-fake on requests per min (RPM): "
        "Limit 3, Used 3, Requested 1. Please try again in {retry_after}s.",
        "rate_limit_error",
        "Number of request tokens has exceeded your per-minute rate limit.",
    ),
    "overloaded": (
        503,
        "server_error",
        "engine_overloaded",
        "The engine is currently overloaded, please try again later.",
        "overloaded_error",
        "Overloaded",
    ),
}


def _error_for(
    directive: Directive, protocol: Protocol, model: str
) -> tuple[int, str, str, list[tuple[str, str]]]:
    """(status, kind, message, headers) for an error directive, as the protocol's real service sends it."""
    status, _, _, openai_message, _, anthropic_message = _ERRORS[directive.name]
    headers: list[tuple[str, str]] = []
    retry_after = ""
    if directive.name in ("rate_limit", "overloaded"):
        seconds = directive.number("retry_after", 7)
        retry_after = str(int(seconds)) if seconds == int(seconds) else str(seconds)
        headers.append(("retry-after", retry_after))
    if directive.name == "overloaded" and protocol == "anthropic":
        status = 529
    template = anthropic_message if protocol == "anthropic" else openai_message
    message = template.format(model=model or "fake-model", retry_after=retry_after)
    return status, directive.name, message, headers


def _error(
    protocol: Protocol, status: int, kind: str, message: str, headers: list[tuple[str, str]] | None = None
) -> FakeResponse:
    """An error in the protocol's envelope: OpenAI ``{"error": {...}}`` or Anthropic ``{"type": "error"}``."""
    if protocol == "anthropic":
        body: dict[str, Any] = {
            "type": "error",
            "error": {"type": _ERRORS[kind][4], "message": message},
            "request_id": _new_id("req_"),
        }
    else:
        body = {
            "error": {"message": message, "type": _ERRORS[kind][1], "param": None, "code": _ERRORS[kind][2]}
        }
        if kind == "context_length":
            body["error"]["param"] = "messages"
    response = _json_response(status, body, protocol)
    response.headers.extend(headers or [])
    return response


def _openai_error(status: int, message: str, error_type: str) -> FakeResponse:
    body = {"error": {"message": message, "type": error_type, "param": None, "code": None}}
    return _json_response(status, body, "openai")


# -- request parsing -------------------------------------------------------------------------------------


def request_cookie(headers: httpx.Headers, name: str) -> str | None:
    """The value of cookie ``name`` in a request's ``cookie`` headers (None when it is not there)."""
    jar: SimpleCookie = SimpleCookie()
    for raw in headers.get_list("cookie"):
        try:
            jar.load(raw)
        except CookieError:
            continue
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


def _text_of(content: Any) -> str:
    """The text of a message's content: a string, or the text blocks of a list joined by newlines."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            block["text"]
            for block in content
            if isinstance(block, dict)
            and block.get("type") in ("text", "input_text")
            and isinstance(block.get("text"), str)
        ]
        return "\n".join(texts)
    return ""


def _last_user_text(payload: dict[str, Any], kind: str) -> str:
    if kind == "responses":
        items = payload.get("input")
        if isinstance(items, str):
            return items
        if isinstance(items, list):
            for item in reversed(items):
                if isinstance(item, dict) and item.get("role") == "user":
                    return _text_of(item.get("content"))
        instructions = payload.get("instructions")
        return instructions if isinstance(instructions, str) else ""
    messages = payload.get("messages")
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                return _text_of(message.get("content"))
    return ""


_NOT_TEXT_KEYS = frozenset({"role", "type", "id", "name", "tool_call_id", "tool_use_id", "cache_control"})


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    if isinstance(value, dict):
        return [text for key, item in value.items() if key not in _NOT_TEXT_KEYS for text in _strings(item)]
    return []


def _count_tokens(payload: dict[str, Any]) -> int:
    """A deterministic stand-in for a tokenizer: words in the prompt fields."""
    fields = [payload.get(key) for key in ("system", "messages", "input", "instructions")]
    return max(1, sum(len(text.split()) for text in _strings(fields)))


def _tool_results(payload: dict[str, Any]) -> int:
    """How many tool results the conversation holds (OpenAI ``tool`` messages, Anthropic ``tool_result``)."""
    count = 0
    for message in payload.get("messages") or ():
        if not isinstance(message, dict):
            continue
        if message.get("role") == "tool":
            count += 1
        content = message.get("content")
        if isinstance(content, list):
            count += sum(
                1 for part in content if isinstance(part, dict) and part.get("type") == "tool_result"
            )
    return count


def _first_tool_name(payload: dict[str, Any]) -> str | None:
    tools = payload.get("tools")
    if not isinstance(tools, list) or not tools or not isinstance(tools[0], dict):
        return None
    tool = tools[0]
    function = tool.get("function")
    if isinstance(function, dict) and isinstance(function.get("name"), str):
        return function["name"]
    return tool["name"] if isinstance(tool.get("name"), str) else None


def _answer(payload: dict[str, Any], kind: str, *, tool_call: bool) -> _Answer:
    user_text = _last_user_text(payload, kind)
    model = payload.get("model")
    return _Answer(
        model=model if isinstance(model, str) and model else "fake-model",
        text=echo_reply(user_text),
        user_text=user_text,
        input_tokens=_count_tokens(payload),
        tool_name=_first_tool_name(payload) if tool_call else None,
    )


def _split(text: str, count: int | None = None) -> list[str]:
    """Pieces whose concatenation is ``text``: words with their trailing spaces, or ``count`` even slices."""
    if count is not None:
        count = max(1, count)
        size, extra = divmod(len(text), count)
        pieces, start = [], 0
        for index in range(count):
            end = start + size + (1 if index < extra else 0)
            pieces.append(text[start:end])
            start = end
        return pieces
    pieces = re.findall(r"\S+\s*|\s+", text)
    if len(pieces) < 2:
        middle = len(text) // 2
        pieces = [text[:middle], text[middle:]]
    return pieces


def _content_pieces(answer: _Answer, directive: Directive | None) -> list[str]:
    count = None
    if directive is not None and directive.name == "slow_stream":
        count = int(directive.number("chunks", 40))
    return _split(answer.tool_arguments if answer.tool_name else answer.text, count)


# -- response bodies ---------------------------------------------------------------------------------------


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def _id_headers(protocol: Protocol) -> list[tuple[str, str]]:
    if protocol == "anthropic":
        return [("request-id", _new_id("req_"))]
    return [("x-request-id", _new_id("req_")), ("openai-processing-ms", "1")]


def _json_response(status: int, body: Any, protocol: Protocol) -> FakeResponse:
    headers = [("content-type", "application/json"), *_id_headers(protocol)]
    return FakeResponse(status, headers, json.dumps(body).encode())


def _sse(data: Any, event: str | None = None) -> bytes:
    prefix = f"event: {event}\n" if event else ""
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"{prefix}data: {payload}\n\n".encode()


def _chat_body(answer: _Answer, payload: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": answer.text, "refusal": None}
    finish_reason = "stop"
    output_tokens = len(_split(answer.text))
    if answer.tool_name:
        call = {
            "id": _new_id("call_"),
            "type": "function",
            "function": {"name": answer.tool_name, "arguments": answer.tool_arguments},
        }
        message = {
            "role": "assistant",
            "content": answer.saying or None,
            "refusal": None,
            "tool_calls": [call],
        }
        finish_reason = "tool_calls"
    return {
        "id": _new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": answer.model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": answer.input_tokens,
            "completion_tokens": output_tokens,
            "total_tokens": answer.input_tokens + output_tokens,
        },
    }


def _chat_stream(answer: _Answer, payload: dict[str, Any], pieces: list[str]) -> _Events:
    chunk_id, created = _new_id("chatcmpl-"), int(time.time())
    options = payload.get("stream_options")
    include_usage = isinstance(options, dict) and bool(options.get("include_usage"))

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        body: dict[str, Any] = {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": answer.model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }
        if include_usage:
            body["usage"] = None
        return _sse(body)

    if answer.tool_name:
        call = {
            "index": 0,
            "id": _new_id("call_"),
            "type": "function",
            "function": {"name": answer.tool_name, "arguments": ""},
        }
        prelude = [chunk({"role": "assistant", "content": None, "tool_calls": [call]})]
        content = [
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}) for piece in pieces
        ]
        finish_reason = "tool_calls"
    else:
        prelude = [chunk({"role": "assistant", "content": ""})]
        content = [chunk({"content": piece}) for piece in pieces]
        finish_reason = "stop"
    epilogue = [chunk({}, finish_reason)]
    if include_usage:
        usage = {
            "prompt_tokens": answer.input_tokens,
            "completion_tokens": len(pieces),
            "total_tokens": answer.input_tokens + len(pieces),
        }
        epilogue.append(
            _sse(
                {
                    "id": chunk_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": answer.model,
                    "system_fingerprint": None,
                    "choices": [],
                    "usage": usage,
                }
            )
        )
    epilogue.append(_sse("[DONE]"))
    return _Events(prelude, content, epilogue)


def _messages_body(answer: _Answer, payload: dict[str, Any]) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [{"type": "text", "text": answer.text}]
    stop_reason = "end_turn"
    if answer.tool_name:
        use = {
            "type": "tool_use",
            "id": _new_id("toolu_"),
            "name": answer.tool_name,
            "input": {"echo": answer.user_text},
        }
        blocks = [{"type": "text", "text": answer.saying}, use] if answer.saying else [use]
        stop_reason = "tool_use"
    return {
        "id": _new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": answer.model,
        "content": blocks,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": answer.input_tokens, "output_tokens": len(_split(answer.text))},
    }


def _messages_stream(answer: _Answer, payload: dict[str, Any], pieces: list[str]) -> _Events:
    message = {
        "id": _new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": answer.model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": answer.input_tokens, "output_tokens": 1},
    }
    if answer.tool_name:
        block: dict[str, Any] = {
            "type": "tool_use",
            "id": _new_id("toolu_"),
            "name": answer.tool_name,
            "input": {},
        }
        deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in pieces]
        stop_reason = "tool_use"
    else:
        block = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": piece} for piece in pieces]
        stop_reason = "end_turn"
    prelude = [
        _sse({"type": "message_start", "message": message}, "message_start"),
        _sse({"type": "content_block_start", "index": 0, "content_block": block}, "content_block_start"),
        _sse({"type": "ping"}, "ping"),
    ]
    content = [
        _sse({"type": "content_block_delta", "index": 0, "delta": delta}, "content_block_delta")
        for delta in deltas
    ]
    epilogue = [
        _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        _sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": len(pieces)},
            },
            "message_delta",
        ),
        _sse({"type": "message_stop"}, "message_stop"),
    ]
    return _Events(prelude, content, epilogue)


def _response_object(
    answer: _Answer,
    payload: dict[str, Any],
    response_id: str,
    status: str,
    output: list[dict[str, Any]],
    output_tokens: int | None,
) -> dict[str, Any]:
    usage = None
    if output_tokens is not None:
        usage = {
            "input_tokens": answer.input_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": answer.input_tokens + output_tokens,
        }
    instructions = payload.get("instructions")
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": instructions if isinstance(instructions, str) else None,
        "max_output_tokens": payload.get("max_output_tokens"),
        "model": answer.model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": False,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": payload.get("tools") or [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": {},
    }


def _responses_item(answer: _Answer, item_id: str, status: str, text: str | None) -> dict[str, Any]:
    if answer.tool_name:
        return {
            "type": "function_call",
            "id": item_id,
            "call_id": item_id.replace("fc_", "call_", 1),
            "name": answer.tool_name,
            "arguments": answer.tool_arguments if text is not None else "",
            "status": status,
        }
    content = [] if text is None else [{"type": "output_text", "text": text, "annotations": []}]
    return {"type": "message", "id": item_id, "status": status, "role": "assistant", "content": content}


def _responses_body(answer: _Answer, payload: dict[str, Any]) -> dict[str, Any]:
    item_id = _new_id("fc_" if answer.tool_name else "msg_")
    output = [_responses_item(answer, item_id, "completed", answer.text)]
    return _response_object(answer, payload, _new_id("resp_"), "completed", output, len(_split(answer.text)))


def _responses_stream(answer: _Answer, payload: dict[str, Any], pieces: list[str]) -> _Events:
    response_id = _new_id("resp_")
    item_id = _new_id("fc_" if answer.tool_name else "msg_")
    sequence = iter(range(1_000_000))

    def event(event_type: str, /, **fields: Any) -> bytes:
        return _sse({"type": event_type, "sequence_number": next(sequence), **fields}, event_type)

    def response(status: str, output: list[dict[str, Any]], tokens: int | None) -> dict[str, Any]:
        return _response_object(answer, payload, response_id, status, output, tokens)

    done_item = _responses_item(answer, item_id, "completed", answer.text)
    prelude = [
        event("response.created", response=response("in_progress", [], None)),
        event("response.in_progress", response=response("in_progress", [], None)),
        event(
            "response.output_item.added",
            output_index=0,
            item=_responses_item(answer, item_id, "in_progress", None),
        ),
    ]
    part = {"type": "output_text", "text": "", "annotations": []}
    if answer.tool_name:
        content = [
            event("response.function_call_arguments.delta", item_id=item_id, output_index=0, delta=piece)
            for piece in pieces
        ]
        epilogue = [
            event(
                "response.function_call_arguments.done",
                item_id=item_id,
                output_index=0,
                name=answer.tool_name,
                arguments=answer.tool_arguments,
            )
        ]
    else:
        where = {"item_id": item_id, "output_index": 0, "content_index": 0}
        prelude.append(event("response.content_part.added", **where, part=part))
        content = [event("response.output_text.delta", **where, delta=piece, logprobs=[]) for piece in pieces]
        epilogue = [
            event("response.output_text.done", **where, text=answer.text, logprobs=[]),
            event("response.content_part.done", **where, part={**part, "text": answer.text}),
        ]
    epilogue += [
        event("response.output_item.done", output_index=0, item=done_item),
        event("response.completed", response=response("completed", [done_item], len(pieces))),
    ]
    return _Events(prelude, content, epilogue)


_BODIES: dict[str, Callable[[_Answer, dict[str, Any]], dict[str, Any]]] = {
    "chat": _chat_body,
    "messages": _messages_body,
    "responses": _responses_body,
}
_STREAMS: dict[str, Callable[[_Answer, dict[str, Any], list[str]], _Events]] = {
    "chat": _chat_stream,
    "messages": _messages_stream,
    "responses": _responses_stream,
}
