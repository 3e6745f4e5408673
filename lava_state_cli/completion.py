"""``completion bash|zsh``: a shell completion script generated from the parser by shtab
(imported only here: the other commands' start-up does not pay for it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse


def cmd_completion(args: argparse.Namespace) -> int:
    """Print the completion script for ``args.shell`` (bash or zsh)."""
    import shtab

    from lava_state_cli.parser import build_parser

    print(shtab.complete(build_parser(), shell=args.shell), end="")
    return 0
