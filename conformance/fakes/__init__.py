"""Fakes of the external parties the proxy talks to, for the conformance kit and this project's tests."""

from conformance.fakes.loopback import LoopbackServer
from conformance.fakes.provider import (
    DIRECTIVES,
    REPLY_PREFIX,
    Directive,
    DirectiveError,
    FakeASGIResponse,
    FakeProvider,
    FakeRequest,
    FakeResponse,
    RecordedRequest,
    echo_reply,
    embedding_of,
    fake_directive,
    fake_route,
    request_cookie,
)
from conformance.fakes.recorder import ReceivedRequest, Recorder
from conformance.fakes.respx_router import (
    FakeProviderTransport,
    fake_provider_router,
    fake_provider_transport,
    respx_router_for,
)
from conformance.fakes.supermemory import (
    DEFAULT_SUPERMEMORY_API_KEY,
    DEFAULT_SUPERMEMORY_BASE_URL,
    SUPERMEMORY_ERRORS,
    FakeSupermemory,
    StoredDocument,
    SupermemoryRecord,
    fake_supermemory_router,
    fake_supermemory_transport,
)

__all__ = [
    "DEFAULT_SUPERMEMORY_API_KEY",
    "DEFAULT_SUPERMEMORY_BASE_URL",
    "DIRECTIVES",
    "REPLY_PREFIX",
    "SUPERMEMORY_ERRORS",
    "Directive",
    "DirectiveError",
    "FakeASGIResponse",
    "FakeProvider",
    "FakeProviderTransport",
    "FakeRequest",
    "FakeResponse",
    "FakeSupermemory",
    "LoopbackServer",
    "ReceivedRequest",
    "RecordedRequest",
    "Recorder",
    "StoredDocument",
    "SupermemoryRecord",
    "echo_reply",
    "embedding_of",
    "fake_directive",
    "fake_provider_router",
    "fake_provider_transport",
    "fake_route",
    "fake_supermemory_router",
    "fake_supermemory_transport",
    "request_cookie",
    "respx_router_for",
]
