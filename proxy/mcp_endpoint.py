"""``/mcp``: the proxy's memory as tools an agent calls on purpose, over the Model Context Protocol.

The proxy recalls and stores on its own; an agent that speaks MCP (Claude Code, Codex, most others) can also
reach for the same memory explicitly: ``remember`` a note, ``recall`` by words and meaning (the ranking
injection uses), ``forget`` one of its own memories, ``list_recent``. One memory, whichever way the agent
reaches for it: a note remembered here is recalled into a later plain request of the same project, and
what a request stored is found here.

Which memory a tool call works in is decided as for a request (:mod:`proxy.scopes`), from the MCP
request's headers (the client's User-Agent, ``x-memory-user-id``, ``x-memory-project``) and, when none of
them names a project, from the client's roots: an agent started in a project directory declares it as its
root (Claude Code does), so its MCP session works in that project. The official ``mcp`` SDK serves the
protocol (streamable HTTP, sessions kept in this process); the proxy key guards it like every API route.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import unquote, urlsplit

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import BaseModel, Field
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from proxy.error_responses import envelope_for, error_response
from proxy.errors import AuthenticationFailed, ProxyError, ServiceUnavailable
from proxy.flow import Flow
from proxy.memory.person_wide import is_person_wide
from proxy.memory.stores.base import MemoryRecord, MemoryStore, MemoryStoreError
from proxy.redaction import redact
from proxy.scopes import PROJECT_HEADER, project_id
from proxy.scopes import Scope as MemoryScope

__all__ = ["MCP_PATH", "McpEndpoint", "RecalledMemory", "RememberedNote"]

logger = logging.getLogger("proxy.mcp")

MCP_PATH = "/mcp"
MAX_NOTE_CHARS = 4000
"""The longest note ``remember`` takes (the longest exchange write-back keeps, by default)."""
SESSION_HEADER = "mcp-session-id"
KEPT_SESSIONS = 4096
"""MCP sessions whose project this process remembers (the least recently used is asked again)."""
ROOTS_TIMEOUT = 2.0
"""How long a tool call waits for the client's roots before it goes on without a project."""

Where = Literal["auto", "project", "person"]
_T = TypeVar("_T")


class RememberedNote(BaseModel):
    """What ``remember`` stored, and where."""

    id: str
    namespace: str
    kind: Literal["project", "person", "client"]


class RecalledMemory(BaseModel):
    """A memory as ``recall`` and ``list_recent`` give it."""

    id: str
    content: str
    created_at: str = Field(description="when it was stored, ISO 8601 UTC")
    namespace: str
    kind: Literal["project", "person", "client"]
    signal: str | None = Field(None, description="what found it: words or meaning (recall only)")
    score: float | None = None


