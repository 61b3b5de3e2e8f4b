"""The interceptor's projects, as the console lists them: directory, port, memory namespace, listening.

The projects come from the interceptor's port registry in its default place
(``$XDG_CONFIG_HOME/litellm-memory-proxy/port_registry.json``); a registry kept elsewhere with
``--registry`` is not seen. A project's namespace is derived from its path
(:func:`~proxy.interceptor.project_id`), but ``interceptor run --prefix`` or ``--user-id`` can change it:
when a known client carries the path's hash, that client is the project's namespace.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from proxy.interceptor import PortRegistry, port_in_use, project_id

__all__ = ["interceptor_projects"]


def interceptor_projects(known_clients: Iterable[str]) -> list[dict[str, Any]]:
    """Every project of the default registry, by port (reading it never creates it)."""
    registry = PortRegistry()
    if not registry.registry_file.exists():
        return []
    clients = list(known_clients)
    projects = []
    for path, port in sorted(registry.list_mappings().items(), key=lambda item: item[1]):
        derived = project_id(path)
        suffix = derived[derived.rindex("-") :]
        named = [client for client in clients if client.endswith(suffix)]
        projects.append(
            {
                "path": path,
                "port": port,
                "user_id": named[0] if len(named) == 1 else derived,
                "listening": port_in_use(port),
            }
        )
    return projects
