"""The command line's grammar: the argument parser, its global options, the realm
and AWS options they give a command, and values that start with ``-``.

Every command's parser is recorded in the parsed arguments (``command_parser``)
so that a usage error found by the command prints that command's usage.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from lava_state.constants import ENV_ENDPOINT_URL, ENV_LOCAL_DATA_DIR, ENV_REALM

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

PROG = "lava-state"
DISTRIBUTION = "lava-state"
EPILOG = (
    "exit codes: 0 ok, 1 error (message on stderr), 2 usage error, 130 interrupted. "
    "`lava-state COMMAND --help` describes a command; docs/cli.md is the reference."
)
#: The global options that take a value (they may come before the command).
_GLOBAL_VALUE_OPTIONS = ("-r", "--realm", "--profile", "--endpoint-url", "--region")
#: By command, the options whose value may start with "-" (``-v -Infinity``,
#: ``--ttl -5m``). argparse would take such a value for an unknown option; joined
#: to its option (``--value=-Infinity``) it reaches the command's own validation.
_DASH_VALUE_OPTIONS = {
    "put": ("-v", "--value", "--json-value", "-p", "--param", "--ttl", "--if-version", "--type"),
    "get": ("--template", "--prefix"),
    "rm": ("--if-version",),
}
_LONG_OPTION = {"-v": "--value", "-p": "--param"}
# shtab's file completion, by shell (shtab.FILE), set on an action's `complete`
# attribute without importing shtab: the CLI's start-up does not pay for it.
_COMPLETE_FILES = {"bash": "_shtab_compgen_files", "zsh": "_files"}
_COMPLETE_DIRS = {"bash": "_shtab_compgen_dirs", "zsh": "_files -/"}


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    """The parser and the parsed arguments of ``argv`` (default: ``sys.argv[1:]``).

    Raises:
        SystemExit: a usage error (code 2), ``--help`` or ``--version`` (code 0).
    """
    import sys

    words = join_dash_values(sys.argv[1:] if argv is None else argv)
    at = _command_index(words)
    parser = build_parser(words[at] if at is not None else None)
    return parser, parser.parse_args(words)


def join_dash_values(argv: Sequence[str]) -> list[str]:
    """``argv`` with each value that starts with ``-`` joined to its option
    (``put x -v -1`` -> ``put x --value=-1``), for the options that take one."""
    words = list(argv)
    at = _command_index(words)
    options = _DASH_VALUE_OPTIONS.get(words[at]) if at is not None else None
    if at is None or options is None:
        return words
    joined = words[: at + 1]
    rest = iter(words[at + 1 :])
    for word in rest:
        if word == "--":
            joined += [word, *rest]
            break
        value = next(rest, None) if word in options else None
        if value is None:
            joined.append(word)
        elif value.startswith("-") and value not in ("-", "--"):  # argparse drops "--"
            joined.append(f"{_LONG_OPTION.get(word, word)}={value}")
        else:
            joined += [word, value]
    return joined


def _command_index(words: list[str]) -> int | None:
    """Where the command is in ``words`` (after the global options), if anywhere."""
    at = 0
    while at < len(words):
        word = words[at]
        if word == "--":
            return at + 1 if at + 1 < len(words) else None
        if word in _GLOBAL_VALUE_OPTIONS:
            at += 2
        elif word.startswith("-") and word != "-":
            at += 1
        else:
            return at
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser (global options are accepted before or after the command).

    With ``command``, only that command's arguments are defined (the others are
    listed, with their help line): what a run of that command needs, at a
    fraction of the cost of the whole grammar.
    """
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Publish and read lava state items (DynamoDB table lava.<realm>.state).",
        epilog=EPILOG,
    )
    parser.add_argument(
        "--version", action=_Version, help="print the installed lava-state version and exit"
    )
    _global_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_line in COMMAND_HELP.items():
        defined = commands.add_parser(name, help=help_line)
        defined.set_defaults(command_parser=defined)
        if command in (None, name) or command not in COMMAND_HELP:
            _GRAMMAR[name](defined)
    return parser


