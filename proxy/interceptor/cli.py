"""``memory-proxy interceptor``: give a project its own port and memory, and run its forwarder there.

A JetBrains IDE sends the same User-Agent from every project, so ``run`` in a project directory starts a
forwarder on that project's stable port; pasting the printed base URL into the IDE's AI Assistant
settings gives the project a memory of its own. The other commands look after the port registry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import httpx
import typer
import uvicorn
from rich.console import Console
from rich.markup import escape

from proxy.cli_support import AnnouncingServer, ConfigOption, load_config_or_exit
from proxy.errors import ProxyError
from proxy.identification import validate_user_id
from proxy.interceptor.app import LISTENS_ON, Interceptor
from proxy.interceptor.port_registry import PortRangeExhausted, PortRegistry, port_in_use, project_id
from proxy.scopes import PROJECT_HEADER

__all__ = [
    "allocate",
    "base_url",
    "check",
    "default_target",
    "interceptor_app",
    "list_command",
    "remove",
    "reset",
    "run",
    "show",
]

interceptor_app = typer.Typer(
    help="Per-project memory for IDEs that can only set a base URL (JetBrains AI Assistant).",
    no_args_is_help=True,
)
# soft_wrap: the base URL must stay on one line, whatever the terminal width, so it can be pasted.
console = Console(highlight=False, soft_wrap=True)

ProjectOption = Annotated[
    Path | None,
    typer.Option("--project", "-p", help="The project directory (default: the current directory)"),
]

_LOOPBACK = LISTENS_ON  # the forwarder has no key of its own: it must never listen beyond this machine


def base_url(port: int) -> str:
    """What to paste into the IDE as the OpenAI-compatible base URL."""
    return f"http://{_LOOPBACK}:{port}/v1"


def default_target(host: str, port: int) -> str:
    """The memory proxy's URL from its listen address (a wildcard address is reached on loopback)."""
    if host in ("0.0.0.0", ""):
        host = _LOOPBACK
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _registry(ctx: typer.Context) -> PortRegistry:
    registry: PortRegistry = ctx.obj
    return registry


def _project_dir(project: Path | None) -> Path:
    directory = (project or Path.cwd()).expanduser().resolve()
    if not directory.is_dir():
        console.print(f"[red]error:[/red] {escape(str(directory))} is not a directory")
        raise typer.Exit(2)
    return directory


@interceptor_app.callback()
def _options(
    ctx: typer.Context,
    registry_file: Annotated[
        Path | None,
        typer.Option(
            "--registry",
            envvar="MEMORY_PROXY_PORT_REGISTRY",
            help="Port registry file (default: $XDG_CONFIG_HOME/litellm-memory-proxy/port_registry.json)",
        ),
    ] = None,
    port_min: Annotated[
        int | None,
        typer.Option(envvar="MEMORY_PROXY_INTERCEPTOR_PORT_MIN", help="Lowest port to allocate (18800)"),
    ] = None,
    port_max: Annotated[
        int | None,
        typer.Option(envvar="MEMORY_PROXY_INTERCEPTOR_PORT_MAX", help="Highest port to allocate (18999)"),
    ] = None,
) -> None:
    try:
        ctx.obj = PortRegistry(port_min, port_max, registry_file)
    except ValueError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None


async def _warn_unless_serving(target: str) -> None:
    """Says so when the memory proxy behind the forwarder does not answer yet."""
    try:
        async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
            await client.get(f"{target}/health")
    except httpx.HTTPError as exc:
        console.print(
            f"[yellow]warning:[/yellow] the memory proxy at {escape(target)} does not answer yet "
            f"({escape(str(exc) or type(exc).__name__)}); requests get 502 until it does "
            "(start it with start-proxies)"
        )


