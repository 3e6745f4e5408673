"""Change events to SNS: message building, PublishBatch packing and per-entry failures.

Retries have one owner per failure class: botocore's standard mode retries a
whole PublishBatch call that was throttled or failed with a 5xx; entries that
fail *inside* a successful response are retried here, with the bounded,
jittered application policy, unless SNS says the sender is at fault
(a validation error, which retrying cannot fix).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from lava_state import aws
from lava_state.constants import (
    MISSING_TOPIC_CACHE_MAX,
    SNS_MAX_BATCH_ENTRIES,
    SNS_MAX_GROUP_ID,
    SNS_MAX_PAYLOAD_BYTES,
)
from lava_state.errors import ChangeNotPublished
from lava_state.retry import batch_rounds

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from mypy_boto3_sns import SNSClient

    from lava_state.events import ChangeEvent, ChangeMessage

# SNS FIFO group ids allow letters, digits and ASCII punctuation.
_GROUP_ID_SAFE = re.compile(r"[A-Za-z0-9!-/:-@\[-`{-~]+")
_TOPIC_NOT_FOUND = frozenset({"NotFound", "NotFoundException"})


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One change notification bound for one topic."""

    position: int  # the record's index in the Lambda batch (stream order)
    state_id: str
    sequence: str
    entry: dict[str, Any]  # a PublishBatchRequestEntry
    size: int  # bytes SNS counts against its 256 KiB limits


@dataclass
class TopicResult:
    """What happened when one topic's notifications were published."""

    topic_arn: str
    calls: int = 0
    published: int = 0
    missing: bool = False
    failures: dict[int, ChangeNotPublished] = field(default_factory=dict)
    sent: set[int] = field(default_factory=set)  # positions SNS took


def message_group_id(state_id: str) -> str:
    """The FIFO MessageGroupId of a state_id: the id itself when SNS accepts it, else a hash."""
    if len(state_id) <= SNS_MAX_GROUP_ID and _GROUP_ID_SAFE.fullmatch(state_id):
        return state_id
    import hashlib  # rarely needed: start-up time counts

    return "sha256-" + hashlib.sha256(state_id.encode("utf-8", "surrogatepass")).hexdigest()


def _attribute(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}


def _without_value(message: ChangeMessage, reason: str) -> str:
    """The message's body with its value left out, saying why."""
    message.pop("value", None)
    message["value_omitted"] = True
    message["value_omitted_reason"] = reason
    return json.dumps(message, separators=(",", ":"))


def build_outgoing(event: ChangeEvent, *, position: int, fifo: bool) -> Outgoing:
    """The PublishBatch entry for one event.

    The value is left out (``value_omitted: true``, ``value_omitted_reason``)
    when the message would exceed SNS's size limit or the value holds numbers
    JSON cannot carry (NaN, Infinity); subscribers then read the item.
    """
    attributes = {"state_id": _attribute(event.state_id), "event": _attribute(event.kind.value)}
    if event.type is not None:
        attributes["type"] = _attribute(event.type.value)
    # Names, data types and values count against the limit, as SNS counts them.
    attributes_size = sum(
        len(name) + len("String") + len(av["StringValue"].encode())
        for name, av in attributes.items()
    )
    message = event.to_message()
    try:
        # ASCII-only JSON: its length is its size in bytes. NaN and Infinity
        # are not JSON (a json item's text may hold them, or overflow a float).
        body = json.dumps(message, separators=(",", ":"), allow_nan=False)
    except ValueError:
        body = _without_value(message, "not representable in JSON")
    if len(body) + attributes_size > SNS_MAX_PAYLOAD_BYTES and "value" in message:
        body = _without_value(message, "too large")
    entry: dict[str, Any] = {
        "Id": str(position),
        "Message": body,
        "MessageAttributes": attributes,
    }
    if fifo:
        entry["MessageGroupId"] = message_group_id(event.state_id)
        # Sequence numbers are unique per stream: a redelivered record is deduplicated.
        entry["MessageDeduplicationId"] = event.sequence[-SNS_MAX_GROUP_ID:]
    return Outgoing(
        position=position,
        state_id=event.state_id,
        sequence=event.sequence,
        entry=entry,
        size=len(body) + attributes_size,
    )


