"""What the command-line tools share: the ``--config`` option, reading the config without a traceback,
and a uvicorn server that announces itself only once it really serves."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.markup import escape

from proxy.config import Config, ConfigError, load_config

__all__ = ["AnnouncingServer", "ConfigOption", "load_config_or_exit"]

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Config file (default: $MEMORY_PROXY_CONFIG, ./config.yaml)"),
]


def load_config_or_exit(path: Path | None, console: Console) -> Config:
    """The config, or one clear line (key paths and reasons) and exit code 2: never a traceback."""
    try:
        return load_config(path)
    except ConfigError as exc:
        console.print(f"[red]invalid config:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None


class AnnouncingServer(uvicorn.Server):
    """Prints ``banner`` only once the app's startup has succeeded and the port is served, then runs
    ``after_start`` (a check of what the server depends on, say)."""

    def __init__(
        self,
        config: uvicorn.Config,
        banner: str,
        console: Console,
        after_start: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(config)
        self.banner = banner
        self.console = console
        self.after_start = after_start

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.started:
            return
        self.console.print(self.banner)
        if self.after_start is not None:
            await self.after_start()
