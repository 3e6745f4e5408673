"""The commands of the embedded local AWS: ``local up``, ``local env`` and ``demo``
(moto is imported only when ``local up`` or ``demo`` runs).

``local up`` records what it printed in a small state file, named by its port in
``$XDG_RUNTIME_DIR/lava-state/`` (else a per-user directory under the temporary
directory), which ``local env`` reads, and removes it when it stops.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lava_state.constants import ENV_LOCAL_DATA_DIR, ENV_REALM
from lava_state_cli.errors import CommandFailed, UsageError

if TYPE_CHECKING:
    import argparse

    from lava_state_local.server import LocalAws

#: The stream processor's (Powertools) logger: one JSON line per routed batch.
PROCESSOR_LOGGER = "lava-state-stream-processor"
DEFAULT_REALM = "dev"
DEFAULT_PORT = 4566
_INSTALL_HINT = "pip install 'lava-state[local]'"
_ANSWER_TIMEOUT_S = 2.0
_SIGNAL_CHECK_S = 0.2
#: The running stack's state file in its data directory.
RUNNING_STATE_FILE = "local-up.json"


def cmd_local(args: argparse.Namespace) -> int:
    """``local up`` or ``local env``."""
    if args.local_command == "env":
        return cmd_local_env(args)
    return cmd_local_up(args)


def cmd_local_up(args: argparse.Namespace) -> int:
    """``local up [-r R] [--port P] [--data-dir DIR] [--parameter K=V] [-v] [--ui ...]``:
    deploy the realm stack into an embedded AWS, print the export lines, serve (and the
    web view with ``--ui``) until Ctrl-C; with a data directory, restored at start and
    kept current while it runs.

    Raises:
        UsageError: an AWS option was given (the stack serves its own endpoint), or a
            malformed ``--parameter``.
        InvalidRealm: the realm cannot name the realm's resources.
        InvalidInput: a stack parameter the template does not have, or refuses.
        CommandFailed: the local (or, with --ui, the ui) extra is not installed, or a port
            is in use.
        DataDirError: the data directory is in use, or holds a corrupt or newer file.
    """
    import errno
    import logging
    import signal
    import threading
    from contextlib import ExitStack

    from lava_state.naming import validate_realm

    _refuse_aws_options(args, "local up")
    realm = validate_realm(args.realm or os.environ.get(ENV_REALM) or DEFAULT_REALM)
    data_dir = data_dir_of(args)
    _require_local_extra("local up")
    from lava_state_cli.deploy import REALM_PARAMETER, parse_parameters
    from lava_state_local.server import local_aws

    parameters = parse_parameters(args.parameter or [], REALM_PARAMETER)

    # SIGTERM (kill, a service manager) stops it as Ctrl-C does, from the first moment
    # (a signal that came during start-up killed it, leaving its state file behind):
    # what was set up is taken down, the state file goes too.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with ExitStack() as stack:
            try:
                # The stream runner and TTL sweeper stand in for Lambda and DynamoDB TTL.
                aws = stack.enter_context(
                    local_aws(
                        realm,
                        port=args.port,
                        stream_runner=True,
                        ttl_sweeper=True,
                        data_dir=data_dir,
                        parameters=parameters,
                    )
                )
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise CommandFailed(
                        f"port {args.port} is in use: choose another with --port"
                    ) from None
                raise CommandFailed(f"cannot listen on port {args.port}: {exc.strerror}") from None
            # Quiet unless asked: the processor's JSON lines would bury the export lines.
            logging.getLogger(PROCESSOR_LOGGER).setLevel(
                logging.INFO if args.verbose else logging.WARNING
            )
            ui = None
            if args.ui:
                # Before the export lines (before any write): its subscription creates the
                # realm topic that the processor then feeds.
                from consumer_sdk.client import StateClient
                from lava_state_cli.ui import open_ui

                client = StateClient(realm, session=aws.session(), endpoint_url=aws.endpoint_url)
                ui = stack.enter_context(open_ui(client, host="127.0.0.1", port=args.ui_port))
            exports = {**aws.env(), ENV_REALM: realm}
            for state_file in _write_state(aws.endpoint_url, realm, exports, data_dir):
                stack.callback(state_file.unlink, missing_ok=True)
            _announce(aws, realm, exports, data_dir, None if ui is None else ui.url)
            # Timed waits: the kernel may hand the signal to another thread, and then
            # only sets a flag that this thread checks when it next runs Python code
            # (an untimed wait never would, and Ctrl-C would be lost).
            never = threading.Event()
            while not never.wait(_SIGNAL_CHECK_S):
                pass
    except KeyboardInterrupt:
        print("# stopped", file=sys.stderr)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


def _announce(
    aws: LocalAws, realm: str, exports: dict[str, str], data_dir: Path | None, ui_url: str | None
) -> None:
    """Print the export lines, then what runs where and how to get the lines again."""
    import shlex

    print(_export_lines(exports), end="")
    print(
        f"# embedded AWS for realm {realm!r} at {aws.endpoint_url}; Ctrl-C stops it",
        flush=True,
    )
    if data_dir is None:
        print(
            f"# data kept in memory only: --data-dir DIR (or ${ENV_LOCAL_DATA_DIR}) keeps "
            "it across restarts",
            flush=True,
        )
    else:
        others = [r for r in aws.restored_realms if r != realm]
        also = f" (also realms {', '.join(others)})" if others else ""
        print(f"# data kept in {data_dir}{also}", flush=True)
    print(
        "# stream processor: changes go to SNS topics lava-state-<realm>-<state_id>; "
        "expired items are deleted within seconds",
        flush=True,
    )
    if ui_url is not None:
        print(f"# web view of realm {realm!r}: {ui_url}", flush=True)
    port = _port_of(aws.endpoint_url)
    again = "lava-state local env" + (
        f" --data-dir {shlex.quote(str(data_dir))}"
        if data_dir is not None
        else ("" if port == DEFAULT_PORT else f" --port {port}")
    )
    print(f'# in another shell: eval "$({again})"', flush=True)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def cmd_local_env(args: argparse.Namespace) -> int:
    """``local env [--port P | --data-dir DIR]``: the export lines of the running ``local up``.

    Raises:
        CommandFailed: none runs (on that port), several run and no port was given,
            or its endpoint does not answer.
    """
    directory = state_dir()
    data_dir = data_dir_of(args) if args.port is None else None
    if data_dir is not None:
        paths = [data_dir / RUNNING_STATE_FILE]
    elif args.port is not None:
        paths = [_state_file(directory, args.port)]
    else:
        paths = sorted(directory.glob("local-*.json"))
    running = [state for path in paths if (state := _running_state(path)) is not None]
    where = (
        f" on port {args.port}"
        if args.port is not None
        else (f" with data directory {data_dir}" if data_dir is not None else "")
    )
    if not running:
        raise CommandFailed(
            f"no `lava-state local up` is running{where}: start one with `lava-state local up`"
        )
    if len(running) > 1:
        ports = ", ".join(str(_port_of(state["endpoint_url"])) for state in running)
        raise CommandFailed(
            f"several `lava-state local up` are running (ports {ports}): choose one with --port"
        )
    (state,) = running
    if not _answers(state["endpoint_url"]):
        raise CommandFailed(
            f"the `lava-state local up` of pid {state['pid']} does not answer at "
            f"{state['endpoint_url']}"
        )
    print(_export_lines(state["env"]), end="")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """``demo``: the seed's scenario on an ephemeral local AWS; 0 when every step passed.

    Raises:
        UsageError: a realm or AWS option was given (the demo has its own).
        CommandFailed: the local extra is not installed.
    """
    _refuse_aws_options(args, "demo", realm=True)
    _require_local_extra("demo")
    from lava_state_local.demo import run_demo

    return run_demo()


def state_dir() -> Path:
    """Where ``local up`` records its state files (one per port)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "lava-state"
    import tempfile

    return Path(tempfile.gettempdir()) / f"lava-state-{os.getuid()}"