@interceptor_app.command()
def run(
    ctx: typer.Context,
    project: ProjectOption = None,
    target: Annotated[
        str | None,
        typer.Option(help="The memory proxy's base URL (default: memory_proxy.host and port of the config)"),
    ] = None,
    config_file: ConfigOption = None,
    user_id: Annotated[
        str | None, typer.Option("--user-id", help="Use this memory namespace instead of the derived one")
    ] = None,
    prefix: Annotated[str, typer.Option(help="Put this before the derived user_id, e.g. 'pycharm-'")] = "",
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "warning",
) -> None:
    """Forward this project's port to the memory proxy, as this project's memory namespace."""
    registry = _registry(ctx)
    directory = _project_dir(project)
    config = load_config_or_exit(config_file, console)
    if target is None:
        target = default_target(config.memory_proxy.host, config.memory_proxy.port)
    elif not target.startswith(("http://", "https://")):
        raise typer.BadParameter(
            f"expected an http:// or https:// URL, got {target!r}", param_hint="--target"
        )
    try:
        namespace = (
            validate_user_id(user_id, source="--user-id") if user_id else project_id(directory, prefix)
        )
    except (ProxyError, ValueError) as exc:
        console.print(f"[red]error:[/red] {escape(getattr(exc, 'message', str(exc)))}")
        raise typer.Exit(2) from None
    try:
        port = registry.get_or_allocate_port(directory)
    except PortRangeExhausted as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    if port_in_use(port):
        console.print(
            f"[red]error:[/red] port {port} of {escape(str(directory))} is already in use: is its "
            "interceptor running already? ('memory-proxy interceptor check' shows what listens where)"
        )
        raise typer.Exit(1)
    app = Interceptor(
        target,
        namespace,
        project_dir=str(directory),
        custom_header=config.user_id_mappings.custom_header,
        stamp=config.user_id_mappings.custom_header if user_id else PROJECT_HEADER,
        browser_guard=config.memory_proxy.browser_guard,
        allowed_hosts=config.memory_proxy.allowed_hosts,
        allowed_origins=config.memory_proxy.allowed_origins,
    )
    banner = (
        f"interceptor for {escape(str(directory))}\n"
        f"  memory namespace (user_id): {namespace}\n"
        f"  forwarding to: {escape(target)}\n"
        f"  base URL for the IDE: {base_url(port)}"
    )
    server = AnnouncingServer(
        uvicorn.Config(app, host=_LOOPBACK, port=port, lifespan="on", log_level=log_level, access_log=False),
        banner,
        console,
        after_start=lambda: _warn_unless_serving(target),
    )
    server.run()


def _describe(directory: Path | str, port: int) -> str:
    return (
        f"{escape(str(directory))}: port {port}, project {project_id(directory)}, base URL {base_url(port)}"
    )


def _projects_by_port(ctx: typer.Context) -> list[tuple[str, int]]:
    """The registry's projects, by port; says so when there are none."""
    registry = _registry(ctx)
    mappings = registry.list_mappings()
    if not mappings:
        console.print(f"no projects in {escape(str(registry.registry_file))}")
    return sorted(mappings.items(), key=lambda item: item[1])


@interceptor_app.command("list")
def list_command(ctx: typer.Context) -> None:
    """List every project with its port and (derived) user_id."""
    # One line per project, never a table: a long path must stay whole to be copied or grepped.
    for path, port in _projects_by_port(ctx):
        console.print(f"{port}  {project_id(path)}  {escape(path)}")


@interceptor_app.command()
def show(ctx: typer.Context, project: ProjectOption = None) -> None:
    """Show the project's port (exit 1 when it has none yet)."""
    directory = _project_dir(project)
    port = _registry(ctx).get_port(directory)
    if port is None:
        console.print(
            f"{escape(str(directory))} has no port yet: 'memory-proxy interceptor run' (or allocate) "
            "in it assigns one"
        )
        raise typer.Exit(1)
    console.print(_describe(directory, port))


@interceptor_app.command()
def allocate(ctx: typer.Context, project: ProjectOption = None) -> None:
    """Give the project a port (or show the one it has) without starting anything."""
    directory = _project_dir(project)
    try:
        port = _registry(ctx).get_or_allocate_port(directory)
    except PortRangeExhausted as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    console.print(_describe(directory, port))


@interceptor_app.command()
def remove(ctx: typer.Context, project: ProjectOption = None) -> None:
    """Forget the project's port (its memories stay; see 'memory-proxy memories')."""
    # Not resolved through _project_dir: a project whose directory is gone can still be removed.
    directory = (project or Path.cwd()).expanduser().resolve()
    registry = _registry(ctx)
    port = registry.get_port(directory)
    if port is None or not registry.remove_mapping(directory):
        console.print(f"{escape(str(directory))} has no port")
        raise typer.Exit(1)
    console.print(f"removed {escape(str(directory))} (port {port})")


def _port_status(port: int, path: str) -> str:
    if not port_in_use(port):
        return "free"
    try:
        health = httpx.get(f"http://{_LOOPBACK}:{port}/health", timeout=1.0, trust_env=False).json()
    except (httpx.HTTPError, ValueError):
        health = None
    if isinstance(health, dict) and health.get("project_dir") == path:
        return f"interceptor running (project {escape(str(health.get('project')))})"
    if isinstance(health, dict) and "project" in health:
        return f"in use by the interceptor of {escape(str(health.get('project_dir')))}"
    return "in use by another program"


@interceptor_app.command()
def check(ctx: typer.Context) -> None:
    """Show, for every project, whether its port is free, served by its interceptor, or taken."""
    for path, port in _projects_by_port(ctx):
        console.print(f"{port}  {escape(path)}: {_port_status(port, path)}")


@interceptor_app.command()
def reset(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask first")] = False,
) -> None:
    """Forget every project's port."""
    registry = _registry(ctx)
    if not yes:
        typer.confirm(f"Forget every project's port in {registry.registry_file}?", abort=True)
    count = registry.reset()
    console.print(f"removed {count} project{'' if count == 1 else 's'}")
