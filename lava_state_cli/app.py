"""``lava-state``: the command line, compatible with lava's utility.

Exit codes: 0 ok, 1 runtime error (message on stderr starting ``lava-state:``),
2 usage error. Heavy modules (Jinja, moto) are imported only by the commands
that use them: this runs once per call inside shell payloads.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lava_state.codec import display_default
from lava_state.constants import ENV_ENDPOINT_URL, ENV_JOB_ID, ENV_REALM, PUBLISHER_CLI
from lava_state.errors import LavaStateError, StateNotFound
from lava_state.model import SECRET_MASK, StateItem, StateType

if TYPE_CHECKING:
    from collections.abc import Sequence

    from consumer_sdk.listing import StateSummary

PROG = "lava-state"


class UsageError(Exception):
    """Bad command line: exit 2."""


class CommandFailed(Exception):
    """A command failed with its message: exit 1."""


def to_json(value: Any, **kwargs: Any) -> str:
    """JSON text of a value as read (Decimal numbers, sets and binary made printable).

    Binary values (raw items of DynamoDB type B) are printed as base64 text.
    """
    return json.dumps(value, default=display_default, **kwargs)


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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (global options are accepted before or after the command)."""
    parser = argparse.ArgumentParser(prog=PROG, description="Publish and read lava state items.")
    _global_options(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, suppress=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
    _put_conditions(put)

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
    _add_get_many_options(get)

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
    _add_render_parser(commands, common)
    return parser


def parse_params(params: Sequence[str]) -> dict[str, str]:
    """``-p KEY=VALUE`` pairs as a JSON object of strings."""
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


def _connection(args: argparse.Namespace) -> dict[str, Any]:
    from lava_state.aws import get_session

    session = get_session(profile=args.profile, region=args.region) if args.profile else None
    return {
        "realm": args.realm,
        "session": session,
        "endpoint_url": args.endpoint_url or os.environ.get(ENV_ENDPOINT_URL) or None,
        "region": args.region,
    }


def cmd_put(args: argparse.Namespace) -> int:
    from publisher.publisher import StatePublisher

    value = parse_params(args.param) if args.param is not None else parse_value(args.value)
    label = args.publisher or os.environ.get(ENV_JOB_ID) or PUBLISHER_CLI
    publisher = StatePublisher(**_connection(args), publisher=label)
    publisher.put(
        args.state_id,
        value,
        type=args.type,
        ttl=args.ttl,
        kms_key=args.kms_key,
        if_version=args.if_version,
        if_absent=args.if_absent,
    )
    return 0


def _put_conditions(put: argparse.ArgumentParser) -> None:
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


def cmd_ls(args: argparse.Namespace) -> int:
    from consumer_sdk.client import StateClient
    from consumer_sdk.listing import list_states

    summaries = sorted(
        list_states(StateClient(**_connection(args)), args.prefix), key=lambda s: s.state_id
    )
    for summary in summaries:
        if args.json:
            # Metadata only: values (secure or not) are never read by ls.
            print(to_json(_metadata_as_json(summary)))
        else:
            print(summary.state_id)
    return 0


def _metadata_as_json(item: StateItem | StateSummary) -> dict[str, Any]:
    """An item's metadata (never its value), as printed by ``ls --json`` and ``get --json``."""
    timestamp = item.timestamp
    return {
        "state_id": item.state_id,
        "type": str(item.type),
        "version": item.version,
        "timestamp": timestamp.isoformat() if isinstance(timestamp, datetime) else timestamp,
        "ttl": item.ttl,
        "expires_at": item.expires_at.isoformat() if item.expires_at else None,
        "publisher": item.publisher,
    }


def item_as_json(item: StateItem, *, reveal: bool) -> dict[str, Any]:
    """An item for printing; a secure value is masked unless ``reveal``."""
    shown = _metadata_as_json(item)
    value = item.value if reveal or item.type is not StateType.SECURE else SECRET_MASK
    # The value after the type, as before: the order people read.
    return {**dict(list(shown.items())[:2]), "value": value, **dict(list(shown.items())[2:])}


def cmd_get(args: argparse.Namespace) -> int:
    from consumer_sdk.client import StateClient

    if args.many:
        return cmd_get_many(args)
    if args.more_ids:
        raise UsageError("several ids given: use `get -m ID1 ID2 ...` to read several items")
    client = StateClient(**_connection(args))
    secure_needed = not args.json or args.decrypt or args.template is not None
    item = client.get(args.state_id, decrypt=secure_needed)
    if item is None:
        if args.ignore_missing:
            return 0
        raise StateNotFound(args.state_id, client.realm)
    if args.json:
        print(to_json(item_as_json(item, reveal=args.decrypt), indent=2))
    elif args.template is not None:
        print(render_template(args.template, item.value))
    elif isinstance(item.value, str):
        print(item.value)
    else:
        print(to_json(item.value))
    return 0


def render_template(template: str, value: Any) -> str:
    """Render a Jinja template (sandboxed, strict) with ``state`` bound to ``value``.

    Raises:
        TemplateError, TemplateSecurityError: as the job-spec renderer does.
    """
    from lava_state.templating import Renderer

    return Renderer({"state": value}).render_string(template, root="TEMPLATE")


def cmd_rm(args: argparse.Namespace) -> int:
    from publisher.publisher import StatePublisher

    publisher = StatePublisher(**_connection(args))
    for state_id in args.state_ids:
        publisher.delete(state_id)
    return 0


def cmd_local_up(args: argparse.Namespace) -> int:
    import threading

    from lava_state_local.server import local_aws

    realm = args.realm or os.environ.get(ENV_REALM) or "dev"
    # The stream runner and TTL sweeper stand in for Lambda and DynamoDB TTL.
    with local_aws(realm, port=args.port, stream_runner=True, ttl_sweeper=True) as aws:
        for key, value in {**aws.env(), ENV_REALM: realm}.items():
            print(f"export {key}={value}")
        print(
            f"# embedded AWS for realm {realm!r} at {aws.endpoint_url}; Ctrl-C stops it", flush=True
        )
        print(
            "# stream processor: changes go to SNS topics lava-state-<realm>-<state_id>; "
            "expired items are deleted within seconds",
            flush=True,
        )
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("# stopped", file=sys.stderr)
    return 0


def cmd_demo(_: argparse.Namespace) -> int:
    from lava_state_local.demo import run_demo

    return run_demo()


def _add_get_many_options(get: argparse.ArgumentParser) -> None:
    get.add_argument(
        "-m",
        "--many",
        action="store_true",
        help="read every ID given in one batched read; print one JSON object of values by id "
        "(secure values masked unless --decrypt)",
    )
    get.add_argument("--reveal", dest="decrypt", action="store_true", help="same as --decrypt")
    get.add_argument("more_ids", nargs="*", metavar="ID", help=argparse.SUPPRESS)


def cmd_get_many(args: argparse.Namespace) -> int:
    """``get -m ID...``: one batched read, one JSON object (values, or items with --json)."""
    from consumer_sdk.client import StateClient

    ids = [args.state_id, *([args.template] if args.template is not None else []), *args.more_ids]
    client = StateClient(**_connection(args))
    items = client.get_many(ids, decrypt=args.decrypt)
    missing = [sid for sid in dict.fromkeys(ids) if sid not in items]
    if missing and not args.ignore_missing:
        noun = "state item" if len(missing) == 1 else "state items"
        raise CommandFailed(
            f"{len(missing)} {noun} not found: {', '.join(map(repr, missing))} "
            f"(realm {client.realm!r})"
        )
    if args.json:
        shown = {sid: item_as_json(item, reveal=args.decrypt) for sid, item in items.items()}
    else:
        shown = {
            sid: item_as_json(item, reveal=args.decrypt)["value"] for sid, item in items.items()
        }
    print(to_json(shown, indent=2))
    return 0


def _add_render_parser(commands: Any, common: argparse.ArgumentParser) -> None:
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


def cmd_render(args: argparse.Namespace) -> int:
    """``render JOB_SPEC.json``: the expanded spec as JSON, secure material masked."""
    from consumer_sdk.client import StateClient
    from consumer_sdk.jobspec import expand_job_spec
    from lava_state.errors import InvalidJobSpec

    try:
        if args.job_spec == "-":
            text = sys.stdin.read()
        else:
            with open(args.job_spec, encoding="utf-8") as spec_file:
                text = spec_file.read()
        spec = json.loads(text)
    except OSError as exc:
        raise InvalidJobSpec(f"cannot read job spec {args.job_spec}: {exc.strerror}") from None
    except ValueError as exc:
        raise InvalidJobSpec(f"job spec {args.job_spec} is not valid JSON: {exc}") from None
    client = StateClient(**_connection(args))
    expanded = expand_job_spec(spec, client=client, strict=not args.lenient)
    print(to_json(dict(expanded) if args.reveal else expanded.masked(), indent=2))
    return 0


_COMMANDS = {
    "put": cmd_put,
    "get": cmd_get,
    "rm": cmd_rm,
    "ls": cmd_ls,
    "local": cmd_local_up,
    "demo": cmd_demo,
    "render": cmd_render,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except UsageError as exc:
        parser.error(str(exc))
    except (LavaStateError, CommandFailed) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # The message of an unexpected error may quote a value (a secure one,
        # even): only its type, and the message when it quotes nothing.
        print(f"{PROG}: internal error: {type(exc).__name__}: {_valueless(exc)}", file=sys.stderr)
        return 1
    return 0


def _valueless(exc: BaseException) -> str:
    """An exception's message with anything quoted in it replaced by ``...``."""
    import re

    message = str(exc).splitlines()[0] if str(exc) else ""
    message = re.sub(r"'[^']*'|\"[^\"]*\"|b'[^']*'", "...", message)
    return message[:200]


if __name__ == "__main__":
    sys.exit(main())