@contextmanager
def _root_logging_kept() -> Iterator[None]:
    """The root logger's handlers and level as they were before: the SDK's server calls
    ``logging.basicConfig`` with a rich handler at INFO when it is made, which under uvicorn (no root
    handler) printed every request httpx and LiteLLM made on the proxy's terminal, URLs included."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


class McpEndpoint:
    """The MCP server over one app's flow: its tools, its sessions, and the ASGI endpoint at ``/mcp``."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        with _root_logging_kept():
            self.server = MCPServer(
                "litellm-memory-proxy",
                instructions=(
                    "Long-term memory shared with every request this proxy answers: recall before answering "
                    "questions about the person or the project, remember what they ask you to keep."
                ),
            )
        self._roots: OrderedDict[str, str | None] = OrderedDict()
        """Each MCP session's project directory (its id → its first root), the newest sessions'."""
        self._register_tools()
        self._sessions: StreamableHTTPSessionManager | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """A session manager for the app's lifetime (its sessions end with it); a new one each time the app
        starts, since one runs only once."""
        # The proxy has its own guard against DNS rebinding (proxy.browser_guard); the SDK's would refuse
        # any host but localhost, including a team proxy's own name.
        self.server.streamable_http_app(
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False)
        )
        sessions = self.server.session_manager
        async with sessions.run():
            self._sessions = sessions
            try:
                yield
            finally:
                self._sessions = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI endpoint: the proxy key checked as on every API route, then the MCP transport."""
        if scope["type"] == "http" and not self.flow.key.presented_by(Request(scope)):
            refused = AuthenticationFailed(
                "Invalid proxy API key: send the proxy's key as a Bearer token in the Authorization header "
                "(claude mcp add --header 'Authorization: Bearer KEY'), or in x-api-key."
            )
            await error_response(refused, envelope_for(MCP_PATH))(scope, receive, send)
            return
        sessions = self._sessions
        if sessions is None:
            stopped = ServiceUnavailable("The MCP endpoint is not running: the proxy is starting or stopping")
            await error_response(stopped, envelope_for(MCP_PATH))(scope, receive, send)
            return
        await sessions.handle_request(scope, receive, send)

    def _register_tools(self) -> None:
        server = self.server

        @server.tool(
            description=(
                "Remember a note for later conversations: a fact about this project, or about the person "
                "(their preferences hold in every project). 'where': project, person, or auto (the rules "
                "the proxy uses for what people say about themselves)."
            )
        )
        async def remember(
            note: Annotated[str, Field(min_length=1, max_length=MAX_NOTE_CHARS)],
            ctx: Context,
            where: Where = "auto",
        ) -> RememberedNote:
            return await self.remember(await self.scope_of(ctx), note, where)

        @server.tool(
            description=(
                "Search memory by words and meaning, ranked as the proxy ranks what it injects: this "
                "project's memories first, then the person's. Returns ids (for forget) and dates."
            )
        )
        async def recall(
            query: Annotated[str, Field(min_length=1, max_length=MAX_NOTE_CHARS)],
            ctx: Context,
            limit: Annotated[int, Field(ge=1, le=50)] = 5,
        ) -> list[RecalledMemory]:
            return await self.recall(await self.scope_of(ctx), query, limit)

        @server.tool(description="Forget one memory by its id (from recall or list_recent): only your own.")
        async def forget(id: Annotated[str, Field(min_length=1, max_length=200)], ctx: Context) -> str:
            return await self.forget(await self.scope_of(ctx), id)

        @server.tool(description="The newest memories of this project and of the person, newest first.")
        async def list_recent(
            ctx: Context, limit: Annotated[int, Field(ge=1, le=100)] = 10
        ) -> list[RecalledMemory]:
            return await self.recent(await self.scope_of(ctx), limit)

    async def scope_of(self, ctx: Context) -> MemoryScope:
        """The memory a tool call works in: as a request with the MCP request's headers would, with the
        client's first root as its project when no header names one."""
        headers = MutableHeaders(headers=ctx.headers or Headers())
        custom = self.flow.identifier.custom_header
        if PROJECT_HEADER not in headers and custom not in headers:
            root = await self._root(ctx)
            if root is not None:  # as its id (a header holds Latin-1 only; a path may hold any name)
                headers[PROJECT_HEADER] = project_id(root)
        person = self.flow.key.person_of(headers)
        if person is None:  # the endpoint let the request in with a key: this cannot happen
            raise ToolError("The proxy key was not sent.")
        try:
            identity = self.flow.identifier.identify(headers)
            return self.flow.scopes.resolve(identity, headers, None, person)
        except ProxyError as exc:
            raise ToolError(exc.message) from None

    async def _root(self, ctx: Context) -> str | None:
        """The path of the client's first ``file://`` root, asked once per MCP session; None when it has
        none, cannot say, or does not answer within :data:`ROOTS_TIMEOUT`."""
        session_id = (ctx.headers or {}).get(SESSION_HEADER)
        if session_id is not None and session_id in self._roots:
            self._roots.move_to_end(session_id)
            return self._roots[session_id]
        session = ctx.session
        capabilities = ctx.client_capabilities
        path = None
        if capabilities is not None and capabilities.roots is not None:
            try:
                with warnings.catch_warnings():  # roots are deprecated by the newest protocol, still used
                    warnings.simplefilter("ignore")
                    async with asyncio.timeout(ROOTS_TIMEOUT):
                        listed = await session.list_roots()
                path = next(
                    (_file_path(str(root.uri)) for root in listed.roots if str(root.uri).startswith("file:")),
                    None,
                )
            except Exception as exc:  # no back channel, a timeout, a client error: no project this time
                logger.debug("MCP client roots unavailable: %s", type(exc).__name__)
                return None  # asked again on the session's next call
        if session_id is not None:
            self._roots[session_id] = path
            while len(self._roots) > KEPT_SESSIONS:
                self._roots.popitem(last=False)
        return path

    async def remember(self, scope: MemoryScope, note: str, where: Where) -> RememberedNote:
        person = scope.person
        if where == "person" and person is None:
            raise ToolError("This session has no project, so its memory is already the only one: use 'auto'.")
        to_person = person is not None and (where == "person" or (where == "auto" and is_person_wide(note)))
        namespace = person if to_person and person is not None else scope.namespace
        metadata: dict[str, Any] = {"source": "mcp", "client": scope.client}
        if scope.project is not None:
            metadata |= {"project": scope.project, "scope": "person" if to_person else "project"}
        store = self._store()
        memory_id = await _store_call(store.add(namespace, note.strip(), metadata=metadata))
        return RememberedNote(id=memory_id, namespace=namespace, kind=_kind(namespace, scope))

    async def recall(self, scope: MemoryScope, query: str, limit: int) -> list[RecalledMemory]:
        self._store()
        records = await _store_call(self.flow.memory.search(scope, query, limit=limit))
        return [_recalled(record, scope) for record in records]

    async def forget(self, scope: MemoryScope, memory_id: str) -> str:
        store = self._store()
        for namespace in _namespaces(scope):
            if await _store_call(store.forget(namespace, memory_id)):
                return f"Forgot {memory_id} ({namespace})."
        raise ToolError(
            f"No memory {memory_id!r} in this session's memory ({', '.join(_namespaces(scope))})."
        )

    async def recent(self, scope: MemoryScope, limit: int) -> list[RecalledMemory]:
        store = self._store()
        listed = [await _store_call(store.list(namespace, limit=limit)) for namespace in _namespaces(scope)]
        newest = sorted((r for records in listed for r in records), key=lambda r: r.created_at, reverse=True)
        return [_recalled(record, scope, ranked=False) for record in newest[:limit]]

    def _store(self) -> MemoryStore:
        memory = self.flow.memory
        if not memory.settings.enabled:
            raise ToolError("Memory is off on this proxy (context_retrieval.enabled: false).")
        return memory.store


