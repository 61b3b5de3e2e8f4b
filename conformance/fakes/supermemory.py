"""A fake of the Supermemory API (v3/v4) and of its Memory Router, for the conformance kit.

The proxy recalls through ``/v4/profile`` (or ``/v4/search``) and stores through ``/v3/documents``, scoped
by ``containerTag = user_id``; in Memory Router mode it sends the LLM request to
``/v3/<provider base URL>/…`` with ``x-sm-user-id`` and ``x-supermemory-api-key``. Tests need a Supermemory
that answers those calls with the documented shapes (the kit's resource ``supermemory-v3-v4.json``), keeps
each container's documents apart, fails on demand with the documented error bodies, and records every call
so a test can assert what the proxy sent.

As with :class:`~conformance.fakes.provider.fake.FakeProvider`, all behaviour lives in
:meth:`FakeSupermemory.respond` (a :class:`FakeRequest` in, a :class:`FakeResponse` out); the Starlette
``app`` and :func:`fake_supermemory_router` are thin adapters, so a loopback server and an in-process
respx transport see the same fake.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import re
import secrets
import string
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import httpx
import respx
from starlette.applications import Starlette

from conformance.fakes.http import FakeRequest, FakeResponse, fake_route, request_cookie
from conformance.fakes.recorder import ReceivedRequest, Recorder
from conformance.fakes.respx_router import FakeProviderTransport, respx_router_for

__all__ = [
    "DEFAULT_SUPERMEMORY_API_KEY",
    "DEFAULT_SUPERMEMORY_BASE_URL",
    "SUPERMEMORY_ERRORS",
    "FakeSupermemory",
    "StoredDocument",
    "SupermemoryRecord",
    "fake_supermemory_router",
    "fake_supermemory_transport",
]

DEFAULT_SUPERMEMORY_API_KEY = "sm-test-key"
"""The key the fake accepts unless told otherwise (``Authorization: Bearer`` and the router header)."""

DEFAULT_SUPERMEMORY_BASE_URL = "http://supermemory.test"
"""Where the respx router serves the fake when no base URL is given."""

SUPERMEMORY_ERRORS: Mapping[int, Mapping[str, str]] = {
    401: {"error": "Unauthorized"},
    402: {"error": "Search quota or credits exhausted"},
    429: {"error": "Too many requests"},
    500: {"error": "Internal server error"},
}
"""Status → body, exactly as in the fixture's ``errors``; the statuses ``fail_with`` accepts."""

_RETRY_AFTER = "5"
_COOKIE_NAME = "cf_clearance"
_INVALID = "Invalid request parameters"
_GARBAGE = b'{"results": [{"id": "Mx7k", "memory": <html>upstream error</html>'
_ID_ALPHABET = string.ascii_letters + string.digits
_WORD_RE = re.compile(r"\w+")
# Words too common to say anything about relevance, plus the role labels the proxy writes into every
# stored exchange ("user: …\nassistant: …"), which would otherwise make any exchange match "user".
# fmt: off
_STOPWORDS = frozenset({
    "a", "about", "am", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "did", "do",
    "does", "for", "from", "had", "has", "have", "he", "her", "him", "his", "how", "i", "if", "in", "is",
    "it", "its", "me", "my", "no", "not", "of", "on", "or", "our", "she", "so", "that", "the", "their",
    "them", "then", "there", "they", "this", "to", "up", "us", "was", "we", "were", "what", "when", "where",
    "which", "who", "why", "will", "with", "you", "your", "user", "assistant",
})
# fmt: on
_ROUTER_RE = re.compile(r"^/v3/(https?):/+(.+)$")
_DOCUMENT_RE = re.compile(r"^/v3/(?:documents|memories)/(?P<id>[^/]+)$")
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "trailers"}
    | {"transfer-encoding", "upgrade", "host", "content-length"}
)


class _Invalid(Exception):
    """A request the real API rejects with 400 ``Invalid request parameters``; the message is ``details``."""


