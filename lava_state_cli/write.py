"""The commands that write: ``put`` and ``rm``.

``put`` runs once per call in shell payloads: this module imports nothing beyond
what the put itself needs (the publisher, imported when the command runs).
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

from lava_state.constants import ENV_JOB_ID, PUBLISHER_CLI
from lava_state_cli.errors import CommandFailed, UsageError
from lava_state_cli.parser import PROG, client_options

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

    from publisher.publisher import StatePublisher


def cmd_put(args: argparse.Namespace) -> int:
    """``put ID (-p KEY=VALUE ... | -v VALUE | --value-file PATH | --json-value JSON)
    [--if-version N | --if-absent] [--json]``.

    Raises:
        UsageError: a bad ``-p`` pair, or ``--json-value`` that is not JSON.
        CommandFailed: the ``--value-file`` cannot be read as UTF-8 text.
        LavaStateError: the write was refused or failed (a lost condition included).
    """
    from publisher.publisher import StatePublisher

    value = put_value(args)
    label = args.publisher or os.environ.get(ENV_JOB_ID) or PUBLISHER_CLI
    publisher = StatePublisher(**client_options(args), publisher=label)
    item = publisher.put(
        args.state_id,
        value,
        type=args.type,
        ttl=args.ttl,
        kms_key=args.kms_key,
        if_version=args.if_version,
        if_absent=args.if_absent,
    )
    if args.json:
        # What was stored, as SSM's put-parameter returns its Version: never the value.
        from lava_state_cli.output import metadata_as_json, to_json

        print(to_json(metadata_as_json(item), indent=2))
    return 0


def put_value(args: argparse.Namespace) -> Any:
    """The value ``put``'s arguments give (argparse lets exactly one source through).

    Raises:
        UsageError: a bad ``-p`` pair, or ``--json-value`` that is not JSON.
        CommandFailed: the ``--value-file`` cannot be read as UTF-8 text.
    """
    if args.param is not None:
        return parse_params(args.param)
    if args.json_value is not None:
        return parse_json_value(args.json_value)
    if args.value_file is not None:
        return parse_value(read_value_file(args.value_file))
    return parse_value(args.value)


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


def parse_json_value(text: str) -> Any:
    """``--json-value``: strict JSON (no NaN or Infinity).

    Raises:
        UsageError: not JSON; the message gives the parser's line and column.
    """
    try:
        return json.loads(text, parse_constant=_not_json)
    except ValueError as exc:  # JSONDecodeError says where: "line 1 column 9 (char 8)"
        raise UsageError(f"--json-value is not valid JSON: {exc}") from None


def read_value_file(path: str) -> str:
    """``--value-file``: the text of ``path`` (``-``: stdin), trailing newlines removed
    as the shell's ``$(cat PATH)`` removes them.

    Raises:
        CommandFailed: the file cannot be read, or is not UTF-8 text.
    """
    try:
        if path == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as source:
                data = source.read()
        return data.decode("utf-8").rstrip("\n")
    except OSError as exc:
        raise CommandFailed(f"cannot read --value-file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise CommandFailed(
            f"--value-file {path} is not UTF-8 text (byte {exc.start}): store binary data "
            "base64-encoded"
        ) from None


def cmd_rm(args: argparse.Namespace) -> int:
    """``rm ID... [--if-version N]``: delete each item; an absent one is no error but is
    said on stderr.

    Raises:
        UsageError: ``--if-version`` with several ids.
        VersionConflict: ``--if-version N`` and another version is stored (nothing deleted).
        LavaStateError: a delete failed; the ids before it are deleted.
    """
    from publisher.publisher import StatePublisher

    if args.if_version is not None and len(args.state_ids) > 1:
        raise UsageError("--if-version applies to one ID")
    publisher = StatePublisher(**client_options(args))
    for state_id in args.state_ids:
        if not _delete(publisher, state_id, if_version=args.if_version):
            print(
                f"{PROG}: state item {state_id!r} not found in realm {publisher.realm!r} "
                "(absent or expired): nothing deleted",
                file=sys.stderr,
            )
    return 0


def _delete(publisher: StatePublisher, state_id: str, *, if_version: int | None) -> bool:
    """Delete through the publisher; True when a live item was deleted.

    The publisher's DeleteItem is asked for the item it deleted (``ALL_OLD``, the
    same single call), through botocore's documented event hooks, so that an
    absent or expired item can be told from a deleted one without another read.
    """
    from lava_state.codec import attributes_expired

    events = publisher.store.dynamodb.meta.events
    deleted: list[dict[str, Any]] = []

    def ask_for_old(params: dict[str, Any], **_: Any) -> None:
        params["ReturnValues"] = "ALL_OLD"

    def record(parsed: dict[str, Any], **_: Any) -> None:
        if parsed.get("Attributes"):
            deleted.append(parsed["Attributes"])

    events.register("before-parameter-build.dynamodb.DeleteItem", ask_for_old)
    events.register("after-call.dynamodb.DeleteItem", record)
    try:
        publisher.delete(state_id, if_version=if_version)
    finally:
        events.unregister("before-parameter-build.dynamodb.DeleteItem", ask_for_old)
        events.unregister("after-call.dynamodb.DeleteItem", record)
    return any(not attributes_expired(attributes) for attributes in deleted)
