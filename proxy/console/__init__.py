"""The memory console at ``/ui``: what the proxy remembers about each client, and what it did lately.

Served by the proxy itself from static files in this package (plain HTML, CSS and JavaScript; no build
step). :mod:`proxy.console.routes` answers the page and the JSON it reads.
"""

from proxy.console.routes import CONSOLE_PATH, install_console

__all__ = ["CONSOLE_PATH", "install_console"]
