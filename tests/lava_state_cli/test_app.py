"""lava_state_cli.app: dispatch, exit codes and error messages, the entry points."""

from __future__ import annotations

import gc
import subprocess
import sys
from importlib.metadata import entry_points, version
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
        ["export"],
        ["import", "in.jsonl"],
        ["local", "up"],
        ["local", "env"],
        ["demo"],
        ["completion", "bash"],
        ["watch", "x"],
        ["wait", "x"],
        ["deploy", "--realm", "x"],
        ["redrive"],
        ["ui"],
    ],
)
def test_every_command_of_the_parser_has_a_function(argv: list[str]) -> None:
    name = build_parser().parse_args(argv).command

    assert name == argv[0]
    assert callable(command(name))


def test_the_dispatch_table_names_only_the_parsers_commands() -> None:
    assert set(COMMANDS) == {
        "put",
        "get",
        "ls",
        "rm",
        "render",
        "local",
        "demo",
        "completion",
        "watch",
        "wait",
        "deploy",
        "redrive",
        "ui",
        "export",
        "import",
    }


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


def test_a_put_imports_neither_shtab_nor_the_package_metadata(cli_env: dict[str, str]) -> None:
    # --version and completion pay for what they use; a put does not.
    code = (
        "import sys\n"
        "from lava_state_cli import main\n"
        "assert main(['put', 'sid', '-v', '1']) == 0\n"
        "print(sorted(m for m in ('shtab', 'lava_state_cli.completion', 'lava_state_cli.local') "
        "if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=cli_env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_version_is_the_installed_distributions(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_in_process(capsys, "--version")

    assert (code, err) == (0, "")
    assert out == f"lava-state {version('lava-state')}\n"


def test_help_describes_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_in_process(capsys, "--help")
    assert code == 0
    lines = out.splitlines()
    for name in COMMANDS:
        # Each command's line in the list of commands carries its description.
        (line,) = (line for line in lines if line.strip().split(" ")[0] == name)
        assert len(line.strip()) > len(name) + 10, line
    assert "exit codes: 0 ok, 1 error" in " ".join(out.split())
    for argv in (["local", "--help"], ["local", "up", "--help"], ["local", "env", "--help"]):
        code, out, _ = run_in_process(capsys, *argv)
        assert code == 0
        assert out.count("\n") > 5


def test_a_usage_error_of_a_command_prints_that_commands_usage(
    capsys: pytest.CaptureFixture[str], realm: str
) -> None:
    for argv, usage, message in (
        (["put", "x", "-p", "a"], "usage: lava-state put ", "-p 'a': expected KEY=VALUE"),
        (["get"], "usage: lava-state get ", "an ID is required"),
        (["local", "up", "--region", "x"], "usage: lava-state local up ", "--region"),
    ):
        code, out, err = run_in_process(capsys, "-r", realm, *argv)
        assert (code, out) == (2, "")
        assert err.startswith(usage), err
        assert message in err
    # argparse's own error in a command, too: no "required: ID, ID" for get.
    code, _, err = run_in_process(capsys, "get", "--json")
    assert code == 2 and err.startswith("usage: lava-state get ")
    assert "ID, ID" not in err


def test_the_console_script_runs_main() -> None:
    (script,) = entry_points(group="console_scripts", name="lava-state")

    assert script.value == "lava_state_cli:main"
    assert script.load() is lava_state_cli.main