#: The commands, in the order ``--help`` lists them, with their help line.
COMMAND_HELP = {
    "put": "publish a state item",
    "get": "print state items' values",
    "ls": "list the ids of live state items (never values)",
    "rm": "delete state items",
    "render": "print a job spec with its declared state resolved and its templates rendered",
    "export": "write every live state item to a file (JSON Lines), for a backup or a migration",
    "import": "write the items of an export file (per-line errors, safe to run again)",
    "local": "the embedded local AWS: `local up` runs it, `local env` prints its exports",
    "demo": "run the demo scenario on an ephemeral local AWS",
    "completion": "print a shell completion script (bash or zsh)",
    "watch": "print each change of state items as it happens, until Ctrl-C",
    "wait": "wait until a state item exists (and a condition holds)",
    "deploy": "deploy the realm's stack (table, key, stream processor, policies) to AWS",
    "redrive": "put the stream batches on the dead-letter queue through the processor again",
    "ui": "serve a read-only web view of a realm, with its changes live",
}


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The global options; a command repeats them without defaults (``suppress``) so
    that one given after the command does not reset one given before it."""
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "-r", "--realm", default=default, help=f"lava realm (default: ${ENV_REALM})"
    )
    parser.add_argument("--profile", default=default, help="AWS profile to use")
    parser.add_argument(
        "--endpoint-url", default=default, help=f"AWS endpoint URL (default: ${ENV_ENDPOINT_URL})"
    )
    parser.add_argument("--region", default=default, help="AWS region")


class _Version(argparse.Action):
    """``--version``: the installed distribution's version, looked up only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            installed = version(DISTRIBUTION)
        except PackageNotFoundError:
            installed = "(not installed: running from a source tree)"
        print(f"{PROG} {installed}")  # on stdout, as argparse's own version action
        parser.exit()


def _put(put: argparse.ArgumentParser) -> None:
    put.description = (
        "Publish a state item. The value is given by exactly one of -p, -v, --value-file and "
        "--json-value. Silent on success (as lava's); --json prints what was stored (never "
        "the value)."
    )
    _global_options(put, suppress=True)
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
        "-v",
        "--value",
        help="the value: parsed as JSON when it is valid JSON, else the string itself (as lava)",
    )
    value_file = source.add_argument(
        "--value-file",
        metavar="PATH",
        help="read the value from PATH (- for stdin), trailing newlines removed as $(cat PATH) "
        "does; then as -v",
    )
    value_file.complete = _COMPLETE_FILES  # type: ignore[attr-defined]
    source.add_argument(
        "--json-value",
        metavar="JSON",
        help="the value as JSON text; invalid JSON is refused with its line and column",
    )
    put.add_argument("--type", default="json", help="json (default), raw or secure")
    put.add_argument(
        "--ttl",
        help="time to live, e.g. 90, 30m, 2d, 1w "
        "(default: $LAVA_STATE_TTL or the realm's default, 7d)",
    )
    put.add_argument(
        "--publisher", help="publisher label (default: $LAVA_JOB_ID or 'lava-state CLI')"
    )
    put.add_argument("--kms-key", help="KMS key ARN or alias/... for secure items")
    put.add_argument(
        "--json",
        action="store_true",
        help="print the stored item's metadata as JSON (version, timestamp, ttl, expires_at, "
        "publisher, type; never the value)",
    )
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


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0 to 65535)")
    return int(text)


def _get(get: argparse.ArgumentParser) -> None:
    get.usage = (
        f"{PROG} get [options] ID [TEMPLATE]\n"
        f"       {PROG} get [options] -m ID [ID ...]\n"
        f"       {PROG} get [options] --prefix PREFIX"
    )
    get.description = (
        "Print a state item's value, or with TEMPLATE (which must contain {{ or {%; else use "
        "--template) the template rendered with `state` bound to the value. As in lava, plain "
        "`get ID [TEMPLATE]` prints a secure value decrypted (a shell payload needs it); "
        "--json, -m and --prefix mask secure values unless --decrypt."
    )
    _global_options(get, suppress=True)
    get.add_argument(
        "words",
        metavar="ID",
        nargs="*",
        default=[],
        help="the id, then an optional TEMPLATE; with -m, every id to read",
    )
    get.add_argument(
        "--template",
        metavar="TEMPLATE",
        help="the Jinja template, even one without {{ or {%%",
    )
    get.add_argument(
        "-m",
        "--many",
        action="store_true",
        help="read every ID given in one batched read; print one JSON object of values by id",
    )
    get.add_argument(
        "--prefix",
        metavar="PREFIX",
        help="read every live item whose id starts with PREFIX (one Scan of the metadata, then "
        "batched reads); print them as -m does",
    )
    get.add_argument(
        "-i",
        "--ignore-missing",
        action="store_true",
        help="print nothing (-m: leave out the absent ids) and exit 0 when items are absent",
    )
    get.add_argument("--json", action="store_true", help="print the whole item as JSON")
    get.add_argument(
        "--decrypt",
        action="store_true",
        help="with --json, -m or --prefix, show secure values instead of masking them",
    )
    get.add_argument("--reveal", dest="decrypt", action="store_true", help="same as --decrypt")


