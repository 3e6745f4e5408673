"""The local Lambda event-source runner: a DynamoDB stream to a handler, in process.

moto accepts an event source mapping but cannot invoke a Lambda without
Docker and then drops the stream records, so the local stack never creates
one. :class:`StreamRunner` does the mapping's work in process instead: it
reads each shard from TRIM_HORIZON (or its checkpoint), converts records to
Lambda's event shape, invokes the handler with a batch size and batching
window, honours ``batchItemFailures`` (the lowest failed sequence number
becomes the checkpoint), retries up to a limit, bisects on function errors,
sends what is still failing to a local dead-letter queue in Lambda's
on-failure record shape, and re-acquires an expired shard iterator.

The runner does not poll an idle stream: every GetRecords call leaks an
iterator in moto, so it waits for the local server's write signal
(:class:`~lava_state_local.signal.WriteSignal`) without a timeout, polls
again at once only after a full batch, and polls only slowly when it has no
signal.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from lava_state.naming import realm_from_table_name, stream_dlq_name
from lava_state.retry import backoff
from lava_state_local.lambda_event import (
    LocalLambdaContext,
    failed_identifiers,
    on_failure_record,
    to_lambda_record,
)
from lava_state_local.sweeper import TtlMarks

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_sqs import SQSClient

    from lava_state_local.signal import WriteSignal

LOG = logging.getLogger(__name__)

#: A Lambda handler: (event, context) -> response.
Handler = Callable[[dict[str, Any], Any], Any]

_MAX_RETRY_BACKOFF_S = 1.0


@dataclass(frozen=True, kw_only=True)
class RunnerSettings:
    """The event source mapping's settings, with Lambda's names in the comments."""

    batch_size: int = 100  # BatchSize (Lambda's default for streams)
    batching_window: float = 0.0  # MaximumBatchingWindowInSeconds
    max_retries: int = 3  # MaximumRetryAttempts
    bisect_on_error: bool = True  # BisectBatchOnFunctionError
    retry_backoff: float = 0.05  # first retry delay, doubled per retry, jittered, capped at 1 s
    idle_poll: float = 2.0  # seconds between polls when no write is signalled

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= 10_000:
            raise ValueError("batch_size must be between 1 and 10000")
        if self.max_retries < 0 or self.batching_window < 0 or self.idle_poll <= 0:
            raise ValueError("max_retries and batching_window must be >= 0, idle_poll > 0")

    @classmethod
    def from_mapping(cls, properties: Mapping[str, Any]) -> RunnerSettings:
        """The settings of an ``AWS::Lambda::EventSourceMapping``'s resolved properties
        (Lambda's defaults for those not given)."""
        default = cls()
        return cls(
            batch_size=int(properties.get("BatchSize", default.batch_size)),
            batching_window=float(
                properties.get("MaximumBatchingWindowInSeconds", default.batching_window)
            ),
            max_retries=int(properties.get("MaximumRetryAttempts", default.max_retries)),
            bisect_on_error=bool(
                properties.get("BisectBatchOnFunctionError", default.bisect_on_error)
            ),
        )


@dataclass
class RunnerStats:
    """Counters for tests, benchmarks and `local up` output."""

    invocations: int = 0
    records: int = 0
    function_errors: int = 0
    partial_failures: int = 0
    dead_lettered: int = 0
    iterator_renewals: int = 0


class StreamRunner:
    """Lambda's DynamoDB Streams event source mapping, in process, for one table.

    Start with :meth:`start`, stop with :meth:`stop` (``LocalAws`` does both),
    or drive it by hand with :meth:`poll_once`.
    """

    def __init__(
        self,
        table: str,
        *,
        handler: Handler,
        dynamodb: DynamoDBClient,
        streams: DynamoDBStreamsClient,
        sqs: SQSClient,
        settings: RunnerSettings | None = None,
        signal: WriteSignal | None = None,
        marks: TtlMarks | None = None,
        function_name: str = "lava-state-stream-processor",
    ) -> None:
        self.table = table
        self.settings = settings or RunnerSettings()
        self.stats = RunnerStats()
        self._handler = handler
        self._streams = streams
        self._sqs = sqs
        self._signal = signal
        self._marks = marks or TtlMarks()
        self._function_name = function_name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # The write generation the runner waits to pass, None while it polls:
        # what wait_idle() looks at.
        self._idle = threading.Condition()
        self._waiting_since: int | None = None
        self.stream_arn = str(dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"])
        # The realm stack's (deploy/lava-state.yaml), deployed by LocalAws.provision_realm.
        self.dlq_url = str(
            sqs.get_queue_url(QueueName=stream_dlq_name(realm_from_table_name(table)))["QueueUrl"]
        )
        # Per shard: the next iterator (None: acquire one after the checkpoint), and
        # the last sequence number handed on (checkpoint). Closed shards are never
        # read again (moto keeps listing them).
        self._iterators: dict[str, str | None] = {}
        self._checkpoints: dict[str, str] = {}
        self._closed: set[str] = set()
        self._rediscover = True
        # Set by a poll that may have left records behind (a full batch, a closed
        # shard with children): the runner polls again at once, not on a write.
        self._more = False

    # -- lifecycle

    @property
    def is_running(self) -> bool:
        """True while the polling thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> StreamRunner:
        """Start polling in a daemon thread."""
        self._thread = threading.Thread(
            target=self._run, name=f"lava-state-stream-runner-{self.table}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current invocation."""
        self._stop.set()
        if self._signal is not None:
            self._signal.wake()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until the runner has polled after every write signalled so far and is
        waiting for the next one (without a write signal: until it waits to poll again).

        For tests and benchmarks that must know the runner is quiet, instead of
        sleeping. Returns False if that did not happen within ``timeout`` seconds.
        """

        def idle() -> bool:
            since = self._waiting_since
            if since is None:
                return False
            return self._signal is None or since == self._signal.generation

        with self._idle:
            return self._idle.wait_for(idle, timeout)

    def _set_waiting(self, since: int | None) -> None:
        with self._idle:
            self._waiting_since = since
            self._idle.notify_all()

    # -- polling

    def _run(self) -> None:
        while not self._stop.is_set():
            since = self._signal.generation if self._signal is not None else 0
            try:
                self.poll_once()
            except Exception:
                # Whatever went wrong (moto, the handler's surroundings, a bug),
                # the thread must not die silently: log, back off, go on.
                if self._stop.is_set():
                    return
                LOG.exception("stream runner for %s: polling failed", self.table)
                self._stop.wait(self.settings.idle_poll)
                continue
            if self._more:
                continue  # a full batch (or a closed shard): more may be waiting
            self._set_waiting(since)
            try:
                if self._signal is not None:
                    # No timeout: every GetRecords leaks an iterator in moto, so an
                    # idle stream is not polled at all. stop() wakes this wait.
                    woken = self._signal.wait(since, cancel=self._stop)
                else:
                    woken = not self._stop.wait(self.settings.idle_poll)
            finally:
                self._set_waiting(None)
            if woken and self.settings.batching_window:
                self._stop.wait(self.settings.batching_window)

    def poll_once(self) -> int:
        """Read every open shard once and invoke the handler on what was read; returns the count.

        Raises:
            botocore.exceptions.ClientError: a DynamoDB Streams call failed (an
                expired iterator is renewed, not raised).
        """
        self._more = False
        if self._rediscover:
            self._discover_shards()
        total = 0
        for shard_id in list(self._iterators):
            records = self._get_records(shard_id)
            if records:
                total += len(records)
                self._deliver(shard_id, records)
        return total

    def _discover_shards(self) -> None:
        description = self._streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        for shard in description.get("Shards", []):
            shard_id = shard["ShardId"]
            if shard_id not in self._iterators and shard_id not in self._closed:
                self._iterators[shard_id] = None
        self._rediscover = False

    def _new_iterator(self, shard_id: str) -> str:
        checkpoint = self._checkpoints.get(shard_id)
        if checkpoint is None:
            response = self._streams.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
            )
        else:
            response = self._streams.get_shard_iterator(
                StreamArn=self.stream_arn,
                ShardId=shard_id,
                ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                SequenceNumber=checkpoint,
            )
        return str(response["ShardIterator"])

    def _get_records(self, shard_id: str) -> list[dict[str, Any]]:
        iterator = self._iterators.get(shard_id)
        if iterator is None:
            iterator = self._iterators[shard_id] = self._new_iterator(shard_id)
        try:
            response = self._streams.get_records(
                ShardIterator=iterator, Limit=self.settings.batch_size
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ExpiredIteratorException":
                raise
            # Iterators expire after 15 minutes: start again after the checkpoint,
            # and read at once (no write may come to signal what is waiting).
            self.stats.iterator_renewals += 1
            iterator = self._iterators[shard_id] = self._new_iterator(shard_id)
            response = self._streams.get_records(
                ShardIterator=iterator, Limit=self.settings.batch_size
            )
        records: list[dict[str, Any]] = [dict(r) for r in response.get("Records", [])]
        next_iterator = response.get("NextShardIterator")
        if next_iterator is None:
            # A closed shard: never read again; its children appear in the next description.
            del self._iterators[shard_id]
            self._closed.add(shard_id)
            self._rediscover = self._more = True
        else:
            self._iterators[shard_id] = next_iterator
        if len(records) >= self.settings.batch_size:
            self._more = True
        return records

    # -- invoking

    def _deliver(self, shard_id: str, records: list[dict[str, Any]]) -> None:
        batch = [self._lambda_record(record) for record in records]
        try:
            self._invoke(shard_id, batch, retries=0)
        except BaseException:
            # Not handed on (e.g. the dead-letter queue refused it): keep the
            # checkpoint and read the batch again from it next time.
            self._iterators[shard_id] = None
            raise
        if self._stop.is_set():
            return  # stopped mid-batch: not all of it was handed on
        self._checkpoints[shard_id] = batch[-1]["dynamodb"]["SequenceNumber"]

    def _lambda_record(self, record: dict[str, Any]) -> dict[str, Any]:
        old_image = record.get("dynamodb", {}).get("OldImage")
        ttl_deletion = (
            record.get("eventName") == "REMOVE"
            and old_image is not None
            and self._marks.consume(self.table, old_image)
        )
        return to_lambda_record(record, stream_arn=self.stream_arn, ttl_deletion=ttl_deletion)

    def _invoke(self, shard_id: str, batch: list[dict[str, Any]], *, retries: int) -> None:
        """Invoke until the batch succeeds, retrying, bisecting and dead-lettering like Lambda."""
        while batch and not self._stop.is_set():
            self.stats.invocations += 1
            self.stats.records += len(batch)
            try:
                response = self._handler(
                    {"Records": batch}, LocalLambdaContext(function_name=self._function_name)
                )
            except Exception:
                self.stats.function_errors += 1
                LOG.warning(
                    "stream runner for %s: function error on %d records",
                    self.table,
                    len(batch),
                    exc_info=True,
                )
                if retries >= self.settings.max_retries:
                    self._dead_letter(shard_id, batch, retries + 1, "Unhandled")
                    return
                retries += 1
                if self.settings.bisect_on_error and len(batch) > 1:
                    middle = len(batch) // 2
                    self._invoke(shard_id, batch[:middle], retries=retries)
                    self._invoke(shard_id, batch[middle:], retries=retries)
                    return
                self._backoff(retries)
                continue
            failed = failed_identifiers(response)
            if not failed:
                return
            self.stats.partial_failures += 1
            sequences = [record["dynamodb"]["SequenceNumber"] for record in batch]
            # Lambda checkpoints at the lowest failed sequence number; an
            # identifier it cannot find fails the whole batch.
            positions = [sequences.index(s) if s in sequences else 0 for s in failed]
            batch = batch[min(positions) :]
            if retries >= self.settings.max_retries:
                self._dead_letter(shard_id, batch, retries + 1, None)
                return
            retries += 1
            self._backoff(retries)

    def _backoff(self, retries: int) -> None:
        # stop() cuts the wait short.
        self._stop.wait(
            backoff(retries, base=self.settings.retry_backoff, cap=_MAX_RETRY_BACKOFF_S)
        )

    def _dead_letter(
        self, shard_id: str, batch: list[dict[str, Any]], attempts: int, error: str | None
    ) -> None:
        """Send the batch's description to the DLQ, as Lambda's on-failure destination does."""
        self.stats.dead_lettered += len(batch)
        body = on_failure_record(
            batch,
            shard_id=shard_id,
            stream_arn=self.stream_arn,
            function_arn=LocalLambdaContext(self._function_name).invoked_function_arn,
            attempts=attempts,
            error=error,
        )
        LOG.error(
            "stream runner for %s: %d records (%s..%s) sent to the dead-letter queue",
            self.table,
            len(batch),
            batch[0]["dynamodb"]["SequenceNumber"],
            batch[-1]["dynamodb"]["SequenceNumber"],
        )
        self._sqs.send_message(QueueUrl=self.dlq_url, MessageBody=json.dumps(body))
