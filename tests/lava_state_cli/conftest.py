"""Helpers for the CLI tests that run ``lava-state`` in process."""

from __future__ import annotations

import pytest

from lava_state_cli.app import main


def run_in_process(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``lava-state ARGV`` in process: (exit code, stdout, stderr)."""
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
