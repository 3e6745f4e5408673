"""The ``lava-state`` command line: an edge above the components (see docs/architecture.md).

Modules: ``app`` (``main``: dispatch and exit codes), ``parser`` (the grammar and global
options), ``output`` (what is printed), ``write`` (put, rm), ``read`` (get, ls, render),
``local`` (local up, demo), ``errors`` (usage and command failures).
"""

from __future__ import annotations

from lava_state_cli.app import main

__all__ = ["main"]