def _ls(ls: argparse.ArgumentParser) -> None:
    ls.description = (
        "List the ids of the unexpired state items, sorted (a Scan of the table's metadata; "
        "values are never read)."
    )
    _global_options(ls, suppress=True)
    ls.add_argument("prefix", metavar="PREFIX", nargs="?", help="only ids starting with it")
    ls.add_argument("--json", action="store_true", help="print each item's metadata as JSON")


def _rm(rm: argparse.ArgumentParser) -> None:
    rm.description = (
        "Delete state items. An absent id is no error (exit 0, as lava's), but is said on stderr."
    )
    _global_options(rm, suppress=True)
    rm.add_argument("state_ids", metavar="ID", nargs="+")
    rm.add_argument(
        "--if-version",
        type=_version_number,
        metavar="N",
        help="delete only if the stored version is N (one ID); else exit 1",
    )


def _render(render: argparse.ArgumentParser) -> None:
    render.description = (
        "Print a job spec (JSON) with its `state` map resolved in one batched read and its "
        "Jinja templates rendered, as a job's initialisation does; secure material masked "
        "unless --reveal."
    )
    _global_options(render, suppress=True)
    job_spec = render.add_argument(
        "job_spec", metavar="JOB_SPEC.json", help="the job spec file (- for stdin)"
    )
    job_spec.complete = _COMPLETE_FILES  # type: ignore[attr-defined]
    render.add_argument(
        "--lenient",
        action="store_true",
        help="render undeclared state and undefined names as empty strings, as lava does",
    )
    render.add_argument(
        "--reveal", action="store_true", help="show secure values instead of masking them"
    )


def _export(export: argparse.ArgumentParser) -> None:
    export.description = (
        "Write every live state item of the realm, one JSON object per line after a header "
        "naming the format (lava-state.export/1), the realm and the time; docs/transfer.md "
        "describes the format. Secure values stay encrypted (they import into the same realm "
        "only) unless --decrypt-secure."
    )
    _global_options(export, suppress=True)
    export.add_argument("--prefix", help="only ids starting with PREFIX")
    output = export.add_argument(
        "-o", "--output", metavar="FILE", help="write to FILE (mode 0600; default: stdout)"
    )
    output.complete = _COMPLETE_FILES  # type: ignore[attr-defined]
    export.add_argument(
        "--segments",
        type=_segments,
        default=4,
        metavar="N",
        help="parallel Scan segments (1 to 64, default 4)",
    )
    export.add_argument(
        "--decrypt-secure",
        action="store_true",
        help="write secure values decrypted, to import them into another realm or account "
        "(the file then holds secrets)",
    )
    export.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary")