def _refuse_aws_options(args: argparse.Namespace, command: str, *, realm: bool = False) -> None:
    given = [
        option
        for option, value in (
            ("--realm", getattr(args, "realm", None) if realm else None),
            ("--endpoint-url", getattr(args, "endpoint_url", None)),
            ("--region", getattr(args, "region", None)),
            ("--profile", getattr(args, "profile", None)),
        )
        if value
    ]
    if given:
        raise UsageError(
            f"{command} serves its own AWS on 127.0.0.1 (region us-east-1, test credentials): "
            f"{', '.join(given)} cannot apply"
        )


def _require_local_extra(command: str) -> None:
    """Import the embedded AWS's server now, to say what is missing if it is not installed.

    Raises:
        CommandFailed: a module of the local extra is missing.
    """
    import importlib

    try:
        importlib.import_module("moto.moto_server.werkzeug_app")
    except ModuleNotFoundError as exc:
        raise CommandFailed(
            f"{command} needs the embedded AWS (moto), which is not installed "
            f"(no module {exc.name!r}): {_INSTALL_HINT}"
        ) from None


def _export_lines(exports: dict[str, str]) -> str:
    import shlex

    return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in exports.items())


def _port_of(endpoint_url: str) -> int:
    return int(endpoint_url.rsplit(":", 1)[1])


def _state_file(directory: Path, port: int) -> Path:
    return directory / f"local-{port}.json"


def _write_state(
    endpoint_url: str, realm: str, exports: dict[str, str], data_dir: Path | None
) -> list[Path]:
    """Record a running stack for ``local env`` (private to the user: mode 0600), by its
    port and, with a data directory, in it too."""
    directory = state_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    paths = [_state_file(directory, _port_of(endpoint_url))]
    if data_dir is not None:
        paths.append(data_dir / RUNNING_STATE_FILE)
    state = {"pid": os.getpid(), "realm": realm, "endpoint_url": endpoint_url, "env": exports}
    for path in paths:
        # Written aside and renamed: `local env` never reads half a file.
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            json.dump(state, out)
        partial.replace(path)
    return paths


def data_dir_of(args: argparse.Namespace) -> Path | None:
    """The data directory: ``--data-dir``, else $LAVA_STATE_LOCAL_DATA_DIR, else none."""
    given = getattr(args, "data_dir", None) or os.environ.get(ENV_LOCAL_DATA_DIR)
    return Path(given).expanduser().absolute() if given else None


def _running_state(path: Path) -> dict[str, Any] | None:
    """The state in ``path`` if its ``local up`` still runs; a dead one's file is removed."""
    try:
        state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        pid = int(state["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        path.unlink(missing_ok=True)  # its local up was killed before it could remove it
        return None
    except PermissionError:
        pass  # alive, another user's
    return state


def _answers(endpoint_url: str) -> bool:
    """Whether an HTTP server answers at ``endpoint_url`` (any status will do)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(endpoint_url, timeout=_ANSWER_TIMEOUT_S):  # noqa: S310
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
