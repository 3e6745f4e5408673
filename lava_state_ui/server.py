"""The web view's server: a Flask app with JSON endpoints and a server-sent event stream,
served by Werkzeug's threaded server on 127.0.0.1.

Read-only by design: GET (and HEAD) only, no endpoint writes, deletes or
reveals; a secure value is never decrypted. Every response carries a strict
Content-Security-Policy (scripts, styles and requests to this origin only, no
inline code), and a request whose Host header is not the server's own is
refused (DNS rebinding: a page of another site resolving its name to
127.0.0.1 must not read the realm).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lava_state.errors import InvalidStateId, LavaStateError
from lava_state_ui.views import shown_item, summary_row, to_json

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from flask import Flask, Response
    from werkzeug.serving import BaseWSGIServer

    from consumer_sdk.client import StateClient
    from lava_state_ui.feed import ChangeFeed

LOG = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
DEFAULT_PORT = 8765
LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: The page's script, styles and requests come from its own origin; nothing inline,
#: no frames, no forms, no plugins.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}
READ_METHODS = ("GET", "HEAD")
_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}
#: Seconds between comments on an idle event stream: a closed page is noticed, and
#: proxies keep the connection.
KEEPALIVE_S = 15.0


def allowed_hosts(host: str, port: int) -> frozenset[str]:
    """The Host header values the server answers: its loopback names and ``host``,
    with the port (lowercase)."""
    names = {f"[{name}]" if ":" in name else name for name in (*LOOPBACK, host.lower())}
    hosts = {f"{name}:{port}" for name in names}
    if port == 80:  # browsers leave the default port out of the Host header
        hosts |= names
    return frozenset(hosts)


def create_app(
    client: StateClient, feed: ChangeFeed, *, hosts: Iterable[str], keepalive: float = KEEPALIVE_S
) -> Flask:
    """The view's WSGI app over ``client``'s realm, live changes from ``feed``.

    ``hosts``: the accepted Host headers (``name:port``; see :func:`allowed_hosts`).
    """
    from flask import Flask, Response, abort, jsonify, request

    app = Flask(__name__, static_folder=None)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    accepted = frozenset(host.lower() for host in hosts)

    @app.before_request
    def guard() -> Response | None:
        if request.host.lower() not in accepted:
            LOG.warning("refused a request for host %r (DNS rebinding?)", request.host)
            return _plain(Response, f"host {request.host!r} is not this server", 421)
        if request.method not in READ_METHODS:
            refused = _plain(Response, "read-only: only GET and HEAD are served", 405)
            refused.headers["Allow"] = ", ".join(READ_METHODS)
            return refused
        return None

    @app.after_request
    def secure(response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        return response

    # The few static files, read once: only these names are served (no path from a request
    # reaches the file system).
    files = {path.name: path.read_bytes() for path in STATIC.iterdir() if path.suffix in _TYPES}

    def static(name: str) -> Response:
        if name not in files:
            abort(404)
        return Response(files[name], mimetype=_TYPES[Path(name).suffix])

    @app.get("/")
    def index() -> Response:
        return static("index.html")

    @app.get("/static/<name>")
    def static_file(name: str) -> Response:
        return static(name)

    @app.get("/api/status")
    def status() -> Response:
        return jsonify(realm=client.realm, read_only=True, **feed.snapshot())

    @app.get("/api/items")
    def items() -> Response:
        from consumer_sdk.listing import list_states

        prefix = request.args.get("prefix", "")
        rows = sorted(
            (summary_row(summary) for summary in list_states(client, prefix or None)),
            key=lambda row: row["state_id"],
        )
        return _json(Response, {"realm": client.realm, "prefix": prefix, "items": rows})

    @app.get("/api/item")
    def item() -> Response:
        state_id = request.args.get("id")
        if state_id is None:
            return _json(Response, {"error": "give the state id: /api/item?id=ID"}, status=400)
        try:
            found = client.get(state_id, decrypt=False)
        except InvalidStateId as exc:
            return _json(Response, {"error": str(exc)}, status=400)
        changes = feed.recent(state_id)
        if found is None:
            body = {"state_id": state_id, "found": False, "changes": changes}
            return _json(Response, body, status=404)
        return _json(Response, {"found": True, **shown_item(found), "changes": changes})

    @app.get("/api/events")
    def events() -> Response:
        stream = _event_stream(feed, keepalive)
        return Response(
            stream,
            mimetype="text/event-stream",
            headers={"X-Accel-Buffering": "no"},
            direct_passthrough=True,
        )

    @app.errorhandler(LavaStateError)
    def failed(exc: LavaStateError) -> Response:
        LOG.warning("a read failed: %s", exc)
        return _json(Response, {"error": str(exc)}, status=502)

    return app


def _event_stream(feed: ChangeFeed, keepalive: float) -> Iterator[bytes]:
    """``status`` once, then a ``change`` event per change; ends with the feed (UTF-8
    bytes: the stream passes through to the server unbuffered)."""
    listener = feed.listen()
    with listener:
        # The browser reconnects this long after the stream ends (server stopped, page behind).
        yield f"retry: 2000\nevent: status\ndata: {to_json(feed.snapshot())}\n\n".encode()
        while True:
            try:
                change = listener.get(keepalive)
            except EOFError:
                return
            if change is None:
                yield b": keep-alive\n\n"
            else:
                yield f"event: change\ndata: {to_json(change)}\n\n".encode()


def _json(response: type[Response], body: Any, *, status: int = 200) -> Response:
    return response(to_json(body), status=status, mimetype="application/json")


def _plain(response: type[Response], text: str, status: int) -> Response:
    return response(text + "\n", status=status, mimetype="text/plain")


class UiServer:
    """The view served on ``host:port`` in a thread, with its change feed.

    >>> with UiServer(StateClient("dev")) as ui:
    ...     print(ui.url)
    """

    def __init__(
        self,
        client: StateClient,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        keepalive: float = KEEPALIVE_S,
    ) -> None:
        from lava_state_ui.feed import ChangeFeed

        self.client = client
        self.host = host
        self._port = port
        self._keepalive = keepalive
        self.feed = ChangeFeed(client)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> UiServer:
        """Listen, start the change feed and serve.

        Raises:
            OSError: the port cannot be bound (``errno.EADDRINUSE``: it is in use).
        """
        import socket

        from werkzeug.serving import make_server

        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # Bound here, not by werkzeug, which prints its own message and exits on a busy port.
        with socket.create_server((self.host, self._port), family=family) as listener:
            port = listener.getsockname()[1]
            app = create_app(
                self.client,
                self.feed,
                hosts=allowed_hosts(self.host, port),
                keepalive=self._keepalive,
            )
            self._server = make_server(
                self.host,
                port,
                app,
                threaded=True,
                request_handler=_quiet_handler(),
                fd=listener.fileno(),
            )
        self._port = port
        self.feed.start()
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="lava-state-ui", daemon=True
        )
        self._thread.start()
        LOG.info("lava-state ui for realm %r at %s", self.client.realm, self.url)
        return self

    @property
    def port(self) -> int:
        """The port served (the one picked, when 0 was asked)."""
        return self._port

    @property
    def url(self) -> str:
        """The page's address."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}/"

    def stop(self) -> None:
        """Close the feed (its subscription and queue; open streams end), then the server."""
        self.feed.close()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> UiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _quiet_handler() -> Any:
    """Werkzeug's request handler without a log line per request (a class made on first
    use: werkzeug is imported only when serving)."""
    from werkzeug.serving import WSGIRequestHandler

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            """The page polls nothing, but each detail click would print a line."""

    return QuietHandler
