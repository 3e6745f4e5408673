"""``lava-state redrive``: the stream batches the processor gave up on, through it again.

The realm's dead-letter queue (``lava-state-<realm>-stream-dlq``, the stack's
and the local stack's) holds what Lambda's on-failure destination records: a
description of each batch (stream, shard, sequence range), not its records,
which the stream keeps for 24 hours. ``redrive`` reads each batch back from
the stream and runs the stream processor on it in this process, configured
from the environment as the Lambda is; a batch processed in full is deleted
from the queue, one that fails again stays there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lava_state_cli.errors import CommandFailed
from lava_state_cli.parser import client_options

if TYPE_CHECKING:
    import argparse

    from lava_state.store import StateStore


def cmd_redrive(args: argparse.Namespace) -> int:
    """``redrive [--queue-url URL] [--wait S]``: every dead-lettered batch through the
    processor again; exit 0 when all were processed.

    Raises:
        CommandFailed: a batch failed again (it stays on the queue), or AWS refused a call.
        ConfigurationError: no realm, or the processor's variables are unusable.
    """
    import dataclasses

    from botocore.exceptions import BotoCoreError, ClientError

    from lava_state import aws
    from lava_state.store import StateStore
    from lava_state_local.redrive import redrive
    from stream_processor.config import ProcessorSettings
    from stream_processor.handler import StreamProcessor

    options = client_options(args)
    store = StateStore(options.pop("realm"), **options)
    queue_url = args.queue_url or _dead_letter_queue(store)
    processor = StreamProcessor(
        sns=store.aws.sns,
        settings=dataclasses.replace(ProcessorSettings.from_env(), realm=store.realm),
    )
    streams = aws.get_client("dynamodbstreams", **options)
    try:
        result = redrive(
            dlq_url=queue_url,
            sqs=store.aws.sqs,
            streams=streams,
            handler=processor.handle,
            wait_seconds=args.wait,
        )
    except (BotoCoreError, ClientError) as exc:
        raise CommandFailed(f"redrive from {queue_url}: {exc}") from None
    print(
        f"redriven: {result.messages} batch(es), {result.records} record(s); "
        f"failed again: {result.failed}"
    )
    if result.failed:
        raise CommandFailed(
            f"{result.failed} batch(es) failed again and stay on {queue_url}: "
            "see the processor's log lines above, fix the cause and run redrive again"
        )
    return 0


def _dead_letter_queue(store: StateStore) -> str:
    """The URL of the realm's stream dead-letter queue (named as the stack names it).

    Raises:
        LavaStateError: it does not exist, or SQS refused (translated).
    """
    from lava_state import aws
    from lava_state.naming import stream_dlq_name

    name = stream_dlq_name(store.realm)
    response = aws.call(
        store.aws.sqs.get_queue_url, what=f"find the dead-letter queue {name}", QueueName=name
    )
    return str(response["QueueUrl"])
