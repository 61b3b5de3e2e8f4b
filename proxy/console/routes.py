"""The console's HTTP side: the page at ``/ui``, its static assets, and the JSON it reads and changes.

The page is one static HTML file with plain JavaScript (no build step); everything it shows comes from the
``/ui/api`` routes below, which read the same store and the same recall the proxy uses, and the request
records of :mod:`proxy.activity`. With a proxy key set, the page answers a request that has neither the
key nor a console session with the sign-in page (401), and the API with a 401 in the OpenAI envelope.
Nothing here ever returns the config: the console shows memories, requests and counts, no keys.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable
from importlib import resources
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict
from starlette.requests import Request

from proxy import __version__
from proxy.activity import RequestRecord
from proxy.auth import SESSION_COOKIE, SESSION_SECONDS, ProxyKey
from proxy.console.projects import interceptor_projects
from proxy.console.sign_in_limit import SignInLimit
from proxy.error_responses import ProxyRoute
from proxy.errors import (
    AuthenticationFailed,
    InvalidRequest,
    ProxyError,
    RateLimited,
    ServiceUnavailable,
)
from proxy.flow import Flow, flow_of
from proxy.identification import validate_user_id
from proxy.memory.stores.base import MemoryRecord, MemoryStore, MemoryStoreError
from proxy.memory.transfer import move_memories
from proxy.people import Person
from proxy.redaction import redact
from proxy.requests import json_object, read_body
from proxy.scopes import namespace_kind

__all__ = [
    "CONSOLE_PATH",
    "MoveTo",
    "forget_all",
    "forget_one",
    "install_console",
    "memories",
    "move_one",
    "overview",
    "page",
    "request_detail",
    "requests",
    "search",
    "sign_in",
    "sign_out",
]

CONSOLE_PATH = "/ui"
STATIC = resources.files("proxy.console") / "static"

PAGE_HEADERS = {
    # The page runs only its own script and style, and cannot be framed by another site.
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}

T = TypeVar("T")

LISTING_TIMEOUT = 5.0
"""The overview waits this long for the store's list of clients, then shows the rest without it."""

MemoryLimit = Annotated[int, Query(ge=1, le=1000)]


