"""The command line's grammar: the argument parser, its global options, and the
values they give (``-p``/``-v`` values, the realm and AWS options of a command)."""

from __future__ import annotations

import argparse
import json
import os
from typing import TYPE_CHECKING, Any

from lava_state.constants import ENV_ENDPOINT_URL, ENV_REALM
from lava_state_cli.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Sequence

PROG = "lava-state"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (global options are accepted before or after the command)."""
    parser = argparse.ArgumentParser(prog=PROG, description="Publish and read lava state items.")
    _global_options(parser, suppress=False)
    # Repeated on every command, without defaults, so that an option given after the
    # command does not reset one given before it.
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, suppress=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_put(commands, common)
    _add_get(commands, common)
    ls = commands.add_parser("ls", parents=[common], help="list state ids (never values)")
    ls.add_argument("prefix", metavar="PREFIX", nargs="?", help="only ids starting with it")
    ls.add_argument("--json", action="store_true", help="print each item's metadata as JSON")
    rm = commands.add_parser("rm", parents=[common], help="delete state items")
    rm.add_argument("state_ids", metavar="ID", nargs="+")
    local = commands.add_parser("local", help="the embedded local AWS")
    local_commands = local.add_subparsers(dest="local_command", required=True, metavar="COMMAND")
    up = local_commands.add_parser("up", parents=[common], help="run it until Ctrl-C")
    up.add_argument("--port", type=int, default=4566, help="port on 127.0.0.1 (default 4566)")
    commands.add_parser("demo", help="run the demo scenario on an ephemeral local AWS")
    _add_render(commands, common)
    # watch and wait (lava_state_cli.watch): react to changes instead of polling.
    watch = commands.add_parser(
        "watch", parents=[common], help="print each change of state items until Ctrl-C"
    )
    watch.add_argument("state_ids", metavar="ID", nargs="*", help="the ids to watch")
    watch.add_argument("--prefix", help="also watch every id starting with PREFIX")
    watch.add_argument(
        "--catch-up", action="store_true", help="first print the current state of each id"
    )
    watch.add_argument("--json", action="store_true", help="print each change as a JSON line")
    wait = commands.add_parser(
        "wait", parents=[common], help="wait until a state item exists (and a condition holds)"
    )
    wait.add_argument("state_id", metavar="ID")
    wait.add_argument(
        "--timeout", type=float, default=60.0, help="seconds before giving up (default 60)"
    )
    wait.add_argument(
        "--until",
        metavar="EXPRESSION",
        help="a Jinja expression over `state` (the value), e.g. 'state.rows > 0'",
    )
    wait.add_argument(
        "--mode",
        choices=("auto", "react", "poll"),
        default="auto",
        help="react to notifications, poll, or react and poll when subscribing fails (default)",
    )
    wait.add_argument("-q", "--quiet", action="store_true", help="print nothing")
    return parser


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "-r", "--realm", default=default, help=f"lava realm (default: ${ENV_REALM})"
    )
    parser.add_argument("--profile", default=default, help="AWS profile to use")
    parser.add_argument(
        "--endpoint-url", default=default, help=f"AWS endpoint URL (default: ${ENV_ENDPOINT_URL})"
    )
    parser.add_argument("--region", default=default, help="AWS region")


def _add_put(commands: Any, common: argparse.ArgumentParser) -> None:
    put = commands.add_parser("put", parents=[common], help="publish a state item")
    put.add_argument("state_id", metavar="ID")
    source = put.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "-p",
        "--param",
        action="append",
        metavar="KEY=VALUE",
        help="add KEY to a JSON object of strings (repeatable)",
    )
    source.add_argument(
        "-v", "--value", help="the value: parsed as JSON when it is valid JSON, else a string"
    )
    put.add_argument("--type", default="json", help="json (default), raw or secure")
    put.add_argument("--ttl", help="time to live, e.g. 90, 30m, 2d, 1w (default: 7d)")
    put.add_argument(
        "--publisher", help="publisher label (default: $LAVA_JOB_ID or 'lava-state CLI')"
    )
    put.add_argument("--kms-key", help="KMS key ARN or alias/... for secure items")
    condition = put.add_mutually_exclusive_group()
    condition.add_argument(
        "--if-version",
        type=_version_number,
        metavar="N",
        help="write only if the stored version is N (0: none stored); else exit 1",
    )
    condition.add_argument(
        "--if-absent",
        action="store_true",
        help="write only if no unexpired item exists; else exit 1",
    )


def _version_number(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a version (a whole number >= 0)")
    return int(text)


def _add_get(commands: Any, common: argparse.ArgumentParser) -> None:
    get = commands.add_parser(
        "get",
        parents=[common],
        help="print a state item's value",
        description="Print a state item's value. As in lava, plain `get ID [TEMPLATE]` prints "
        "a secure value decrypted (a shell payload needs it); --json and -m mask secure "
        "values unless --decrypt/--reveal is given.",
    )
    get.add_argument(
        "-i",
        "--ignore-missing",
        action="store_true",
        help="print nothing and exit 0 when the item is absent",
    )
    get.add_argument("--json", action="store_true", help="print the whole item as JSON")
    get.add_argument(
        "--decrypt",
        action="store_true",
        help="with --json, show secure values instead of masking them",
    )
    get.add_argument("state_id", metavar="ID")
    get.add_argument(
        "template",
        metavar="TEMPLATE",
        nargs="?",
        help="Jinja template rendered with `state` bound to the value",
    )
    get.add_argument(
        "-m",
        "--many",
        action="store_true",
        help="read every ID given in one batched read; print one JSON object of values by id "
        "(secure values masked unless --decrypt)",
    )
    get.add_argument("--reveal", dest="decrypt", action="store_true", help="same as --decrypt")
    # lava's form is `get ID [TEMPLATE]`: with -m, TEMPLATE and these are more ids.
    get.add_argument("more_ids", nargs="*", metavar="ID", help=argparse.SUPPRESS)


def _add_render(commands: Any, common: argparse.ArgumentParser) -> None:
    render = commands.add_parser(
        "render",
        parents=[common],
        help="print a job spec with its declared state resolved and its templates rendered",
    )
    render.add_argument("job_spec", metavar="JOB_SPEC.json", help="the job spec file (- for stdin)")
    render.add_argument(
        "--lenient",
        action="store_true",
        help="render undeclared state and undefined names as empty strings, as lava does",
    )
    render.add_argument(
        "--reveal", action="store_true", help="show secure values instead of masking them"
    )


def parse_params(params: Sequence[str]) -> dict[str, str]:
    """``-p KEY=VALUE`` pairs as a JSON object of strings.

    Raises:
        UsageError: a pair without ``=`` or without a key.
    """
    result: dict[str, str] = {}
    for param in params:
        key, sep, value = param.partition("=")
        if not sep or not key:
            raise UsageError(f"-p {param!r}: expected KEY=VALUE")
        result[key] = value
    return result


def parse_value(text: str) -> Any:
    """``-v VALUE``: JSON when it parses as JSON, else the string itself.

    ``NaN``, ``Infinity`` and ``-Infinity`` are not JSON: they are strings.
    """
    try:
        return json.loads(text, parse_constant=_not_json)
    except ValueError:
        return text


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def client_options(args: argparse.Namespace) -> dict[str, Any]:
    """The realm and AWS options the global options give, as keyword arguments of
    ``StatePublisher`` and ``StateClient``.

    Raises:
        ConfigurationError: ``--profile`` names no profile.
    """
    from lava_state.aws import get_session

    session = get_session(profile=args.profile, region=args.region) if args.profile else None
    return {
        "realm": args.realm,
        "session": session,
        "endpoint_url": args.endpoint_url or os.environ.get(ENV_ENDPOINT_URL) or None,
        "region": args.region,
    }
