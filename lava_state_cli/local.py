"""The commands of the embedded local AWS: ``local up`` and ``demo`` (moto is
imported only when one of them runs)."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from lava_state.constants import ENV_REALM

if TYPE_CHECKING:
    import argparse


def cmd_local_up(args: argparse.Namespace) -> int:
    """``local up [--realm R] [--port P]``: print the export lines, serve until Ctrl-C."""
    import threading

    from lava_state_local.server import local_aws

    realm = args.realm or os.environ.get(ENV_REALM) or "dev"
    # The stream runner and TTL sweeper stand in for Lambda and DynamoDB TTL.
    with local_aws(realm, port=args.port, stream_runner=True, ttl_sweeper=True) as aws:
        for key, value in {**aws.env(), ENV_REALM: realm}.items():
            print(f"export {key}={value}")
        print(
            f"# embedded AWS for realm {realm!r} at {aws.endpoint_url}; Ctrl-C stops it", flush=True
        )
        print(
            "# stream processor: changes go to SNS topics lava-state-<realm>-<state_id>; "
            "expired items are deleted within seconds",
            flush=True,
        )
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("# stopped", file=sys.stderr)
    return 0


def cmd_demo(_: argparse.Namespace) -> int:
    """``demo``: the seed's scenario on an ephemeral local AWS; 0 when every step passed."""
    from lava_state_local.demo import run_demo

    return run_demo()
