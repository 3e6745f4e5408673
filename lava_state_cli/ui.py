"""``lava-state ui``: serve the read-only web view of a realm until Ctrl-C (Flask is
imported only when it runs; it needs the ``ui`` extra)."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING

from lava_state_cli.errors import CommandFailed
from lava_state_cli.parser import client_options

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator

    from consumer_sdk.client import StateClient
    from lava_state_ui.server import UiServer

_INSTALL_HINT = "pip install 'lava-state[ui]'"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def cmd_ui(args: argparse.Namespace) -> int:
    """``ui [-r R] [--port P] [--host H] [--open]``: serve the view until Ctrl-C or SIGTERM.

    Raises:
        ConfigurationError: no realm given or configured.
        CommandFailed: the ui extra is not installed, or the port cannot be bound.
    """
    import signal
    import threading

    from consumer_sdk.client import StateClient

    client = StateClient(**client_options(args))
    with open_ui(client, host=args.host, port=args.port) as ui:
        print(
            f"# lava-state ui for realm {client.realm!r} at {ui.url}; Ctrl-C stops it", flush=True
        )
        if args.open:
            import webbrowser

            webbrowser.open(ui.url)
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            # Timed waits, as `local up`'s: Ctrl-C delivered to a server thread still stops it.
            stopped = threading.Event()
            while not stopped.wait(1.0):
                pass
        except KeyboardInterrupt:
            print("# stopped", file=sys.stderr)
    return 0


@contextmanager
def open_ui(client: StateClient, *, host: str, port: int) -> Iterator[UiServer]:
    """The view of ``client``'s realm served on ``host:port`` while in the block; a host
    other than the loopback's is warned about on stderr.

    Raises:
        CommandFailed: the ui extra is not installed, or the port cannot be bound.
    """
    import errno

    if host.lower() not in LOOPBACK_HOSTS:
        print(
            f"lava-state: warning: serving the ui on {host}: anyone who can reach it can read "
            "the realm's ids and values (secure values stay masked); it has no authentication",
            file=sys.stderr,
        )
    import importlib

    try:
        # The view imports Flask only when it serves: ask for it now, to say what is missing.
        importlib.import_module("flask")
        from lava_state_ui.server import UiServer
    except ModuleNotFoundError as exc:
        raise CommandFailed(
            f"the ui needs Flask, which is not installed (no module {exc.name!r}): {_INSTALL_HINT}"
        ) from None
    server = UiServer(client, host=host, port=port)
    try:
        server.start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise CommandFailed(f"port {port} is in use: choose another with --port") from None
        raise CommandFailed(f"cannot serve the ui on {host}:{port}: {exc.strerror}") from None
    try:
        yield server
    finally:
        server.stop()


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt
