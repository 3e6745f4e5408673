"""The ``lava-state`` command line: an edge above the components (see docs/architecture.md)."""

from __future__ import annotations

from lava_state_cli.app import main

__all__ = ["main"]