@functools.cache
def _static_text(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


def _page(name: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(_static_text(name), status_code, headers=PAGE_HEADERS)


async def page(request: Request) -> HTMLResponse:
    """The console, or the sign-in page (401) when the proxy key is set and was not entered."""
    if await flow_of(request).key.admits_console(request):
        return _page("index.html")
    return _page("signin.html", 401)


SIGN_IN_MAX_BYTES = 8192


async def _entered_key(request: Request, client_timeout: float) -> tuple[str, bool]:
    """The key the sign-in form sent, and whether it came as a plain form post (no JavaScript) rather than
    the page's JSON. Read as the API reads a body: bounded in size and time, strict JSON."""
    raw = await read_body(request, max_bytes=SIGN_IN_MAX_BYTES, max_seconds=client_timeout)
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return parse_qs(raw.decode("utf-8", "replace")).get("key", [""])[0], True
    key = json_object(raw).get("key")
    if not isinstance(key, str):
        raise InvalidRequest('Sign in with a JSON body {"key": "..."} or the sign-in form.', param="key")
    return key, False


async def sign_in(request: Request) -> Response:
    """The key, entered once: a session cookie for the console (never the key itself). The page posts
    JSON (204, or 401 in the envelope); without JavaScript the form posts itself (303 to the console, or
    the sign-in page again with 401)."""
    flow = flow_of(request)
    key = flow.key
    limit: SignInLimit = request.app.state.sign_in_limit
    address = request.client.host if request.client else "unknown"
    entered, from_form = await _entered_key(request, flow.client_timeout)
    # Checked after the body has arrived, with nothing awaited before the failure is counted: guesses held
    # back on many connections and released together are each counted before the next is checked.
    wait = limit.retry_after(address)
    if wait is not None:
        raise RateLimited(
            f"Too many wrong keys from {address}: try again in {wait} s.", retry_after=str(wait)
        )
    person = key.owner_of(entered)
    if person is None:
        limit.failed(address)
        if from_form:
            return _page("signin.html", 401)
        raise AuthenticationFailed("That is not the proxy key (memory_proxy.auth_key).")
    response = RedirectResponse(CONSOLE_PATH, 303) if from_form else Response(status_code=204)
    if key.required:
        response.set_cookie(
            SESSION_COOKIE,
            key.new_session(person),
            max_age=SESSION_SECONDS,
            path=CONSOLE_PATH,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
    return response


async def sign_out(request: Request) -> Response:
    """End the session for every worker (not only in this browser), and remove its cookie."""
    session = request.cookies.get(SESSION_COOKIE)
    if session is not None:
        await flow_of(request).key.end_session(session)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path=CONSOLE_PATH, httponly=True, samesite="strict")
    return response


def _person(request: Request) -> Person:
    """Whose key or session the console request came with (its routes' dependency found it)."""
    person: Person = request.state.person
    return person


def _user(request: Request, user_id: str, *, source: str = "user_id") -> str:
    """``user_id``, when it names a namespace the signed-in person may see; another person's is answered
    as one that does not exist, so that a person's console cannot tell who else has memories."""
    validate_user_id(user_id, source=source)
    if not _person(request).sees(user_id):
        raise InvalidRequest(f"There is no namespace {user_id!r}.", status=404, code="namespace_not_found")
    return user_id


def _memory(flow: Flow) -> MemoryStore:
    """The store, when memory is on (a 409 saying so when it is off)."""
    if not flow.memory.settings.enabled:
        raise InvalidRequest(
            "The console cannot show memories: memory is disabled (context_retrieval.enabled: false).",
            status=409,
            code="memory_disabled",
        )
    return flow.memory.store


async def _store_call(work: Awaitable[T]) -> T:
    """A store operation; a store that fails is a 503 naming why (credentials masked), not a 500."""
    try:
        return await work
    except MemoryStoreError as exc:
        raise ServiceUnavailable(f"The memory store failed: {redact(str(exc))}") from exc
    except ProxyError:
        raise
    except Exception as exc:
        raise ServiceUnavailable(f"The memory store failed: {type(exc).__name__}") from exc


def _memory_json(record: MemoryRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "content": record.content,
        "created_at": record.created_at,
        "metadata": record.metadata,
    }


async def overview(request: Request) -> dict[str, Any]:
    """Everything the console's first screen shows: the proxy, its memory, clients and projects."""
    flow = flow_of(request)
    person = _person(request)
    everyone_seen = await flow.activity.last_seen()
    seen = {namespace: at for namespace, at in everyone_seen.items() if person.sees(namespace)}
    try:
        listed = await asyncio.wait_for(flow.memory.clients(), LISTING_TIMEOUT)
    except TimeoutError:
        listed, listing_problem = None, f"the store did not list its clients within {LISTING_TIMEOUT:g} s"
    except Exception as exc:
        listed, listing_problem = None, f"the store could not list its clients: {redact(str(exc))}"
    else:
        listing_problem = None if listed is not None else "this store cannot list its clients"
    clients: dict[str, dict[str, Any]] = {}
    for client in listed or ():
        if not person.sees(client.user_id):
            continue
        clients[client.user_id] = {
            "user_id": client.user_id,
            "kind": namespace_kind(client.user_id),
            "memories": client.memories,
            "newest_memory_at": client.newest,
            "last_request_at": None,
        }
    # A client seen but not listed has no memories (yet, or any more); unknown only if the store cannot list.
    unlisted = 0 if listed is not None else None
    for user_id, at in seen.items():
        entry = clients.setdefault(
            user_id,
            {
                "user_id": user_id,
                "kind": namespace_kind(user_id),
                "memories": unlisted,
                "newest_memory_at": None,
                "last_request_at": None,
            },
        )
        entry["last_request_at"] = at
    try:
        projects, projects_problem = await asyncio.to_thread(interceptor_projects, sorted(clients)), None
    except (OSError, ValueError, AttributeError) as exc:
        projects, projects_problem = [], f"the interceptor's project registry could not be read: {exc}"
    return {
        "version": __version__,
        "backend": flow.backend.name,
        "key_required": flow.key.required,
        "signed_in_as": {"person": person.name, "admin": person.admin} if flow.key.for_people else None,
        "memory": flow.memory.status(),
        "clients": sorted(clients.values(), key=_last_activity, reverse=True),
        "clients_problem": listing_problem,
        "projects": projects,
        "projects_problem": projects_problem,
    }


def _last_activity(client: dict[str, Any]) -> float:
    return max(client["newest_memory_at"] or 0.0, client["last_request_at"] or 0.0)


async def memories(request: Request, user_id: str, limit: MemoryLimit = 200) -> dict[str, Any]:
    """A client's memories, newest first."""
    store = _memory(flow_of(request))
    records = await _store_call(store.list(_user(request, user_id), limit=limit))
    return {"user_id": user_id, "memories": [_memory_json(record) for record in records]}


async def search(
    request: Request,
    user_id: str,
    q: Annotated[str, Query(min_length=1, max_length=4000)],
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    """The client's memories as the proxy's recall finds them for ``q``: ranked, with the signal (words or
    meaning) that found each and its score."""
    flow = flow_of(request)
    store = _memory(flow)
    records = await _store_call(store.search(_user(request, user_id), q, limit=limit))
    return {
        "user_id": user_id,
        "query": q,
        "recall_mode": store.recall_mode,
        "results": [
            {**_memory_json(record), "rank": rank, "signal": record.signal, "score": record.score}
            for rank, record in enumerate(records, start=1)
        ],
    }


async def forget_one(request: Request, user_id: str, memory_id: str) -> dict[str, Any]:
    store = _memory(flow_of(request))
    forgotten = await _store_call(store.forget(_user(request, user_id), memory_id))
    if not forgotten:
        shown = memory_id if len(memory_id) <= 80 else f"{memory_id[:80]}…"
        raise InvalidRequest(f"{user_id} has no memory {shown!r}.", status=404, code="memory_not_found")
    return {"forgotten": forgotten}


class MoveTo(BaseModel):
    """Where a memory goes: another namespace (``person:<name>``, a project's id, a client's)."""

    model_config = ConfigDict(extra="forbid")

    to: str


async def move_one(request: Request, user_id: str, memory_id: str, body: MoveTo) -> dict[str, Any]:
    """Move one memory to another namespace (a project fact filed as the person's, or the reverse)."""
    store = _memory(flow_of(request))
    source, target = _user(request, user_id), _user(request, body.to, source="to")
    if target == source:
        raise InvalidRequest(f"The memory is already in {source}.", param="to")
    moved = await _store_call(move_memories(store, source, target, {memory_id}))
    if not moved:
        shown = memory_id if len(memory_id) <= 80 else f"{memory_id[:80]}…"
        raise InvalidRequest(f"{user_id} has no memory {shown!r}.", status=404, code="memory_not_found")
    return {"moved": moved, "to": target}


async def forget_all(request: Request, user_id: str) -> dict[str, Any]:
    store = _memory(flow_of(request))
    return {"forgotten": await _store_call(store.forget(_user(request, user_id)))}


async def requests(request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> dict[str, Any]:
    """The newest requests this process answered, newest first (what memory did, how long it took): a
    person's own, or everyone's for an admin."""
    person = _person(request)
    recent = await flow_of(request).activity.recent()
    return {"requests": [record.summary() for record in recent if _sees_record(person, record)][:limit]}


def _sees_record(person: Person, record: RequestRecord) -> bool:
    return person.admin or record.person == person.name


async def request_detail(request: Request, request_id: int) -> dict[str, Any]:
    """One request, with the memory blocks the provider saw."""
    record = await flow_of(request).activity.get(request_id)
    if record is None or not _sees_record(_person(request), record):
        raise InvalidRequest(
            f"No request {request_id} is kept (the console keeps the newest few hundred).",
            status=404,
            code="request_not_found",
        )
    return record.detail()


def install_console(app: FastAPI, key: ProxyKey) -> None:
    """The console's routes on ``app``: its page and sign-in open to all, its API behind the key. Like every
    route, they answer only at this machine's own names while there is no key, and never a page of another
    site (:mod:`proxy.browser_guard`)."""
    app.state.sign_in_limit = SignInLimit()  # each worker of a --workers proxy counts what it sees
    pages = APIRouter(route_class=ProxyRoute)
    pages.add_api_route(CONSOLE_PATH, page, methods=["GET"], response_class=HTMLResponse)
    pages.add_api_route(f"{CONSOLE_PATH}/signin", sign_in, methods=["POST"])
    pages.add_api_route(f"{CONSOLE_PATH}/signout", sign_out, methods=["POST"], status_code=204)
    api = APIRouter(
        prefix=f"{CONSOLE_PATH}/api",
        dependencies=[Depends(key.check_console)],
        route_class=ProxyRoute,
    )
    api.add_api_route("/overview", overview, methods=["GET"])
    api.add_api_route("/clients/{user_id}/memories", memories, methods=["GET"])
    api.add_api_route("/clients/{user_id}/memories", forget_all, methods=["DELETE"])
    api.add_api_route("/clients/{user_id}/memories/{memory_id}", forget_one, methods=["DELETE"])
    api.add_api_route("/clients/{user_id}/memories/{memory_id}/move", move_one, methods=["POST"])
    api.add_api_route("/clients/{user_id}/search", search, methods=["GET"])
    api.add_api_route("/requests", requests, methods=["GET"])
    api.add_api_route("/requests/{request_id}", request_detail, methods=["GET"])
    app.include_router(pages)
    app.include_router(api)
    app.mount(f"{CONSOLE_PATH}/static", StaticFiles(packages=[("proxy.console", "static")]), name="console")