def chunks(outgoing: Sequence[Outgoing]) -> list[list[Outgoing]]:
    """Split into PublishBatch calls: at most 10 entries and 256 KiB each, order kept."""
    result: list[list[Outgoing]] = []
    current: list[Outgoing] = []
    size = 0
    for item in outgoing:
        if _full(len(current), size, item):
            result.append(current)
            current, size = [], 0
        current.append(item)
        size += item.size
    if current:
        result.append(current)
    return result


def _full(count: int, size: int, item: Outgoing) -> bool:
    """True when a PublishBatch of ``count`` entries and ``size`` bytes cannot take ``item``."""
    return count > 0 and (
        count == SNS_MAX_BATCH_ENTRIES or size + item.size > SNS_MAX_PAYLOAD_BYTES
    )


def _next_chunk(
    outgoing: Sequence[Outgoing], start: int, failed_from: dict[str, int], result: TopicResult
) -> tuple[list[Outgoing], int]:
    """The next PublishBatch from ``outgoing[start:]``, and where the one after starts.

    Changes of ids that failed so far are held back: reported in ``result``, not sent.
    """
    chunk: list[Outgoing] = []
    size = 0
    while start < len(outgoing):
        item = outgoing[start]
        first_failure = failed_from.get(item.state_id)
        if first_failure is not None and item.position > first_failure:
            result.failures[item.position] = held_back(item.sequence, item.state_id)
        elif _full(len(chunk), size, item):
            break
        else:
            chunk.append(item)
            size += item.size
        start += 1
    return chunk, start


def held_back(sequence: str, state_id: str) -> ChangeNotPublished:
    """The failure of a change not sent because an earlier change of its id was not published."""
    return ChangeNotPublished(
        f"change {sequence} of {state_id!r} held back: an earlier change of it was not published"
    )


