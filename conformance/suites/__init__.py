"""Parity suites: ``*Suite`` base classes pytest does not collect; a project subclasses each in one line.

    from conformance.suites import ChatSuite

    class TestChat(ChatSuite):
        pass

Every test uses the ``backend`` fixture (through ``proxy`` or ``make_proxy``), so it runs once per
registered backend; :class:`StoreSuite` is the exception: it holds a memory store to its contract, and its
subclass gives the ``store``. Each test's docstring states its rule in one sentence.
"""

from conformance.suites.chat import ChatSuite
from conformance.suites.credentials import ClientCredentialsSuite
from conformance.suites.embeddings import EmbeddingsSuite
from conformance.suites.errors import ErrorsSuite
from conformance.suites.health import HealthSuite
from conformance.suites.hostile_input import HostileInputSuite
from conformance.suites.mcp import McpSuite
from conformance.suites.memory import MemoryFailureSuite, MemorySuite
from conformance.suites.memory_tool import MemoryToolSuite
from conformance.suites.messages import MessagesSuite
from conformance.suites.models import ModelsSuite
from conformance.suites.responses import ResponsesSuite
from conformance.suites.routing import RoutingSuite
from conformance.suites.store import StoreSuite
from conformance.suites.streaming import StreamingSuite

__all__ = [
    "ChatSuite",
    "ClientCredentialsSuite",
    "EmbeddingsSuite",
    "ErrorsSuite",
    "HealthSuite",
    "HostileInputSuite",
    "McpSuite",
    "MemoryFailureSuite",
    "MemorySuite",
    "MemoryToolSuite",
    "MessagesSuite",
    "ModelsSuite",
    "ResponsesSuite",
    "RoutingSuite",
    "StoreSuite",
    "StreamingSuite",
]
