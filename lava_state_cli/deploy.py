"""``lava-state deploy``: one command from a source tree to the realm's stack in AWS.

Builds the stream processor's package (or takes ``--package``), uploads it under
its content's hash, creates a change set from deploy/lava-state.yaml, prints it,
executes it unless ``--dry-run``, waits with progress on stderr and prints the
stack's outputs. boto3 only.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lava_state.constants import ENV_ENDPOINT_URL, ENV_REALM
from lava_state.naming import stack_name as default_stack_name
from lava_state.naming import validate_realm
from lava_state_cli.errors import CommandFailed, UsageError
from lava_state_cli.package import LAMBDA_PYTHON, PackageError, build_package
from lava_state_cli.stack import CODE_PARAMETERS, DeployFailed, StackDeployer
from lava_state_local.template import TEMPLATE

if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping, Sequence

    from lava_state_cli.stack import ChangeSet, StackEvent


def cmd_deploy(args: argparse.Namespace, *, session: Any = None) -> int:
    """Deploy (or, with ``--dry-run``, preview) the realm's stack; ``session`` (a boto3
    session) replaces the one the AWS options give.

    Raises:
        UsageError: no realm, a malformed or reserved ``--parameter``.
        CommandFailed: a missing template or package, an AWS refusal, a failed
            deploy (its failed resource events printed on stderr first).
    """
    realm = validate_realm(args.realm or os.environ.get(ENV_REALM) or _no_realm())
    parameters = parse_parameters(
        args.parameter or [],
        {
            **REALM_PARAMETER,
            **{p: "deploy sets it (use --code-bucket/--package)" for p in CODE_PARAMETERS},
        },
    )
    parameters["Realm"] = realm
    stack_name = args.stack_name or default_stack_name(realm)
    template = Path(args.template) if args.template else TEMPLATE
    if not template.is_file():
        raise CommandFailed(
            f"no template at {template}: run from a lava-state checkout or pass --template"
        )
    session, endpoint_url = _session(args, session)
    clients: dict[str, Any] = {
        name: session.client(name, endpoint_url=endpoint_url, config=_config())
        for name in ("cloudformation", "s3", "sts")
    }
    deployer = StackDeployer(
        cloudformation=clients["cloudformation"],
        s3=clients["s3"],
        stack_name=stack_name,
        poll_seconds=args.poll_seconds,
    )
    if parameters.get("StreamProcessor", "true") == "true":
        bucket = args.code_bucket or _default_bucket(clients["sts"], session.region_name)
        deployer.ensure_bucket(bucket, region=session.region_name or "us-east-1")
        key, uploaded = deployer.upload_package(_package(args.package), bucket=bucket)
        state = "uploaded" if uploaded else "unchanged, not uploaded"
        print(f"package: s3://{bucket}/{key} ({state})")
        parameters |= dict(zip(CODE_PARAMETERS, (bucket, key), strict=True))
    change_set = deployer.create_change_set(template.read_text(), parameters=parameters)
    if change_set.arn is None:
        print(f"no changes: the stack {stack_name} is up to date")
    else:
        print(change_table(change_set))
    if change_set.arn is not None and args.dry_run:
        deployer.discard(change_set)
        print("dry run: the change set was not executed (and is deleted)")
        return 0
    try:
        outputs = deployer.execute(change_set, progress=_show_progress)
    except DeployFailed as failed:
        print(f"{len(failed.events)} resource(s) failed:", file=sys.stderr)
        for event in failed.events:
            print(f"  {_event_line(event)}", file=sys.stderr)
        raise
    print(f"stack {stack_name} outputs:" if outputs else f"stack {stack_name}: no outputs")
    width = max(map(len, outputs), default=0)
    for name, value in sorted(outputs.items()):
        print(f"  {name:<{width}}  {value}")
    return 0


def parse_parameters(words: Sequence[str], reserved: Mapping[str, str]) -> dict[str, str]:
    """``K=V`` words (``--parameter``) as a dict; ``reserved``: the parameters the
    command sets itself, and how to set them instead.

    Raises:
        UsageError: a word without ``=``, or a reserved parameter.
    """
    parameters: dict[str, str] = {}
    for word in words:
        name, equals, value = word.partition("=")
        if not equals or not name:
            raise UsageError(f"--parameter {word!r}: expected KEY=VALUE")
        if name in reserved:
            raise UsageError(f"--parameter {name}: {reserved[name]}")
        parameters[name] = value
    return parameters


#: Realm, set by --realm.
REALM_PARAMETER = {"Realm": "give the realm with --realm"}


def change_table(change_set: ChangeSet) -> str:
    """The change set as a table: resource, type, action, replacement."""
    rows = [("RESOURCE", "TYPE", "ACTION", "REPLACEMENT")]
    rows += [(c.logical_id, c.resource_type, c.action, c.replacement) for c in change_set.changes]
    if not change_set.changes:
        rows.append(("(none)", "-", "-", "-"))  # parameters or outputs only
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    title = f"change set ({change_set.kind} {change_set.stack_name}):"
    lines = [
        f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}".rstrip()
        for row in rows
    ]
    return "\n".join([title, *lines])


def _show_progress(event: StackEvent) -> None:
    print(_event_line(event), file=sys.stderr, flush=True)


def _event_line(event: StackEvent) -> str:
    reason = f": {event.reason}" if event.reason else ""
    return f"{event.logical_id} ({event.resource_type}) {event.status}{reason}"


def _package(path: str | None) -> bytes:
    """The package's bytes: ``--package FILE``, else built from this source tree."""
    if path is not None:
        try:
            return Path(path).read_bytes()
        except OSError as exc:
            raise CommandFailed(f"cannot read the package {path}: {exc.strerror}") from exc
    print("building the stream processor's package (pip, for Python 3.12 on arm64)...")
    if sys.version_info[:2] != LAMBDA_PYTHON:
        print("  (without precompiled bytecode: this is not Python 3.12; cold starts are slower)")
    with tempfile.TemporaryDirectory(prefix="lava-state-package-") as directory:
        try:
            return build_package(Path(directory) / "package.zip").read_bytes()
        except PackageError as exc:
            raise CommandFailed(str(exc)) from exc


def _default_bucket(sts: Any, region: str | None) -> str:
    account = sts.get_caller_identity()["Account"]
    return f"lava-state-code-{account}-{region or 'us-east-1'}"


def _session(args: argparse.Namespace, session: Any) -> tuple[Any, str | None]:
    from lava_state.aws import get_session

    session = session or get_session(profile=args.profile, region=args.region)
    return session, args.endpoint_url or os.environ.get(ENV_ENDPOINT_URL) or None


def _config() -> Any:
    from botocore.config import Config

    return Config(retries={"mode": "standard", "total_max_attempts": 5})


def _no_realm() -> str:
    raise UsageError(f"no realm: pass --realm or set ${ENV_REALM}")
