"""The embedded local AWS: moto's server in process, the stream runner, the TTL sweeper, the demo.

An edge above the components, installed with the ``local`` extra
(``pip install 'lava-state[local]'``); nothing below it imports it.

- :mod:`lava_state_local.server`: :class:`LocalAws` (moto's server, requests
  serialised, each realm deploy/lava-state.yaml deployed into it) and :func:`local_aws`.
- :mod:`lava_state_local.template`: the template, what the embedded AWS leaves
  out of it, and its values for a stack's parameters.
- :mod:`lava_state_local.runner`: :class:`StreamRunner`, Lambda's event
  source mapping in process.
- :mod:`lava_state_local.lambda_event`: the shapes Lambda hands to a function
  and takes back.
- :mod:`lava_state_local.sweeper`: :class:`TtlSweeper`, DynamoDB's TTL
  deletions within seconds.
- :mod:`lava_state_local.signal`: :class:`WriteSignal`, which lets the
  runners wait for writes instead of polling.
- :mod:`lava_state_local.demo`: ``lava-state demo``.
"""

from __future__ import annotations

from lava_state_local.lambda_event import TTL_USER_IDENTITY, LocalLambdaContext, to_lambda_record
from lava_state_local.runner import Handler, RunnerSettings, RunnerStats, StreamRunner
from lava_state_local.server import LocalAws, local_aws
from lava_state_local.signal import WriteSignal
from lava_state_local.sweeper import TtlMarks, TtlSweeper

__all__ = [
    "TTL_USER_IDENTITY",
    "Handler",
    "LocalAws",
    "LocalLambdaContext",
    "RunnerSettings",
    "RunnerStats",
    "StreamRunner",
    "TtlMarks",
    "TtlSweeper",
    "WriteSignal",
    "local_aws",
    "to_lambda_record",
]
