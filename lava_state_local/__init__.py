"""The embedded local AWS: moto's server in process, the stream runner, the TTL sweeper, the demo.

An edge above the components, installed with the ``local`` extra
(``pip install 'lava-state[local]'``); nothing below it imports it.
"""

from __future__ import annotations

from lava_state_local.server import LocalAws, local_aws

__all__ = ["LocalAws", "local_aws"]