async def _store_call(work: Awaitable[_T]) -> _T:
    """A store operation; a store that fails is a tool error naming why (credentials masked)."""
    try:
        return await work
    except MemoryStoreError as exc:
        raise ToolError(f"The memory store failed: {redact(str(exc))}") from None


def _namespaces(scope: MemoryScope) -> list[str]:
    return [scope.namespace] if scope.person is None else [scope.namespace, scope.person]


def _kind(namespace: str, scope: MemoryScope) -> Literal["project", "person", "client"]:
    if namespace == scope.person:
        return "person"
    return "project" if scope.project is not None and namespace == scope.namespace else "client"


def _recalled(record: MemoryRecord, scope: MemoryScope, *, ranked: bool = True) -> RecalledMemory:
    when = datetime.fromtimestamp(record.created_at, UTC).isoformat(timespec="seconds")
    return RecalledMemory(
        id=record.id,
        content=record.content,
        created_at=when,
        namespace=record.user_id,
        kind=_kind(record.user_id, scope),
        signal=record.signal if ranked else None,
        score=record.score if ranked else None,
    )


def _file_path(uri: str) -> str | None:
    """The local path of a ``file://`` URI (``file:///C:/x`` is ``C:/x``), or None."""
    parts = urlsplit(uri)
    if parts.scheme != "file" or not parts.path:
        return None
    path = unquote(parts.path)
    if len(path) > 2 and path[0] == "/" and path[2] == ":":  # /C:/...
        path = path[1:]
    return path
