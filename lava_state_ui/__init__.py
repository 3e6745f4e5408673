"""``lava-state ui``: a read-only web view of a realm, with its changes live.

Needs the ``ui`` extra (Flask): ``pip install 'lava-state[ui]'``.
"""

from __future__ import annotations

import logging as _logging

from lava_state_ui.feed import ChangeFeed, Listener
from lava_state_ui.server import CSP, DEFAULT_PORT, UiServer, allowed_hosts, create_app

__all__ = [
    "CSP",
    "DEFAULT_PORT",
    "ChangeFeed",
    "Listener",
    "UiServer",
    "allowed_hosts",
    "create_app",
]

_logging.getLogger(__name__).addHandler(_logging.NullHandler())
