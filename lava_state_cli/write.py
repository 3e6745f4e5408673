"""The commands that write: ``put`` and ``rm``.

``put`` runs once per call in shell payloads: this module imports nothing beyond
what the put itself needs (the publisher, imported when the command runs).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from lava_state.constants import ENV_JOB_ID, PUBLISHER_CLI
from lava_state_cli.parser import client_options, parse_params, parse_value

if TYPE_CHECKING:
    import argparse


def cmd_put(args: argparse.Namespace) -> int:
    """``put ID (-p KEY=VALUE ... | -v VALUE) [--if-version N | --if-absent]``.

    Raises:
        UsageError: a bad ``-p`` pair.
        LavaStateError: the write was refused or failed (a lost condition included).
    """
    from publisher.publisher import StatePublisher

    value = parse_params(args.param) if args.param is not None else parse_value(args.value)
    label = args.publisher or os.environ.get(ENV_JOB_ID) or PUBLISHER_CLI
    publisher = StatePublisher(**client_options(args), publisher=label)
    publisher.put(
        args.state_id,
        value,
        type=args.type,
        ttl=args.ttl,
        kms_key=args.kms_key,
        if_version=args.if_version,
        if_absent=args.if_absent,
    )
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    """``rm ID...``: delete each item (an absent one is no error).

    Raises:
        LavaStateError: a delete failed; the ids before it are deleted.
    """
    from publisher.publisher import StatePublisher

    publisher = StatePublisher(**client_options(args))
    for state_id in args.state_ids:
        publisher.delete(state_id)
    return 0
