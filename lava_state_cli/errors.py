"""The CLI's own failures; :mod:`lava_state_cli.app` turns them into exit codes."""

from __future__ import annotations


class UsageError(Exception):
    """Bad command line: exit 2, with the usage line, as argparse's own errors."""


class CommandFailed(Exception):
    """A command failed with its message: exit 1."""
