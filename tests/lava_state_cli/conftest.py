"""Two ways to run ``lava-state`` in the CLI tests: in process (``main``, fast) and as
a subprocess (``python -m lava_state_cli``, as a shell payload runs it)."""

from __future__ import annotations

import functools
import subprocess
import sys
from collections.abc import Callable

import pytest

from lava_state_cli import main


def run_in_process(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``lava-state ARGV`` in process: (exit code, stdout, stderr)."""
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m lava_state_cli ARGS`` with ``env``, as a shell payload would."""
    return subprocess.run(
        [sys.executable, "-m", "lava_state_cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def cli(
    realm: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str, str]]:
    """Run ``lava-state ARGS`` in process against the test realm: (exit code, stdout, stderr)."""
    monkeypatch.setenv("LAVA_REALM", realm)

    return functools.partial(run_in_process, capsys)
