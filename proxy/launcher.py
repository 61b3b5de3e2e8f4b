"""``start-proxies``: run the memory proxy from one config file, or a demo when there is none.

It checks the config and the port before anything starts, so a mistake is one clear line rather than a
stack trace, and prints the URL and a ready-to-paste curl once the proxy is actually serving.
"""

from __future__ import annotations

import errno
import json
import shlex
import socket
import sys
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.markup import escape

from proxy.cli import load_config_or_exit
from proxy.config import Config

__all__ = ["curl_example", "main", "port_problem"]

# soft_wrap: the curl line must stay one line, whatever the terminal width, so it can be pasted.
console = Console(stderr=True, highlight=False, soft_wrap=True)


def port_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on, or None if it can (port 0 always can)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As uvicorn binds: a port whose last connection is still in TIME_WAIT is free to listen on.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"port {port} on {host} is already in use (choose another with --port)"
            return f"cannot listen on {host}:{port}: {exc.strerror}"
    return None


def curl_example(config: Config, base_url: str) -> str:
    model = config.model_names[0] if config.model_names else "MODEL"
    body = json.dumps(
        {"model": model, "messages": [{"role": "user", "content": "Hello! What do you remember?"}]}
    )
    parts = ["curl", "-sS", f"{base_url}/v1/chat/completions", "-H", "content-type: application/json"]
    if config.memory_proxy.auth_key:
        parts += ["-H", "authorization: Bearer $MEMORY_PROXY_KEY"]
    return " ".join(shlex.quote(p) if not p.startswith("authorization") else f'"{p}"' for p in parts) + (
        f" -d {shlex.quote(body)}"
    )


class _AnnouncingServer(uvicorn.Server):
    """Prints where to point clients only once the app's startup (the backend's) has succeeded."""

    def __init__(self, config: uvicorn.Config, banner: str) -> None:
        super().__init__(config)
        self.banner = banner

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            console.print(self.banner)


def run(
    config_file: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Config file (default: $MEMORY_PROXY_CONFIG, ./config.yaml)"),
    ] = None,
    backend: Annotated[str, typer.Option(help="Backend: sdk (LiteLLM in-process)")] = "",
    host: Annotated[str, typer.Option(help="Address to listen on")] = "",
    port: Annotated[int | None, typer.Option(help="Port for the memory proxy (default 8764)")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Start the memory proxy (and, for the binary backend, the LiteLLM proxy behind it)."""
    config = load_config_or_exit(config_file, console)
    settings = config.memory_proxy
    chosen = backend or settings.backend
    if chosen != "sdk":
        console.print(
            f"[red]error:[/red] backend {chosen!r} is not available in this version; use --backend sdk"
        )
        raise typer.Exit(2)
    host = host or settings.host
    port = settings.port if port is None else port
    problem = port_problem(host, port)
    if problem:
        console.print(f"[red]error:[/red] {problem}")
        raise typer.Exit(1)

    from proxy.app import create_app
    from proxy.backends.sdk import SdkBackend

    app = create_app(config, SdkBackend(config))
    base_url = f"http://{host}:{port}"
    demo = config.source == "<built-in demo>"
    banner = "\n".join(
        [
            "",
            f"[bold green]memory proxy ready[/bold green] at {base_url}"
            f"  (backend: sdk, config: {config.source})",
            *(
                ["demo mode: the model 'demo' echoes what it receives; no key, no network needed."]
                if demo
                else []
            ),
            f"models: {', '.join(config.model_names) or '(none configured)'}",
            "try it:",
            f"  {escape(curl_example(config, base_url))}",
            "",
        ]
    )
    server = _AnnouncingServer(
        uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on", access_log=False),
        banner,
    )
    server.run()
    if not server.started:
        raise typer.Exit(1)


def main() -> None:
    typer.run(run)


if __name__ == "__main__":
    sys.exit(main())
