"""``lava-state``: the command line, compatible with lava's utility.

Exit codes: 0 ok, 1 runtime error (message on stderr starting ``lava-state:``),
2 usage error, 130 interrupted. This runs once per call inside shell payloads:
a command's module is imported only when that command runs, and heavy modules
(Jinja, moto, the components) only inside the commands that use them.
"""

from __future__ import annotations

import gc
import importlib
import sys
from typing import TYPE_CHECKING, cast

from lava_state.errors import LavaStateError
from lava_state_cli.errors import CommandFailed, UsageError
from lava_state_cli.parser import PROG, parse_args

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence

    Command = Callable[[argparse.Namespace], int]

#: Each command's function, as ``module:function``, looked up when the command runs.
COMMANDS: dict[str, str] = {
    "put": "lava_state_cli.write:cmd_put",
    "rm": "lava_state_cli.write:cmd_rm",
    "get": "lava_state_cli.read:cmd_get",
    "ls": "lava_state_cli.read:cmd_ls",
    "render": "lava_state_cli.read:cmd_render",
    "export": "lava_state_cli.transfer:cmd_export",
    "import": "lava_state_cli.transfer:cmd_import",
    "local": "lava_state_cli.local:cmd_local",
    "demo": "lava_state_cli.local:cmd_demo",
    "completion": "lava_state_cli.completion:cmd_completion",
    "watch": "lava_state_cli.watch:cmd_watch",
    "wait": "lava_state_cli.watch:cmd_wait",
    "deploy": "lava_state_cli.deploy:cmd_deploy",
    "redrive": "lava_state_cli.redrive:cmd_redrive",
    "ui": "lava_state_cli.ui:cmd_ui",
}


def command(name: str) -> Command:
    """The function of command ``name`` (its module imported now).

    Raises:
        KeyError: no such command.
    """
    module, _, function = COMMANDS[name].partition(":")
    return cast("Command", getattr(importlib.import_module(module), function))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code.

    Raises:
        SystemExit: a usage error (code 2), or ``--help``/``--version`` (code 0), as
            argparse does.
    """
    parser, args = parse_args(argv)
    # A command lives for one call, and most of its start-up is botocore
    # loading service models: hundreds of thousands of new objects, each
    # allocation burst triggering a cyclic collection over everything
    # imported so far. Nothing the CLI builds needs collecting before it
    # exits, so collection waits until then (about 10% of a put's process time).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return command(args.command)(args)
    except UsageError as exc:
        # The usage of the command that found the error, as argparse's own errors show.
        getattr(args, "command_parser", parser).error(str(exc))
    except (LavaStateError, CommandFailed) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except RecursionError:
        # Parsing or walking a value nested thousands deep (JSON text given by the
        # user): an input error, whatever step met it.
        print(f"{PROG}: the input nests too deeply to be processed: flatten it", file=sys.stderr)
        return 1
    except Exception as exc:
        # The message of an unexpected error may quote a value (a secure one,
        # even): only its type, and the message when it quotes nothing.
        print(f"{PROG}: internal error: {type(exc).__name__}: {_valueless(exc)}", file=sys.stderr)
        return 1
    finally:
        if collecting:
            gc.enable()
    return 0


def _valueless(exc: BaseException) -> str:
    """An exception's message with anything quoted in it replaced by ``...``."""
    import re

    message = str(exc).splitlines()[0] if str(exc) else ""
    message = re.sub(r"'[^']*'|\"[^\"]*\"|b'[^']*'", "...", message)
    return message[:200]


if __name__ == "__main__":
    sys.exit(main())
