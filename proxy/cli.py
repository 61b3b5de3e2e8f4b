"""``memory-proxy``: inspect what the proxy would do without running it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from starlette.datastructures import Headers

from proxy import __version__
from proxy.config import Config, ConfigError, load_config
from proxy.errors import ProxyError
from proxy.routing import MemoryRouter

__all__ = ["app", "load_config_or_exit", "main"]

app = typer.Typer(help="litellm-memory-proxy: tools for the memory proxy.", no_args_is_help=True)
console = Console(highlight=False)
ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="Config file")]


def load_config_or_exit(path: Path | None, console: Console) -> Config:
    """The config, or one clear line (key paths and reasons) and exit code 2: never a traceback."""
    try:
        return load_config(path)
    except ConfigError as exc:
        console.print(f"[red]invalid config:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


@app.command("check-config")
def check_config(config_file: ConfigOption = None) -> None:
    """Validate the config file and summarise it (exit 2 when it is invalid)."""
    config = load_config_or_exit(config_file, console)
    settings = config.memory_proxy
    console.print(f"config: {config.source}")
    console.print(f"models: {', '.join(config.model_names) or '(none)'}")
    console.print(f"backend: {settings.backend} on {settings.host}:{settings.port}")
    console.print(f"proxy key required: {'yes' if settings.auth_key else 'no'}")


@app.command()
def route(
    header: Annotated[
        list[str], typer.Option("--header", "-H", help="NAME: VALUE, as a client would send it")
    ],
    config_file: ConfigOption = None,
) -> None:
    """Show which memory namespace a request with these headers would use."""
    pairs = []
    for item in header:
        name, sep, value = item.partition(":")
        if not sep:
            raise typer.BadParameter(f"expected 'NAME: VALUE', got {item!r}", param_hint="--header")
        pairs.append((name.strip().lower().encode(), value.strip().encode()))
    router = MemoryRouter(load_config_or_exit(config_file, console).user_id_mappings)
    try:
        result = router.route(Headers(raw=pairs))
    except ProxyError as exc:
        console.print(f"[red]rejected:[/red] {exc.message}")
        raise typer.Exit(1) from None
    console.print_json(data=result.as_info())


def main() -> None:
    app()
