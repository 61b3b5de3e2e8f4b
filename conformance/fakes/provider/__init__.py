"""A fake of the LLM provider APIs the proxy talks to: OpenAI chat/responses and Anthropic messages.

End-to-end tests point LiteLLM's ``api_base`` at this fake and then assert on what it recorded, so the
answers must be faithful enough that LiteLLM and the official SDKs parse them, and map its errors, exactly
as they would for the real services.

A test picks a behaviour by writing a directive anywhere in its prompt, e.g.
``"hello [[fake:rate_limit retry_after=7]]"`` (see :func:`fake_directive` and :data:`DIRECTIVES`).

One job per module: ``directives`` (parsing them), ``answer`` (what the model says), ``errors_catalogue``
(the errors it sends on demand), ``surface`` (what every renderer shares), one renderer per API surface
(``openai_chat``, ``openai_responses``, ``anthropic_messages``), the embeddings answer
(``openai_embeddings``), ``endpoints`` (the one endpoint table,
which the respx router reads too) and ``fake`` (:class:`FakeProvider`, which records and dispatches).
The HTTP types and the ASGI adapter are shared with the other fakes, in :mod:`conformance.fakes.http`;
they are re-exported here, as they were defined here before.
"""

from conformance.fakes.http import (
    ConnectionDropped,
    FakeASGIResponse,
    FakeRequest,
    FakeResponse,
    fake_route,
    request_cookie,
)
from conformance.fakes.provider.answer import REPLY_PREFIX, echo_reply
from conformance.fakes.provider.directives import (
    DIRECTIVES,
    Directive,
    DirectiveError,
    fake_directive,
    parse_directive,
)
from conformance.fakes.provider.endpoints import endpoint_path
from conformance.fakes.provider.fake import FakeProvider, RecordedRequest
from conformance.fakes.provider.openai_embeddings import embedding_of

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
    "embedding_of",
    "endpoint_path",
    "fake_directive",
    "fake_route",
    "parse_directive",
    "request_cookie",
]
