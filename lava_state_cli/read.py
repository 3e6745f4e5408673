"""The commands that read: ``get`` (one item, ``-m`` several in one batch, or
``--prefix`` every item under a prefix), ``ls`` and ``render`` (a job spec expanded)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

from lava_state.errors import StateNotFound
from lava_state.model import StateType
from lava_state_cli.errors import CommandFailed, UsageError
from lava_state_cli.output import item_as_json, metadata_as_json, render_template, to_json
from lava_state_cli.parser import PROG, client_options

if TYPE_CHECKING:
    import argparse


def get_arguments(args: argparse.Namespace) -> tuple[list[str], str | None]:
    """The ids to read and the template of ``get``'s arguments.

    Without ``-m``, a second argument is a template only if it looks like one
    (``{{``, ``{%`` or ``{#``): ``get a b`` is a usage error, not ``b`` printed as
    a template. With ``-m`` every argument is an id, and one that looks like a
    template is refused rather than reported missing.

    Raises:
        UsageError: the arguments do not make one of get's forms.
    """
    from lava_state.templating import has_template

    words: list[str] = args.words
    if args.prefix is not None:
        given = (("ids", bool(words)), ("-m", args.many), ("--template", args.template is not None))
        extra = [name for name, present in given if present]
        if extra:
            raise UsageError(f"--prefix reads every id under PREFIX: it takes no {extra[0]}")
        return [], None
    if not words:
        raise UsageError("an ID is required (or --prefix PREFIX)")
    if args.many:
        if args.template is not None:
            raise UsageError("-m prints values as JSON: --template applies to one item")
        templates = [word for word in words if has_template(word)]
        if templates:
            raise UsageError(
                f"-m reads ids only, and {templates[0]!r} looks like a template: "
                "a template applies to one item (`get ID TEMPLATE`)"
            )
        return words, None
    if len(words) > 2 or (len(words) == 2 and args.template is not None):
        raise UsageError("several ids given: use `get -m ID1 ID2 ...` to read several items")
    if len(words) == 2 and not has_template(words[1]):
        raise UsageError(
            f"{words[1]!r} is not a template (no {{{{ or {{%): to read several items use "
            "`get -m ID1 ID2 ...`; to render it as a template anyway, pass --template"
        )
    return words[:1], words[1] if len(words) == 2 else args.template


def cmd_get(args: argparse.Namespace) -> int:
    """``get ID [TEMPLATE]``: the value (a secure one decrypted, as lava prints it), the
    template rendered with it, or with ``--json`` the whole item, secure values masked.

    Raises:
        UsageError: the arguments make none of get's forms (see :func:`get_arguments`).
        StateNotFound: the item is absent or expired (unless ``-i``).
        LavaStateError: the read, decryption or template failed.
    """
    from consumer_sdk.client import StateClient

    ids, template = get_arguments(args)
    if args.many or args.prefix is not None:
        return cmd_get_many(args, ids)
    (state_id,) = ids
    client = StateClient(**client_options(args))
    secure_needed = not args.json or args.decrypt or template is not None
    item = client.get(state_id, decrypt=secure_needed)
    if item is None:
        if args.ignore_missing:
            return 0
        raise StateNotFound(state_id, client.realm)
    if args.json:
        print(to_json(item_as_json(item, reveal=args.decrypt), indent=2))
    elif template is not None:
        from lava_state.template_lint import lint

        for warning in lint(template):
            print(f"{PROG}: warning: TEMPLATE: {warning}", file=sys.stderr)
        print(render_template(template, item.value, secure=item.type is StateType.SECURE))
    elif isinstance(item.value, str):
        print(item.value)
    else:
        print(to_json(item.value))
    return 0


def cmd_get_many(args: argparse.Namespace, ids: list[str]) -> int:
    """``get -m ID...`` (one batched read) or ``get --prefix P`` (one listing, then
    batched reads): one JSON object (values, or items with --json).

    Raises:
        CommandFailed: ids are absent (unless ``-i``), all named.
        LavaStateError: the read or a decryption failed.
    """
    from consumer_sdk.client import StateClient

    client = StateClient(**client_options(args))
    if args.prefix is not None:
        items = client.get_prefix(args.prefix, decrypt=args.decrypt)
    else:
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


def printable_id(state_id: str) -> str:
    """``state_id`` as one line of ``ls``: control characters (a newline, an escape
    sequence), backslashes and other unprintable characters escaped as in Python
    (``\\n``, ``\\x1b``, ``\\\\``), so that each line is exactly one id and
    nothing reaches the terminal as a command. Printable ids print as they are.
    """
    if state_id.isprintable() and "\\" not in state_id:
        return state_id
    return "".join(
        char if char.isprintable() and char != "\\" else repr(char)[1:-1] for char in state_id
    )


def cmd_ls(args: argparse.Namespace) -> int:
    """``ls [PREFIX] [--json]``: the unexpired ids, sorted, or their metadata (``--json``:
    one JSON object per line). Plain ids are printed one per line, control and
    other unprintable characters escaped (:func:`printable_id`).

    Raises:
        InvalidStateId: PREFIX breaks the id rules.
        LavaStateError: the scan failed.
    """
    from consumer_sdk.client import StateClient
    from consumer_sdk.listing import list_states
    from lava_state.naming import validate_state_id

    if args.prefix:
        validate_state_id(args.prefix)  # before any AWS call (a lone surrogate from argv)
    summaries = sorted(
        list_states(StateClient(**client_options(args)), args.prefix), key=lambda s: s.state_id
    )
    for summary in summaries:
        if args.json:
            # Metadata only: values (secure or not) are never read by ls.
            print(to_json(metadata_as_json(summary)))
        else:
            print(printable_id(summary.state_id))
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    """``render JOB_SPEC.json``: the expanded spec as JSON, secure material masked.

    Raises:
        InvalidJobSpec: the file cannot be read or is not JSON.
        LavaStateError: the expansion failed (a template error names its path and line).
    """
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
    from lava_state.template_lint import lint_structure

    for warning in lint_structure(spec):
        print(f"{PROG}: warning: {warning}", file=sys.stderr)
    client = StateClient(**client_options(args))
    expanded = expand_job_spec(spec, client=client, strict=not args.lenient)
    print(to_json(dict(expanded) if args.reveal else expanded.masked(), indent=2))
    return 0
