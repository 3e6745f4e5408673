"""What the embedded local AWS adds to moto: a Lambda event-source runner and a TTL sweeper.

moto accepts an event source mapping but cannot invoke a Lambda without
Docker and then drops the stream records, so the local stack never creates
one. :class:`StreamRunner` does the mapping's work in process instead: it
reads each shard from TRIM_HORIZON (or its checkpoint), converts records to
Lambda's event shape, invokes the handler with a batch size and batching
window, honours ``batchItemFailures`` (the lowest failed sequence number
becomes the checkpoint), retries up to a limit, bisects on function errors,
sends what is still failing to a local dead-letter queue in Lambda's
on-failure record shape, and re-acquires an expired shard iterator.

moto never deletes expired items; :class:`TtlSweeper` does, and marks its
deletions so that the runner gives their REMOVE records the TTL service's
``userIdentity``, as DynamoDB does.

The runner does not poll an idle stream: every GetRecords call leaks an
iterator in moto, so it waits for the local server's write signal
(:class:`WriteSignal`) without a timeout, polls again at once only after a
full batch, and polls only slowly when it has no signal.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from lava_state.constants import ATTR_STATE_ID, ATTR_TTL, TTL_SERVICE_PRINCIPAL
from lava_state.naming import realm_from_table_name, table_name

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

LOG = logging.getLogger(__name__)

#: The userIdentity DynamoDB puts on REMOVE records caused by TTL expiry.
TTL_USER_IDENTITY = {"type": "Service", "principalId": TTL_SERVICE_PRINCIPAL}
LOCAL_ACCOUNT = "123456789012"  # moto's default account

Handler = Callable[[dict[str, Any], Any], Any]


class WriteSignal:
    """A generation counter bumped on every DynamoDB write the local server handles."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._generation = 0

    @property
    def generation(self) -> int:
        """The number of writes signalled so far."""
        with self._condition:
            return self._generation

    def notify(self) -> None:
        """A write happened."""
        with self._condition:
            self._generation += 1
            self._condition.notify_all()

    def wait(
        self, since: int, timeout: float | None = None, *, cancel: threading.Event | None = None
    ) -> bool:
        """Wait until a write after generation ``since`` (or ``cancel`` is set).

        Returns False on timeout. ``timeout`` None waits as long as it takes.
        """

        def done() -> bool:
            return self._generation != since or (cancel is not None and cancel.is_set())

        with self._condition:
            return self._condition.wait_for(done, timeout)

    def wake(self) -> None:
        """Wake the waiters to look at their ``cancel`` events; no write is signalled.

        Waiters whose event is not set keep waiting: one runner's stop does not
        make the others poll.
        """
        with self._condition:
            self._condition.notify_all()


class TtlMarks:
    """The deletions the TTL sweeper made, so their REMOVE records can say so."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._marks: set[tuple[str, str, str]] = set()

    def mark(self, table: str, state_id: str, ttl: str) -> None:
        """The sweeper is about to delete this item."""
        with self._lock:
            self._marks.add((table, state_id, ttl))

    def unmark(self, table: str, state_id: str, ttl: str) -> None:
        """The sweeper did not delete it after all (refreshed meanwhile)."""
        with self._lock:
            self._marks.discard((table, state_id, ttl))

    def consume(self, table: str, old_image: Mapping[str, Any]) -> bool:
        """True (once) if the REMOVE of this old image was the sweeper's."""
        state_id = old_image.get(ATTR_STATE_ID, {}).get("S")
        ttl = old_image.get(ATTR_TTL, {}).get("N")
        if state_id is None or ttl is None:
            return False
        key = (table, state_id, ttl)
        with self._lock:
            if key in self._marks:
                self._marks.discard(key)
                return True
        return False


# ----------------------------------------------------------------------------- event shape


def _lambda_attribute(av: Mapping[str, Any]) -> dict[str, Any]:
    """botocore's attribute value (bytes for binary) as Lambda delivers it (base64 text)."""
    ((kind, value),) = av.items()
    if kind == "B":
        return {"B": base64.b64encode(value).decode("ascii")}
    if kind == "BS":
        return {"BS": [base64.b64encode(v).decode("ascii") for v in value]}
    if kind == "M":
        return {"M": {k: _lambda_attribute(v) for k, v in value.items()}}
    if kind == "L":
        return {"L": [_lambda_attribute(v) for v in value]}
    return {kind: value}


