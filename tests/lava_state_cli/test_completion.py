"""lava_state_cli.completion: bash and zsh scripts generated from the parser by shtab."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from lava_state_cli.app import COMMANDS

from .conftest import run_in_process


def complete_in_bash(script: str, line: str) -> list[str]:
    """What bash completes for ``line`` (its last word) with the script loaded."""
    words = line.split(" ")
    program = (
        f"{script}\n"
        f"COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
        f"COMP_LINE={line!r}; COMP_POINT=${{#COMP_LINE}}\n"
        '_shtab_lava_state; printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    result = subprocess.run(
        ["bash", "-c", program], capture_output=True, text=True, check=False, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return sorted(result.stdout.split())


def test_bash_completes_commands_subcommands_and_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, script, err = run_in_process(capsys, "completion", "bash")
    assert (code, err) == (0, "")

    assert complete_in_bash(script, "lava-state ") == sorted(COMMANDS)
    assert complete_in_bash(script, "lava-state pu") == ["put"]
    assert complete_in_bash(script, "lava-state local ") == ["env", "up"]
    assert complete_in_bash(script, "lava-state put x --j") == ["--json", "--json-value"]
    assert complete_in_bash(script, "lava-state completion ") == ["bash", "zsh"]
    # Options refused by `local up` are not offered.
    assert "--region" not in complete_in_bash(script, "lava-state local up --")


def test_zsh_script(capsys: pytest.CaptureFixture[str]) -> None:
    code, script, _ = run_in_process(capsys, "completion", "zsh")

    assert code == 0
    assert script.startswith("#compdef lava-state")
    for name in COMMANDS:
        assert f"    {name}:'" in script
    if shutil.which("zsh"):
        check = subprocess.run(["zsh", "-n"], input=script, text=True, check=False)
        assert check.returncode == 0


def test_other_shells_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_in_process(capsys, "completion", "fish")

    assert (code, out) == (2, "")
    assert "invalid choice: 'fish'" in err