def _segments(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of segments (1 to 64)")
    return int(text)


def _import(import_: argparse.ArgumentParser) -> None:
    import_.description = (
        "Write the items of an export file into the realm, in batches, keeping their "
        "timestamp, ttl and publisher; versions continue above the stored ones. Every line "
        "that fails is reported with its number; exit 1 if any did. Running the same import "
        "again writes only what is still missing."
    )
    _global_options(import_, suppress=True)
    source = import_.add_argument("file", metavar="FILE", help="the export file (- for stdin)")
    source.complete = _COMPLETE_FILES  # type: ignore[attr-defined]
    import_.add_argument(
        "--mode",
        choices=("if-absent", "overwrite", "newer"),
        default="if-absent",
        help="for ids already stored: leave them (if-absent, the default), replace them "
        "(overwrite), or replace them when the file's timestamp is later (newer)",
    )
    import_.add_argument(
        "--dry-run", action="store_true", help="report what would be written; write nothing"
    )
    import_.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _local(local: argparse.ArgumentParser) -> None:
    local.description = (
        "An embedded AWS (moto) on 127.0.0.1 with a realm's table, KMS key, stream processor "
        "and TTL sweeper. Needs the local extra: pip install 'lava-state[local]'."
    )
    local_commands = local.add_subparsers(dest="local_command", required=True, metavar="COMMAND")
    up = local_commands.add_parser(
        "up",
        help="run it until Ctrl-C, after printing the export lines that point a shell at it",
        description="Run the embedded AWS until Ctrl-C. It prints `export ...` lines (run them "
        'in the shells that use it, or `eval "$(lava-state local env)"`). It serves its own '
        "endpoint: --endpoint-url, --region and --profile do not apply.",
    )
    up.set_defaults(command_parser=up)
    up.add_argument(
        "-r",
        "--realm",
        default=argparse.SUPPRESS,
        help=f"the realm to create (default: ${ENV_REALM}, else dev)",
    )
    up.add_argument(
        "--port", type=_port, default=4566, help="port on 127.0.0.1 (default 4566; 0: any free one)"
    )
    data_dir = up.add_argument(
        "--data-dir",
        metavar="DIR",
        help="keep the stack's data (items, KMS keys, topics, queues, subscriptions) in DIR: "
        f"restored at start, saved while it runs (default: ${ENV_LOCAL_DATA_DIR}, else in "
        "memory only)",
    )
    data_dir.complete = _COMPLETE_DIRS  # type: ignore[attr-defined]
    up.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log what the stream processor routes (JSON lines per change and per batch)",
    )
    up.add_argument(
        "--parameter",
        action="append",
        metavar="KEY=VALUE",
        help="a parameter of the realm stack (deploy/lava-state.yaml) it deploys, e.g. "
        "RealmTopic=false or MissingTopicTtl=5 (repeatable)",
    )
    up.add_argument(
        "--ui", action="store_true", help="also serve the realm's web view (as `lava-state ui`)"
    )
    up.add_argument(
        "--ui-port", type=_port, default=8765, help="the web view's port (default 8765)"
    )
    # Accepted here only to be refused with a reason (see cmd_local_up).
    for option in ("--profile", "--endpoint-url", "--region"):
        up.add_argument(option, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    env = local_commands.add_parser(
        "env",
        help="print the export lines of a running `local up` again",
        description="Print the export lines of the `lava-state local up` running on --port "
        "(or of the only one running), after checking that its endpoint answers: "
        'eval "$(lava-state local env)".',
    )
    env.set_defaults(command_parser=env)
    env.add_argument(
        "--port", type=_port, help="the port of its `local up` (default: the only one running)"
    )
    env_dir = env.add_argument(
        "--data-dir",
        metavar="DIR",
        help=f"the data directory of its `local up` (default: ${ENV_LOCAL_DATA_DIR})",
    )
    env_dir.complete = _COMPLETE_DIRS  # type: ignore[attr-defined]


def _demo(demo: argparse.ArgumentParser) -> None:
    demo.description = (
        "Run the demo scenario (publish, read, react, expire) on an embedded AWS of its own, "
        "printing each step; exit 0 when every step behaved. Needs the local extra: "
        "pip install 'lava-state[local]'."
    )


def _completion(completion: argparse.ArgumentParser) -> None:
    completion.description = (
        "Print a completion script for SHELL. bash: `source <(lava-state completion bash)` "
        "(or save it under ~/.local/share/bash-completion/completions/lava-state); zsh: save "
        "it as _lava-state in a directory of your $fpath."
    )
    completion.add_argument("shell", metavar="SHELL", choices=("bash", "zsh"), help="bash or zsh")


def _watch(watch: argparse.ArgumentParser) -> None:
    watch.description = (
        "Print one line (or, with --json, one JSON line) per change of the given ids or "
        "prefix as it happens, until Ctrl-C or SIGTERM; the queue and subscriptions made "
        "for it are removed on exit. Secure values are never printed."
    )
    _global_options(watch, suppress=True)
    watch.add_argument("state_ids", metavar="ID", nargs="*", help="the ids to watch")
    watch.add_argument("--prefix", help="also watch every id starting with PREFIX")
    watch.add_argument(
        "--catch-up", action="store_true", help="first print the current state of each id"
    )
    watch.add_argument("--json", action="store_true", help="print each change as a JSON line")


def _wait(wait: argparse.ArgumentParser) -> None:
    wait.description = (
        "Wait until the state item exists and, with --until, the expression holds; print its "
        "value (nothing with -q) and exit 0, or exit 1 on timeout. Made for job payloads: "
        "lava-state wait upstream-done --until 'state.rows > 0'."
    )
    _global_options(wait, suppress=True)
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


def _redrive(redrive: argparse.ArgumentParser) -> None:
    redrive.description = (
        "Read each batch described on the realm's stream dead-letter queue "
        "(lava-state-<realm>-stream-dlq) back from the table's stream (it keeps records 24 "
        "hours) and run the stream processor on it here, configured from the environment as "
        "the Lambda is (LAVA_STATE_REALM_TOPIC, LAVA_STATE_FIFO_TOPICS...); delete each batch "
        "processed in full. Exit 1 when a batch failed again (it stays on the queue)."
    )
    _global_options(redrive, suppress=True)
    redrive.add_argument("--queue-url", help="the dead-letter queue (default: the realm's)")
    redrive.add_argument(
        "--wait",
        type=int,
        default=0,
        choices=range(21),
        metavar="SECONDS",
        help="long-poll the queue this long for each receive (0-20, default 0)",
    )


def _deploy(deploy: argparse.ArgumentParser) -> None:
    deploy.description = (
        "Build the stream processor's package, upload it under its content's hash, create a "
        "CloudFormation change set of deploy/lava-state.yaml for the realm, print it and "
        "execute it (unless --dry-run), then print the stack's outputs (the job-role policy "
        "ARNs among them). Needs a source checkout, or --package and --template."
    )
    _global_options(deploy, suppress=True)
    deploy.add_argument("--stack-name", help="the stack (default: lava-state-REALM)")
    deploy.add_argument(
        "--code-bucket",
        help="S3 bucket for the package (default: lava-state-code-ACCOUNT-REGION, created)",
    )
    deploy.add_argument(
        "--parameter",
        action="append",
        metavar="KEY=VALUE",
        help="a stack parameter, e.g. RealmTopic=true (repeatable; others keep their value)",
    )
    package = deploy.add_argument(
        "--package", metavar="ZIP", help="a prebuilt package (make lambda-zip) instead of building"
    )
    package.complete = _COMPLETE_FILES  # type: ignore[attr-defined]
    template = deploy.add_argument(
        "--template",
        metavar="FILE",
        help="the template (default: the checkout's deploy/lava-state.yaml)",
    )
    template.complete = _COMPLETE_FILES  # type: ignore[attr-defined]
    deploy.add_argument(
        "--dry-run", action="store_true", help="print the change set, do not execute it"
    )
    deploy.add_argument("--poll-seconds", type=float, default=5.0, help=argparse.SUPPRESS)


def _ui(ui: argparse.ArgumentParser) -> None:
    ui.description = (
        "Serve a read-only web page of the realm's live items (metadata, values with secure "
        "ones masked, recent changes) and of its changes as they happen, until Ctrl-C. "
        "Needs the ui extra: pip install 'lava-state[ui]'."
    )
    _global_options(ui, suppress=True)
    ui.add_argument(
        "--port", type=_port, default=8765, help="port to serve on (default 8765; 0: any free one)"
    )
    ui.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to serve on (default 127.0.0.1; another one is warned about: the page "
        "has no authentication)",
    )
    ui.add_argument("--open", action="store_true", help="open the page in the default browser")


#: Each command's arguments, defined on its parser.
_GRAMMAR: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "put": _put,
    "get": _get,
    "ls": _ls,
    "rm": _rm,
    "render": _render,
    "export": _export,
    "import": _import,
    "local": _local,
    "demo": _demo,
    "completion": _completion,
    "watch": _watch,
    "wait": _wait,
    "deploy": _deploy,
    "redrive": _redrive,
    "ui": _ui,
}


def client_options(args: argparse.Namespace) -> dict[str, Any]:
    """The realm and AWS options the global options give, as keyword arguments of
    ``StatePublisher`` and ``StateClient``.

    Raises:
        ConfigurationError: ``--profile`` names no profile; ``--endpoint-url`` or
            ``--region`` is malformed (checked before any AWS call).
    """
    from lava_state.aws import get_session
    from lava_state.naming import validate_aws_location

    endpoint_url = args.endpoint_url or os.environ.get(ENV_ENDPOINT_URL) or None
    validate_aws_location(endpoint_url=endpoint_url, region=args.region)

    session = get_session(profile=args.profile, region=args.region) if args.profile else None
    return {
        "realm": args.realm,
        "session": session,
        "endpoint_url": endpoint_url,
        "region": args.region,
    }
