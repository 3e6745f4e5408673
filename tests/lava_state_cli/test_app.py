"""lava_state_cli.app: dispatch, exit codes and error messages, the entry points."""

from __future__ import annotations

import gc
import subprocess
import sys
from importlib.metadata import entry_points
from typing import Any

import pytest

import lava_state_cli
from lava_state_cli import read
from lava_state_cli.app import COMMANDS, command
from lava_state_cli.parser import build_parser

from .conftest import run, run_in_process


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("put", "lava-x", "-v", "1"), "reserved"),
        (("put", "sid", "-v", "1", "--ttl", "2D"), "lower case"),
        (("put", "sid", "-v", "1", "--type", "blob"), "No such state type"),
        (("put", "sid", "-v", "1", "--realm", "nosuchrealm"), "table does not exist"),
    ],
)
def test_runtime_errors_exit_1_and_write_nothing(
    cli_env: dict[str, str], stored: Any, args: tuple[str, ...], message: str
) -> None:
    result = run(cli_env, *args)
    assert result.returncode == 1
    assert result.stderr.startswith("lava-state: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert stored() == {}


def test_an_unexpected_error_is_one_line_without_values(
    monkeypatch: pytest.MonkeyPatch, realm: str, capsys: pytest.CaptureFixture[str]
) -> None:
    def boom(_: Any) -> int:
        raise RuntimeError("cannot handle 's3cr3t-value' here")

    monkeypatch.setattr(read, "cmd_ls", boom)
    code, out, err = run_in_process(capsys, "ls", "-r", realm)
    assert code == 1 and out == ""
    assert err == "lava-state: internal error: RuntimeError: cannot handle ... here\n"
    assert "Traceback" not in err and "s3cr3t" not in err


def test_keyboard_interrupt_still_exits_130(
    monkeypatch: pytest.MonkeyPatch, realm: str, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(_: Any) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(read, "cmd_ls", interrupted)
    assert run_in_process(capsys, "ls", "-r", realm)[0] == 130


@pytest.mark.parametrize("fails", [False, True])
def test_collection_waits_for_the_command_and_is_restored(
    monkeypatch: pytest.MonkeyPatch, realm: str, capsys: pytest.CaptureFixture[str], fails: bool
) -> None:
    seen: list[bool] = []

    def ls(_: Any) -> int:
        seen.append(gc.isenabled())
        if fails:
            raise RuntimeError("boom")
        return 0

    monkeypatch.setattr(read, "cmd_ls", ls)
    assert gc.isenabled()
    assert run_in_process(capsys, "ls", "-r", realm)[0] == (1 if fails else 0)
    assert seen == [False]  # no cyclic collection while the command starts up
    assert gc.isenabled()  # and the caller's setting is back, whatever happened


@pytest.mark.parametrize(
    "argv",
    [
        ["put", "x", "-v", "1"],
        ["get", "x"],
        ["ls"],
        ["rm", "x"],
        ["render", "job.json"],
        ["local", "up"],
        ["demo"],
        ["watch", "x"],
        ["wait", "x"],
    ],
)
def test_every_command_of_the_parser_has_a_function(argv: list[str]) -> None:
    name = build_parser().parse_args(argv).command

    assert name == argv[0]
    assert callable(command(name))


def test_the_dispatch_table_names_only_the_parsers_commands() -> None:
    assert set(COMMANDS) == {"put", "get", "ls", "rm", "render", "local", "demo", "watch", "wait"}


def test_a_put_loads_no_other_command_module(cli_env: dict[str, str]) -> None:
    # A put runs once per call in shell payloads: the readers, the output
    # formatting and the local stack's commands are not its start-up cost.
    code = (
        "import sys\n"
        "from lava_state_cli import main\n"
        "assert main(['put', 'sid', '-v', '1']) == 0\n"
        "print(sorted(m for m in sys.modules if m.startswith('lava_state_cli.')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=cli_env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "['lava_state_cli.app', 'lava_state_cli.errors', 'lava_state_cli.parser', "
        "'lava_state_cli.write']"
    )


def test_the_console_script_runs_main() -> None:
    (script,) = entry_points(group="console_scripts", name="lava-state")

    assert script.value == "lava_state_cli:main"
    assert script.load() is lava_state_cli.main