@dataclass
class StoredDocument:
    """One document in a container, as the fake keeps it; :meth:`to_json` is how the API shows it."""

    id: str
    content: str
    container_tag: str
    custom_id: str | None
    metadata: dict[str, Any]
    created_at: str
    updated_at: str
    seq: int
    """Write order, newest highest: the tie-breaker for equal similarity (timestamps can be equal)."""

    def to_json(self) -> dict[str, Any]:
        """The document in the API's camelCase, as the list and get endpoints return it."""
        return {
            "id": self.id,
            "content": self.content,
            "containerTag": self.container_tag,
            "containerTags": [self.container_tag],
            "customId": self.custom_id,
            "metadata": self.metadata,
            "status": "done",
            "type": "text",
            "title": None,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }


@dataclass
class SupermemoryRecord(ReceivedRequest):
    """One call that reached the fake Supermemory, as received, and the status it got.

    Memory Router calls also carry the target they were forwarded to and the three Supermemory headers,
    so a test can assert what the proxy added without digging in ``headers``.
    """

    router_target: str | None = None
    """For a Memory Router call: the provider URL it was (or would have been) forwarded to."""
    sm_user_id: str | None = None
    sm_api_key: str | None = None
    sm_conversation_id: str | None = None

    @property
    def is_router(self) -> bool:
        """True for a Memory Router call (``/v3/<provider base URL>/…``)."""
        return self.router_target is not None

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (undecodable bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")


class FakeSupermemory(Recorder[SupermemoryRecord]):
    """A scripted Supermemory: per-``containerTag`` documents, word-overlap search, faults and a router.

    Documents are searchable as soon as they are stored. Relevance is lowercase word overlap between ``q``
    and the content (stopwords and one-letter words ignored): ``similarity = shared words / query words``;
    results need a similarity above 0 (and at least ``threshold`` when given), sorted by similarity then
    most recent write. ``/v4/search`` answers a document whose content starts with ``"user:"`` as a
    ``chunk`` and any other as a ``memory``, so a client that reads only one of them loses results.

    Fault modes are plain attributes a test flips at any time: ``fail_with`` (a status from
    :data:`SUPERMEMORY_ERRORS`; 429 adds ``retry-after: 5``), ``delay`` (seconds before any answer) and
    ``garbage`` (200 with a body that is not JSON). They apply to the memory API; a Memory Router call
    honours ``delay`` and, when ``fail_with`` is set, fails open as the real router does: it forwards
    anyway and says why in ``x-supermemory-error``.

    Stricter than the real API on purpose: every memory call must name a container, since the proxy must
    always scope by user; a call without one is a 400 rather than an organisation-wide answer.

    Thread-safe where tests need it: the app usually runs in a uvicorn thread while the test thread reads
    ``records`` and blocks in :meth:`wait_for`.
    """

    name = "fake supermemory"

    def __init__(
        self,
        api_key: str = DEFAULT_SUPERMEMORY_API_KEY,
        *,
        router_cookie: bool = False,
        router_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``router_transport`` is the seam for forwarding router calls in process (e.g. to a respx fake
        provider); by default they go over the network to the URL in the path.
        """
        super().__init__(SupermemoryRecord)
        self.api_key = api_key
        self.router_cookie = router_cookie
        """Behave like Cloudflare on router calls: set ``cf_clearance`` once, then require it (403 HTML)."""
        self._initial_router_cookie = router_cookie
        self.static_profile: dict[str, list[str]] = {}
        """containerTag → the ``profile.static`` facts ``/v4/profile`` returns (none by default)."""
        self.dynamic_profile_size: int = 3
        """How many of a container's most recent documents ``/v4/profile`` lists in ``profile.dynamic``."""
        self.delay: float = 0.0
        self.garbage: bool = False
        self.cookie_value: str = secrets.token_urlsafe(16)
        self.cookie_issued: bool = False
        self._fail_with: int | None = None
        self._documents: dict[str, StoredDocument] = {}
        self._seq = itertools.count()
        self._router_transport = router_transport
        self._clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}

    # -- state ---------------------------------------------------------------------------------------

    @property
    def fail_with(self) -> int | None:
        """Answer every memory API call with this documented error; None answers normally."""
        return self._fail_with

    @fail_with.setter
    def fail_with(self, status: int | None) -> None:
        if status is not None and status not in SUPERMEMORY_ERRORS:
            raise ValueError(f"fail_with={status!r}: the fake knows {sorted(SUPERMEMORY_ERRORS)} or None")
        self._fail_with = status

    def reset(self) -> None:
        """Forget records, documents, profiles, fault modes and the issued cookie: one fake, many tests.

        ``router_cookie`` goes back to its constructor value.
        """
        with self._changed:
            self.records.clear()
            self._documents.clear()
            self.static_profile.clear()
            self.dynamic_profile_size = 3
            self.delay = 0.0
            self.garbage = False
            self._fail_with = None
            self.router_cookie = self._initial_router_cookie
            self.cookie_issued = False
            self.cookie_value = secrets.token_urlsafe(16)
            self._changed.notify_all()

    def add_document(
        self,
        content: str,
        container_tag: str,
        *,
        custom_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> StoredDocument:
        """Store a document without a request (no record): seeds a test, as the API's ``POST`` would.

        A ``custom_id`` already used in ``container_tag`` replaces that document, keeping its id.
        """
        now = _timestamp()
        with self._changed:
            existing = next(
                (
                    doc
                    for doc in self._documents.values()
                    if custom_id is not None
                    and doc.container_tag == container_tag
                    and doc.custom_id == custom_id
                ),
                None,
            )
            if existing is not None:
                existing.content = content
                existing.metadata = dict(metadata or {})
                existing.updated_at = now
                existing.seq = next(self._seq)
                document = existing
            else:
                document = StoredDocument(
                    id=_new_id(),
                    content=content,
                    container_tag=container_tag,
                    custom_id=custom_id,
                    metadata=dict(metadata or {}),
                    created_at=now,
                    updated_at=now,
                    seq=next(self._seq),
                )
                self._documents[document.id] = document
            self._changed.notify_all()
            return document

    def documents(self, container_tag: str | None = None) -> list[StoredDocument]:
        """The stored documents (of ``container_tag`` if given), oldest write first: the test's backdoor."""
        with self._changed:
            found = [d for d in self._documents.values() if container_tag in (None, d.container_tag)]
        return sorted(found, key=lambda doc: doc.seq)

    def router_records(self) -> list[SupermemoryRecord]:
        """Records of Memory Router calls only."""
        with self._changed:
            return [record for record in self.records if record.is_router]

    async def aclose(self) -> None:
        """Close the router's HTTP client for the running event loop (the app's lifespan calls this)."""
        loop = asyncio.get_running_loop()
        client = self._clients.pop(loop, None)
        # Clients of loops that have ended cannot be closed from here; dropping them is all that is left.
        for other in [other for other in self._clients if other.is_closed()]:
            del self._clients[other]
        if client is not None:
            await client.aclose()

    def _client(self) -> httpx.AsyncClient:
        """The persistent router client of the running loop: connections belong to one event loop."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None or client.is_closed:
            client = httpx.AsyncClient(transport=self._router_transport, timeout=60.0)
            self._clients[loop] = client
        return client

    # -- the one entry point --------------------------------------------------------------------------

    async def respond(self, request: FakeRequest) -> FakeResponse:
        """Record ``request``, then answer it as the memory API or the Memory Router would."""
        record = self._record(request)
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        router = _ROUTER_RE.match(request.path)
        if router is not None:
            response = await self._route(request, record, f"{router.group(1)}://{router.group(2)}")
        else:
            response = self._api(request, record)
        self._answered(record, response.status)
        return response

    def _api(self, request: FakeRequest, record: SupermemoryRecord) -> FakeResponse:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return _error(401)
        if self._fail_with is not None:
            return _error(self._fail_with)
        if self.garbage:
            return FakeResponse(200, [("content-type", "application/json")], _GARBAGE)
        method, path = request.method.upper(), request.path.rstrip("/")
        payload = record.json
        try:
            if method == "GET" and path == "/v4/memories":
                return self._list(_tags_from_query(request.query), request.query.get("limit"))
            if method in ("GET", "DELETE") and (match := _DOCUMENT_RE.match(path)):
                return self._one_document(method, match.group("id"))
            if method == "DELETE" and path == "/v4/memories":
                if not isinstance(payload, dict):
                    raise _Invalid("body: Expected object")
                return self._forget_memory(payload)
            handler = {
                "/v3/documents": self._add,
                "/v3/memories": self._add,
                "/v3/documents/list": self._list_body,
                "/v3/memories/list": self._list_body,
                "/v3/search": self._search_documents,
                "/v4/search": self._search_memories,
                "/v4/profile": self._profile,
            }.get(path)
            if handler is None or method != "POST":
                return _json(404, {"error": "Not found", "details": f"{method} {request.path}"})
            if not isinstance(payload, dict):
                raise _Invalid("body: Expected object, received " + type(payload).__name__)
            return handler(payload)
        except _Invalid as exc:
            return _json(400, {"error": _INVALID, "details": str(exc)})

    # -- the memory API ---------------------------------------------------------------------------------

    def _add(self, payload: dict[str, Any]) -> FakeResponse:
        content = _text(payload, "content")
        tag = _single_tag(payload, "the fake keeps each document in one container")
        custom_id = payload.get("customId")
        if custom_id is not None and not isinstance(custom_id, str):
            raise _Invalid("customId: Expected string")
        metadata = payload.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise _Invalid("metadata: Expected object")
        document = self.add_document(content, tag, custom_id=custom_id, metadata=metadata)
        return _json(200, {"id": document.id, "status": "queued"})

    def _search_memories(self, payload: dict[str, Any]) -> FakeResponse:
        query = _text(payload, "q")
        tag = _single_tag(payload)
        found = self._search([tag], query, _limit(payload.get("limit")), _threshold(payload))
        results = [_memory_item(doc, score, allow_chunk=True) for score, doc in found]
        return _json(200, {"results": results, "timing": 1, "total": len(results)})

    def _profile(self, payload: dict[str, Any]) -> FakeResponse:
        tag = _single_tag(payload)
        recent = sorted(self.documents(tag), key=lambda doc: doc.seq, reverse=True)
        profile = {
            "static": list(self.static_profile.get(tag, [])),
            "dynamic": [doc.content for doc in recent[: self.dynamic_profile_size]],
        }
        body: dict[str, Any] = {"profile": profile}
        if "q" in payload:
            query = _text(payload, "q")
            found = self._search([tag], query, _limit(payload.get("limit")), _threshold(payload))
            results = [_memory_item(doc, score, allow_chunk=False) for score, doc in found]
            body["searchResults"] = {"results": results, "total": len(results), "timing": 1}
        return _json(200, body)

    def _search_documents(self, payload: dict[str, Any]) -> FakeResponse:
        query = _text(payload, "q")
        tags = payload.get("containerTags")
        if not isinstance(tags, list) or not tags or not all(isinstance(t, str) and t for t in tags):
            raise _Invalid("containerTags: Required (a non-empty list of strings)")
        query_words = _words(query)
        results = []
        for score, doc in self._search(tags, query, _limit(payload.get("limit")), None):
            lines = [line for line in doc.content.split("\n") if line.strip()]
            chunks = [
                {"content": line, "score": _similarity(query_words, line), "isRelevant": True, "position": i}
                for i, line in enumerate(lines)
                if _similarity(query_words, line) > 0
            ]
            results.append(
                {
                    "documentId": doc.id,
                    "title": None,
                    "type": "text",
                    "score": score,
                    "metadata": doc.metadata,
                    "createdAt": doc.created_at,
                    "updatedAt": doc.updated_at,
                    "chunks": chunks,
                }
            )
        return _json(200, {"results": results, "timing": 1, "total": len(results)})

    def _list_body(self, payload: dict[str, Any]) -> FakeResponse:
        tags = payload.get("containerTags")
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            tags = [_single_tag(payload)]
        if not tags:
            raise _Invalid("containerTags: Required")
        return self._list(tags, payload.get("limit"))

    def _list(self, tags: list[str], raw_limit: Any) -> FakeResponse:
        limit = _limit(raw_limit, default=100)
        found = [doc for doc in self.documents() if doc.container_tag in tags]
        found.sort(key=lambda doc: doc.seq, reverse=True)
        pagination = {
            "currentPage": 1,
            "limit": limit,
            "totalItems": len(found),
            "totalPages": max(1, math.ceil(len(found) / limit)),
        }
        return _json(200, {"memories": [doc.to_json() for doc in found[:limit]], "pagination": pagination})

    def _forget_memory(self, payload: dict[str, Any]) -> FakeResponse:
        """``DELETE /v4/memories``: one memory of ``containerTag``, named by ``id`` or by its exact
        ``content`` (a profile's static fact too); 404 when that container holds none."""
        tag = _text(payload, "containerTag")
        key = payload.get("id")
        content = payload.get("content")
        if not isinstance(key, str) and not isinstance(content, str):
            raise _Invalid("id or content: Required")
        with self._changed:
            statics = self.static_profile.get(tag, [])
            if isinstance(content, str) and content in statics:
                statics.remove(content)
                return _json(200, {"id": f"static-{len(statics)}", "forgotten": True})
            hits = [
                doc
                for doc in self._documents.values()
                if doc.container_tag == tag and (doc.id == key or doc.content == content)
            ]
            if not hits:
                return _json(404, {"error": "Memory not found"})
            del self._documents[hits[0].id]
            self._changed.notify_all()
        return _json(200, {"id": hits[0].id, "forgotten": True})

    def _one_document(self, method: str, key: str) -> FakeResponse:
        with self._changed:
            hits = [doc for doc in self._documents.values() if key in (doc.id, doc.custom_id)]
            if not hits:
                return _json(404, {"error": "Document not found"})
            if method == "GET":
                return _json(200, hits[0].to_json())
            for doc in hits:
                del self._documents[doc.id]
            self._changed.notify_all()
        return FakeResponse(204, [])

    def _search(
        self, tags: list[str], query: str, limit: int, threshold: float | None
    ) -> list[tuple[float, StoredDocument]]:
        """The best ``limit`` documents of ``tags`` for ``query``: never anything from another container."""
        query_words = _words(query)
        scored = [(_similarity(query_words, doc.content), doc) for doc in self.documents()]
        hits = [
            (score, doc)
            for score, doc in scored
            if doc.container_tag in tags and score > 0 and (threshold is None or score >= threshold)
        ]
        hits.sort(key=lambda hit: (hit[0], hit[1].seq), reverse=True)
        return hits[:limit]

    # -- the Memory Router ------------------------------------------------------------------------------

    async def _route(self, request: FakeRequest, record: SupermemoryRecord, base: str) -> FakeResponse:
        target = base + (f"?{httpx.QueryParams(request.query)}" if request.query else "")
        with self._changed:
            record.router_target = target
            record.sm_user_id = request.headers.get("x-sm-user-id")
            record.sm_api_key = request.headers.get("x-supermemory-api-key")
            record.sm_conversation_id = request.headers.get("x-sm-conversation-id")

        extra: list[tuple[str, str]] = []
        with self._changed:  # two first calls racing must not both get a cookie
            sent = request_cookie(request.headers, _COOKIE_NAME)
            challenged = self.router_cookie and sent != self.cookie_value
            refuse = challenged and self.cookie_issued
            if challenged and not refuse:
                self.cookie_issued = True
                extra.append(("set-cookie", f"{_COOKIE_NAME}={self.cookie_value}; Path=/"))
        if refuse:
            html = b"<html><body>Just a moment... cf challenge: missing cf_clearance</body></html>"
            return FakeResponse(403, [("content-type", "text/html; charset=utf-8")], html)
        if record.sm_api_key != self.api_key:
            response = _error(401)
            response.headers.extend(extra)
            return response

        conversation = record.sm_conversation_id or f"conv_{secrets.token_hex(8)}"
        extra += [
            ("x-supermemory-conversation-id", conversation),
            ("x-supermemory-context-modified", "false"),
        ]
        if self._fail_with is not None:
            extra.append(("x-supermemory-error", SUPERMEMORY_ERRORS[self._fail_with]["error"]))
        headers = [
            (key, value)
            for key, value in request.headers.multi_items()
            if key.lower() not in _HOP_BY_HOP and not key.lower().startswith(("x-supermemory-", "x-sm-"))
        ]
        client = self._client()
        outgoing = client.build_request(request.method, target, headers=headers, content=request.body)
        try:
            upstream = await client.send(outgoing, stream=True)
        except httpx.HTTPError as exc:
            body = {"error": "Bad gateway", "details": f"{type(exc).__name__}: {exc}"}
            response = _json(502, body)
            response.headers.extend(extra)
            return response
        skip = _HOP_BY_HOP | ({"content-encoding"} if upstream.is_stream_consumed else set())
        passed = [(key, value) for key, value in upstream.headers.multi_items() if key.lower() not in skip]
        return FakeResponse(upstream.status_code, passed + extra, stream=_relay(upstream))

    # -- the ASGI adapter -----------------------------------------------------------------------------

    @cached_property
    def app(self) -> Starlette:
        """The fake as an ASGI app (built once), to serve with ``LoopbackServer``.

        Its lifespan closes the router's client when the server stops, in the loop that opened it.
        """

        @asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            try:
                yield
            finally:
                await self.aclose()

        return Starlette(routes=[fake_route(self.respond)], lifespan=lifespan)


# -- the respx router ----------------------------------------------------------------------------------


# route name → (method, path regex after the base URL's path); one route per endpoint family.
_ROUTES: dict[str, tuple[str | None, str]] = {
    "memory_router": (None, r"/v3/https?:/+.+"),
    "add_document": ("POST", r"/v3/(documents|memories)/?"),
    "list_documents": ("POST", r"/v3/(documents|memories)/list/?"),
    "search_documents": ("POST", r"/v3/search/?"),
    "document": (None, r"/v3/(documents|memories)/[^/]+/?"),
    "search_memories": ("POST", r"/v4/search/?"),
    "profile": ("POST", r"/v4/profile/?"),
    "list_memories": ("GET", r"/v4/memories/?"),
}


def fake_supermemory_router(
    sm: FakeSupermemory,
    base_url: str = DEFAULT_SUPERMEMORY_BASE_URL,
    *,
    assert_all_called: bool = False,
) -> respx.Router:
    """A strict respx router serving ``sm`` at ``base_url``.

    Named routes: ``memory_router``, ``add_document``, ``list_documents``, ``search_documents``,
    ``document`` (get/delete by id), ``search_memories``, ``profile``, ``list_memories`` and ``not_found``
    (any other path on that host: the fake's 404). A request to another host fails the test.
    """
    routes = [(name, method, regex) for name, (method, regex) in _ROUTES.items()]
    return respx_router_for(sm.respond, base_url, routes, assert_all_called=assert_all_called)


def fake_supermemory_transport(
    sm: FakeSupermemory,
    base_url: str = DEFAULT_SUPERMEMORY_BASE_URL,
    *,
    assert_all_called: bool = False,
) -> httpx.AsyncBaseTransport:
    """The transport for ``httpx.AsyncClient(transport=..., base_url=base_url)`` talking to ``sm``.

    Strict like the provider's: a request to another host raises, listing the routes.
    """
    return FakeProviderTransport(fake_supermemory_router(sm, base_url, assert_all_called=assert_all_called))


# -- helpers ---------------------------------------------------------------------------------------------


async def _relay(upstream: httpx.Response) -> AsyncIterator[bytes]:
    """The provider's bytes as they arrive, undecoded (content-encoding passes through with them).

    An in-process transport may hand back a response built from bytes, which httpx has already read and
    decoded; that body is relayed as is (its content-encoding header was dropped by the caller).
    """
    try:
        if upstream.is_stream_consumed:
            yield upstream.content
            return
        async for chunk in upstream.aiter_raw():
            yield chunk
    finally:
        await upstream.aclose()


def _json(status: int, body: Any) -> FakeResponse:
    return FakeResponse(status, [("content-type", "application/json")], json.dumps(body).encode())


def _error(status: int) -> FakeResponse:
    response = _json(status, dict(SUPERMEMORY_ERRORS[status]))
    if status == 429:
        response.headers.append(("retry-after", _RETRY_AFTER))
    return response


def _timestamp() -> str:
    """Now as the API writes it: ``2026-11-26T10:00:05.000Z``."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _new_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(22))


def _words(text: str) -> set[str]:
    return {word for word in _WORD_RE.findall(text.lower()) if len(word) > 1 and word not in _STOPWORDS}


def _similarity(query_words: set[str], content: str) -> float:
    if not query_words:
        return 0.0
    return round(len(query_words & _words(content)) / len(query_words), 4)


def _memory_item(doc: StoredDocument, score: float, *, allow_chunk: bool) -> dict[str, Any]:
    kind = "chunk" if allow_chunk and doc.content.startswith("user:") else "memory"
    return {
        "id": doc.id,
        kind: doc.content,
        "similarity": score,
        "metadata": doc.metadata or None,
        "updatedAt": doc.updated_at,
        "version": 1,
    }


def _text(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str):
        raise _Invalid(f"{key}: Required" if value is None else f"{key}: Expected string")
    if not value:
        raise _Invalid(f"{key}: String must contain at least 1 character(s)")
    return value


def _single_tag(payload: dict[str, Any], many: str = "v4 search is single-space") -> str:
    """The one container a v4 call (or a stored document) names, as ``containerTag`` or a one-item list.

    ``many`` is the 400's reason when ``containerTags`` names several.
    """
    if "containerTag" in payload:
        return _text(payload, "containerTag")
    tags = payload.get("containerTags")
    if isinstance(tags, list) and len(tags) > 1:
        raise _Invalid(f"containerTags: {many}; pass exactly one containerTag")
    if isinstance(tags, list) and len(tags) == 1 and isinstance(tags[0], str) and tags[0]:
        return tags[0]
    raise _Invalid("containerTag: Required")


def _tags_from_query(query: Mapping[str, str]) -> list[str]:
    tag = query.get("containerTag") or query.get("containerTags")
    if not tag:
        raise _Invalid("containerTag: Required")
    return [tag]


def _limit(raw: Any, default: int = 10) -> int:
    if raw is None:
        return default
    try:
        limit = int(raw)
    except (TypeError, ValueError):
        raise _Invalid("limit: Expected number") from None
    if isinstance(raw, bool) or limit < 1:
        raise _Invalid("limit: Number must be greater than or equal to 1")
    return limit


def _threshold(payload: dict[str, Any]) -> float | None:
    raw = payload.get("threshold")
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 <= raw <= 1:
        raise _Invalid("threshold: Expected a number between 0 and 1")
    return float(raw)
