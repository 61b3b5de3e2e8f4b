"""The interceptor's projects, as the console lists them: directory, port, memory namespace, listening.

The projects come from the interceptor's port registry in its default place
(``$XDG_CONFIG_HOME/litellm-memory-proxy/port_registry.json``); a registry kept elsewhere with
``--registry`` is not seen. A project's namespace is derived from its path
(:func:`~proxy.interceptor.project_id`), but ``interceptor run --prefix`` or ``--user-id`` can change it:
when a known client carries the path's hash, that client is the project's namespace.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterable
from typing import Any

from proxy.interceptor import PortRegistry, project_id

__all__ = ["interceptor_projects", "listening"]


def interceptor_projects(known_clients: Iterable[str]) -> list[dict[str, Any]]:
    """Every project of the default registry, by port. The file is only read: no lock is taken (an
    interceptor starting meanwhile is not held up) and a damaged file is left for the interceptor to
    repair; reading it, or finding none, raises ``OSError`` or ``ValueError``."""
    registry = PortRegistry()
    if not registry.registry_file.exists():
        return []
    mappings = json.loads(registry.registry_file.read_text(encoding="utf-8")).get("mappings") or {}
    clients = list(known_clients)
    projects = []
    for path, port in sorted(mappings.items(), key=lambda item: item[1]):
        if not isinstance(path, str) or not isinstance(port, int):
            continue
        derived = project_id(path)
        suffix = derived[derived.rindex("-") :]
        named = [client for client in clients if client.endswith(suffix)]
        projects.append(
            {
                "path": path,
                "port": port,
                "user_id": named[0] if len(named) == 1 else derived,
                "listening": listening(port),
            }
        )
    return projects


def listening(port: int) -> bool:
    """Whether something accepts connections on the loopback port (a connection, not a bind: binding
    could take the port for a moment from an interceptor that is starting)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0