class TopicPublisher:
    """Publishes notifications to topics that exist, remembering for a while those that don't.

    A missing topic means nobody subscribed to that state_id: it is not an
    error and is not retried. "Missing" is remembered for
    ``missing_topic_ttl`` seconds so that a new subscriber starts receiving
    within that time; existing topics need no lookup at all (the publish is
    the check). The memory is bounded: past ``missing_topic_cache_size``
    topics, expired entries are pruned (then the oldest, if need be).
    """

    def __init__(
        self,
        *,
        sns: SNSClient,
        missing_topic_ttl: float,
        clock: Callable[[], float] = time.monotonic,
        missing_topic_cache_size: int = MISSING_TOPIC_CACHE_MAX,
    ) -> None:
        self._sns = sns
        self._missing_ttl = missing_topic_ttl
        self._clock = clock
        self._missing_max = missing_topic_cache_size
        self._missing_until: dict[str, float] = {}

    def known_missing(self, topic_arn: str) -> bool:
        """True while the topic is remembered as missing."""
        until = self._missing_until.get(topic_arn)
        if until is None:
            return False
        if self._clock() < until:
            return True
        # pop, not del: a local runner per realm may share one processor.
        self._missing_until.pop(topic_arn, None)
        return False

    def missing_topics_cached(self) -> int:
        """How many topics are remembered as missing (expired ones included until pruned)."""
        return len(self._missing_until)

    def remember_missing(self, topic_arn: str) -> None:
        """Remember the topic as missing for ``missing_topic_ttl`` seconds, as when a publish
        to it found no topic: nothing is published to it meanwhile."""
        now = self._clock()
        cache = self._missing_until
        if len(cache) >= self._missing_max:
            # A long-lived Lambda sees many ids nobody subscribed to: bound the memory.
            for arn, until in list(cache.items()):
                if until <= now:
                    cache.pop(arn, None)
            while len(cache) >= self._missing_max:
                cache.pop(next(iter(cache)), None)  # the oldest remembered
        cache[topic_arn] = now + self._missing_ttl

    def publish(
        self, topic_arn: str, outgoing: Sequence[Outgoing], *, failed_from: dict[str, int]
    ) -> TopicResult:
        """Publish ``outgoing`` (in stream order) to one topic, one PublishBatch chunk at a time.

        ``failed_from`` maps a state_id to the position of its earliest change
        that could not be published. Before each chunk, the later changes of
        those ids are held back (reported failed, not sent) so none overtakes
        the failed one; it is updated with this topic's failures chunk by chunk.

        Returns the result; failures are reported in it, never raised.
        """
        result = TopicResult(topic_arn)
        if self.known_missing(topic_arn):
            result.missing = True
            return result
        ids = {item.position: item.state_id for item in outgoing}
        start = 0
        while start < len(outgoing):
            chunk, start = _next_chunk(outgoing, start, failed_from, result)
            if not chunk:
                break
            try:
                self._send(topic_arn, chunk, result)
            except ChangeNotPublished as exc:
                if exc.aws_code in _TOPIC_NOT_FOUND and result.published == 0:
                    self.remember_missing(topic_arn)
                    # Nobody subscribed: nothing held back here is missed by anyone.
                    result.failures.clear()
                    result.missing = True
                    return result
                # The call itself failed after botocore's retries: the rest of the
                # topic's changes would meet the same fate.
                for item in (*chunk, *outgoing[start:]):
                    if item.position not in result.sent:
                        result.failures.setdefault(item.position, exc)
                start = len(outgoing)
            for position in result.failures:
                state_id = ids[position]
                if position < failed_from.get(state_id, position + 1):
                    failed_from[state_id] = position
        return result

    def _send(self, topic_arn: str, chunk: list[Outgoing], result: TopicResult) -> None:
        """One PublishBatch call, plus bounded retries of the entries that may pass.

        At most ``APP_RETRY_MAX_ATTEMPTS`` calls in all. A failed entry is not
        retried when a later change of its id was published meanwhile, or an
        earlier one was given up: the retry would publish it out of order. It
        is reported failed instead (Lambda redelivers it; consumers drop stale
        changes by sequence).

        Raises:
            ChangeNotPublished: a call itself failed (after botocore's retries).
        """
        pending = {item.entry["Id"]: item for item in chunk}
        latest_sent: dict[str, int] = {}  # state_id -> latest position published
        given_up: dict[str, int] = {}  # state_id -> earliest position not to be retried

        def give_up(item: Outgoing) -> None:
            del pending[item.entry["Id"]]
            given_up[item.state_id] = min(given_up.get(item.state_id, item.position), item.position)

        def attempt(pending: dict[str, Outgoing]) -> dict[str, Outgoing] | None:
            result.calls += 1
            try:
                response = self._sns.publish_batch(
                    TopicArn=topic_arn,
                    PublishBatchRequestEntries=[item.entry for item in pending.values()],  # type: ignore[misc]
                )
            except (ClientError, BotoCoreError) as exc:
                translated = aws.translate_client_error(exc, what=f"publish to {topic_arn}")
                code = getattr(translated, "aws_code", None)
                raise ChangeNotPublished(str(translated), aws_code=code) from exc
            for ok in response.get("Successful", []):
                item = pending.pop(ok["Id"])
                result.failures.pop(item.position, None)
                result.sent.add(item.position)
                result.published += 1
                latest_sent[item.state_id] = max(latest_sent.get(item.state_id, -1), item.position)
            for failed in response.get("Failed", []):
                item = pending[failed["Id"]]
                code = failed.get("Code", "")
                sender_fault = bool(failed.get("SenderFault"))
                result.failures[item.position] = ChangeNotPublished(
                    f"SNS refused change {item.sequence} of {item.state_id!r} on {topic_arn}: "
                    f"{code}: {failed.get('Message', '')}",
                    aws_code=code,
                    sender_fault=sender_fault,
                )
                if sender_fault:
                    give_up(item)  # a validation error: never retried
            changed = True
            while changed:  # giving one up may rule out retrying a later one of its id
                changed = False
                for item in list(pending.values()):
                    if latest_sent.get(item.state_id, -1) > item.position or (
                        given_up.get(item.state_id, item.position) < item.position
                    ):
                        give_up(item)
                        changed = True
            return pending or None  # entries that may pass: sent again

        # What still fails after the bounded attempts is reported per record.
        rounds = batch_rounds(attempt, pending, what=f"publish to {topic_arn}")
        if rounds.error is not None:
            raise rounds.error
