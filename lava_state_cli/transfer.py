"""``export`` and ``import``: a realm's items to a ``lava-state.export/1`` file and back.

A progress bar (tqdm, imported only when it is shown) goes to stderr when
stderr is a terminal, unless ``--quiet``; the data goes to stdout or the
file, the per-line errors and the summary to stderr.
"""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from lava_state_cli.errors import CommandFailed
from lava_state_cli.parser import PROG, client_options

if TYPE_CHECKING:
    import argparse

    from publisher.importer import ImportResult


def cmd_export(args: argparse.Namespace) -> int:
    """``export [--prefix P] [-o FILE|-] [--segments N] [--decrypt-secure] [--quiet]``.

    A file is written aside and renamed when complete (mode 0600): an export
    that fails leaves no partial file behind.

    Raises:
        CommandFailed: the file cannot be written.
        LavaStateError: reading the realm failed (printed by ``main``).
    """
    from consumer_sdk import StateClient
    from lava_state.transfer import encode_record, header

    client = StateClient(**client_options(args))
    to_file = args.output not in (None, "-")
    if args.decrypt_secure:
        where = args.output if to_file else "stdout"
        print(
            f"{PROG}: warning: --decrypt-secure writes secure values in plaintext to {where}: "
            "keep it as safe as the secrets, and delete it once imported",
            file=sys.stderr,
        )
    count = 0
    with ExitStack() as stack:
        out = _open_output(stack, args.output) if to_file else sys.stdout
        progress = _progress(args, total=None, unit="item", desc="export")
        stack.callback(progress.close)
        now = datetime.now(UTC).replace(microsecond=0)
        out.write(
            header(
                realm=client.realm,
                exported_at=now,
                prefix=args.prefix,
                decrypted=args.decrypt_secure,
            )
            + "\n"
        )
        items = client.export(
            prefix=args.prefix, segments=args.segments, decrypt_secure=args.decrypt_secure
        )
        for item in items:
            out.write(encode_record(item) + "\n")
            count += 1
            progress.update()
        out.flush()
        if to_file:
            _commit_output(out, Path(args.output))
    if not args.quiet:
        where = f" to {args.output}" if to_file else ""
        print(f"{PROG}: exported {count} items of realm {client.realm!r}{where}", file=sys.stderr)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """``import FILE [--mode if-absent|overwrite|newer] [--dry-run] [--quiet]``.

    Every line that fails is reported on stderr with its number; the summary
    follows. Exit 1 when a line failed: running the same import again writes
    only what is still missing.

    Raises:
        CommandFailed: the file cannot be read.
        ExportFormatError: it has no ``lava-state.export/1`` header (nothing written).
    """
    from lava_state.transfer import parse_lines
    from publisher import Outcome, StatePublisher

    publisher = StatePublisher(**client_options(args))
    counts = dict.fromkeys(Outcome, 0)
    with ExitStack() as stack:
        source, total = _open_input(stack, args.file)
        progress = _progress(args, total=total, unit="item", desc="import")
        stack.callback(progress.close)

        def report(result: ImportResult) -> None:
            counts[result.outcome] += 1
            progress.update()
            if result.outcome is Outcome.FAILED:
                what = f" ({result.state_id})" if result.state_id else ""
                progress.write(
                    f"{PROG}: {args.file}: line {result.line}{what}: {result.reason}",
                    file=sys.stderr,
                )

        try:
            publisher.import_records(
                parse_lines(source), mode=args.mode, dry_run=args.dry_run, on_result=report
            )
        except UnicodeDecodeError as exc:
            raise CommandFailed(f"{args.file} is not UTF-8 text ({exc.reason})") from None
    written = (
        f"{counts[Outcome.WOULD_WRITE]} would be written (dry run)"
        if args.dry_run
        else f"{counts[Outcome.WRITTEN]} written"
    )
    print(
        f"{PROG}: imported {args.file} into realm {publisher.realm!r} ({args.mode}): {written}, "
        f"{counts[Outcome.SKIPPED]} skipped, {counts[Outcome.FAILED]} failed",
        file=sys.stderr,
    )
    return 1 if counts[Outcome.FAILED] else 0


def _open_output(stack: ExitStack, name: str) -> IO[str]:
    """The file aside ``name`` (``NAME.partial``), private to the user."""
    partial = Path(f"{name}.partial")
    try:
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise CommandFailed(f"cannot write {partial}: {exc.strerror}") from None
    stack.callback(partial.unlink, missing_ok=True)  # a no-op once renamed
    return stack.enter_context(os.fdopen(descriptor, "w", encoding="utf-8"))


def _commit_output(out: IO[str], path: Path) -> None:
    out.flush()
    os.fsync(out.fileno())
    Path(f"{path}.partial").replace(path)


def _open_input(stack: ExitStack, name: str) -> tuple[IO[str], int | None]:
    """The file (``-``: stdin) and its item count when it can be known (for the ETA)."""
    if name == "-":
        return sys.stdin, None
    try:
        source = stack.enter_context(open(name, encoding="utf-8"))  # noqa: SIM115
    except OSError as exc:
        raise CommandFailed(f"cannot read {name}: {exc.strerror}") from None
    if not sys.stderr.isatty():
        return source, None  # no bar: no need to count
    with open(name, "rb") as counting:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: counting.read(1 << 20), b""))
    return source, max(lines - 1, 0)  # the header is not an item


class _NoProgress:
    """What the command calls when no bar is shown."""

    def update(self, n: int = 1) -> None:
        """Nothing to show."""

    def write(self, text: str, file: Any = None) -> None:
        print(text, file=file or sys.stderr)

    def close(self) -> None:
        """Nothing to close."""


def _progress(args: argparse.Namespace, *, total: int | None, unit: str, desc: str) -> Any:
    """A tqdm bar on stderr when it is a terminal and not ``--quiet``; else a silent stand-in."""
    if args.quiet or not sys.stderr.isatty():
        return _NoProgress()
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=desc, file=sys.stderr, dynamic_ncols=True)
