"""Fakes of the external parties the proxy talks to, for the conformance kit and this project's tests."""

from conformance.fakes.loopback import LoopbackServer
from conformance.fakes.provider import (
    DIRECTIVES,
    REPLY_PREFIX,
    Directive,
    DirectiveError,
    FakeProvider,
    FakeRequest,
    FakeResponse,
    RecordedRequest,
    echo_reply,
    fake_directive,
)
from conformance.fakes.respx_router import (
    FakeProviderTransport,
    fake_provider_router,
    fake_provider_transport,
)

__all__ = [
    "DIRECTIVES",
    "REPLY_PREFIX",
    "Directive",
    "DirectiveError",
    "FakeProvider",
    "FakeProviderTransport",
    "FakeRequest",
    "FakeResponse",
    "LoopbackServer",
    "RecordedRequest",
    "echo_reply",
    "fake_directive",
    "fake_provider_router",
    "fake_provider_transport",
]
