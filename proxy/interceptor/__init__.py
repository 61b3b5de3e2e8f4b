"""Per-project memory for IDEs that can set only a base URL (JetBrains' AI Assistant).

Each project directory gets its own stable loopback port (:class:`PortRegistry`) and a forwarder on it
(:class:`Interceptor`) that stamps the project's memory namespace (:func:`project_id`) on every request
before it reaches the memory proxy. ``memory-proxy interceptor run`` ties the two together.
"""

from proxy.interceptor.app import DEFAULT_CUSTOM_HEADER, HOP_BY_HOP_HEADERS, Interceptor
from proxy.interceptor.port_registry import (
    DEFAULT_PORT_MAX,
    DEFAULT_PORT_MIN,
    PortRangeExhausted,
    PortRegistry,
    default_registry_file,
    port_in_use,
    project_id,
)

__all__ = [
    "DEFAULT_CUSTOM_HEADER",
    "DEFAULT_PORT_MAX",
    "DEFAULT_PORT_MIN",
    "HOP_BY_HOP_HEADERS",
    "Interceptor",
    "PortRangeExhausted",
    "PortRegistry",
    "default_registry_file",
    "port_in_use",
    "project_id",
]