def to_lambda_record(
    record: Mapping[str, Any], *, stream_arn: str, ttl_deletion: bool = False
) -> dict[str, Any]:
    """A GetRecords record in the shape Lambda's event source mapping delivers.

    ``ApproximateCreationDateTime`` becomes epoch seconds, binary attributes
    base64 text, and the record gains ``eventSourceARN`` (and the TTL
    service's ``userIdentity`` for a TTL deletion).
    """
    dynamodb = dict(record["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = created.timestamp()
    for image in ("Keys", "NewImage", "OldImage"):
        if image in dynamodb:
            dynamodb[image] = {k: _lambda_attribute(v) for k, v in dynamodb[image].items()}
    result = {
        "eventID": record.get("eventID"),
        "eventName": record.get("eventName"),
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion"),
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }
    if ttl_deletion:
        result["userIdentity"] = dict(TTL_USER_IDENTITY)
    return result


@dataclass(frozen=True)
class LocalLambdaContext:
    """The parts of Lambda's context object handlers and Powertools read."""

    function_name: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 128
    function_version: str = "$LATEST"

    @property
    def invoked_function_arn(self) -> str:
        """The function's ARN in the local account."""
        return f"arn:aws:lambda:us-east-1:{LOCAL_ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        """Local invocations have no deadline."""
        return 900_000


# ----------------------------------------------------------------------------- the runner


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

    Start with :meth:`start`, stop with :meth:`stop` (``LocalAws`` does both).
    """

    def __init__(
        self,
        table: str,
        *,
        handler: Handler,
        dynamodb: Any,
        streams: Any,
        sqs: Any,
        settings: RunnerSettings | None = None,
        signal: WriteSignal | None = None,
        marks: TtlMarks | None = None,
        function_name: str = "lava-state-stream-processor",
    ) -> None:
        self.table = table
        self.settings = settings or RunnerSettings()
        self.stats = RunnerStats()
        self._handler = handler
        self._dynamodb = dynamodb
        self._streams = streams
        self._sqs = sqs
        self._signal = signal
        self._marks = marks or TtlMarks()
        self._function_name = function_name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stream_arn = str(dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"])
        # Named as the realm stack names it (deploy/lava-state.yaml).
        queue = f"lava-state-{realm_from_table_name(table)}-stream-dlq"
        self.dlq_url = str(sqs.create_queue(QueueName=queue)["QueueUrl"])
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
            if self._signal is not None:
                # No timeout: every GetRecords leaks an iterator in moto, so an
                # idle stream is not polled at all. stop() wakes this wait.
                woken = self._signal.wait(since, cancel=self._stop)
            else:
                woken = not self._stop.wait(self.settings.idle_poll)
            if woken and self.settings.batching_window:
                self._stop.wait(self.settings.batching_window)

    def poll_once(self) -> int:
        """Read every open shard once and invoke the handler on what was read; returns the count."""
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
        for shard in description["Shards"]:
            shard_id = shard["ShardId"]
            if shard_id not in self._iterators and shard_id not in self._closed:
                self._iterators[shard_id] = None
        self._rediscover = False

    def _new_iterator(self, shard_id: str) -> str:
        checkpoint = self._checkpoints.get(shard_id)
        kwargs: dict[str, str] = {"ShardIteratorType": "TRIM_HORIZON"}
        if checkpoint is not None:
            kwargs = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": checkpoint}
        response = self._streams.get_shard_iterator(
            StreamArn=self.stream_arn, ShardId=shard_id, **kwargs
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
        records = list(response.get("Records", []))
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
            failed = _failed_identifiers(response)
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
        delay = min(1.0, self.settings.retry_backoff * 2 ** (retries - 1))
        self._stop.wait(random.uniform(delay / 2, delay))  # noqa: S311 - jitter, not crypto

    def _dead_letter(
        self, shard_id: str, batch: list[dict[str, Any]], attempts: int, error: str | None
    ) -> None:
        """Send the batch's description to the DLQ, as Lambda's on-failure destination does.

        Like Lambda, the message describes the batch (shard and sequence
        range); the records stay in the stream for 24 hours.
        """
        self.stats.dead_lettered += len(batch)
        first, last = batch[0]["dynamodb"], batch[-1]["dynamodb"]
        body = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": LocalLambdaContext(self._function_name).invoked_function_arn,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": attempts,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": error,
            },
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(first.get("ApproximateCreationDateTime")),
                "approximateArrivalOfLastRecord": _iso(last.get("ApproximateCreationDateTime")),
                "batchSize": len(batch),
                "streamArn": self.stream_arn,
            },
        }
        LOG.error(
            "stream runner for %s: %d records (%s..%s) sent to the dead-letter queue",
            self.table,
            len(batch),
            first["SequenceNumber"],
            last["SequenceNumber"],
        )
        self._sqs.send_message(QueueUrl=self.dlq_url, MessageBody=json.dumps(body))


def _iso(epoch: object) -> str | None:
    if isinstance(epoch, int | float):
        return datetime.fromtimestamp(epoch, UTC).isoformat()
    return None


def _failed_identifiers(response: object) -> list[str]:
    if not isinstance(response, dict):
        return []
    failures = response.get("batchItemFailures") or []
    return [str(f.get("itemIdentifier")) for f in failures if isinstance(f, dict)]


# ----------------------------------------------------------------------------- TTL sweeper


class TtlSweeper:
    """Deletes expired items, as DynamoDB's TTL service does (but within seconds).

    Each deletion is conditional on the item still being expired, so a put
    that refreshed the TTL meanwhile wins, and is marked so the runner reports
    its REMOVE as the TTL service's.
    """

    def __init__(
        self,
        *,
        dynamodb: Any,
        marks: TtlMarks,
        realms: Iterable[str] = (),
        interval: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._dynamodb = dynamodb
        self._marks = marks
        self._tables = [table_name(realm) for realm in realms]
        self.interval = interval
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.deleted = 0

    def start(self) -> TtlSweeper:
        """Sweep every ``interval`` seconds in a daemon thread."""
        self._thread = threading.Thread(
            target=self._run, name="lava-state-ttl-sweeper", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current sweep."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sweep_once()
            except (ClientError, BotoCoreError):
                if not self._stop.is_set():
                    LOG.exception("TTL sweeper: sweep failed")

    def tables(self) -> list[str]:
        """The tables swept: the realms given, else every table with TTL on ``ttl``."""
        if self._tables:
            return list(self._tables)
        names = self._dynamodb.list_tables().get("TableNames", [])
        return [
            name
            for name in names
            if self._dynamodb.describe_time_to_live(TableName=name)
            .get("TimeToLiveDescription", {})
            .get("AttributeName")
            == ATTR_TTL
        ]

    def sweep_once(self) -> int:
        """Delete what has expired now; returns how many items were deleted."""
        deleted = 0
        now = str(int(self._clock()))
        for table in self.tables():
            pages = self._dynamodb.get_paginator("scan").paginate(
                TableName=table,
                FilterExpression="#ttl < :now",
                ProjectionExpression="#sid, #ttl",
                ExpressionAttributeNames={"#ttl": ATTR_TTL, "#sid": ATTR_STATE_ID},
                ExpressionAttributeValues={":now": {"N": now}},
            )
            for page in pages:
                for item in page.get("Items", []):
                    deleted += self._delete(table, item, now)
        self.deleted += deleted
        return deleted

    def _delete(self, table: str, item: Mapping[str, Any], now: str) -> int:
        state_id, ttl = item[ATTR_STATE_ID]["S"], item[ATTR_TTL]["N"]
        # Mark first: the runner may read the REMOVE before delete_item returns.
        self._marks.mark(table, state_id, ttl)
        try:
            self._dynamodb.delete_item(
                TableName=table,
                Key={ATTR_STATE_ID: {"S": state_id}},
                ConditionExpression="#ttl < :now",
                ExpressionAttributeNames={"#ttl": ATTR_TTL},
                ExpressionAttributeValues={":now": {"N": now}},
            )
        except ClientError as exc:
            self._marks.unmark(table, state_id, ttl)
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return 0  # refreshed since the scan: not expired any more
            raise
        return 1
