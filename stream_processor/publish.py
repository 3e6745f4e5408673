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
    SNS_MAX_BATCH_ENTRIES,
    SNS_MAX_GROUP_ID,
    SNS_MAX_PAYLOAD_BYTES,
)
from lava_state.errors import ChangeNotPublished

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from mypy_boto3_sns import SNSClient

    from lava_state.events import ChangeEvent

# SNS FIFO group ids allow letters, digits and ASCII punctuation.
_GROUP_ID_SAFE = re.compile(r"[A-Za-z0-9!-/:-@\[-`{-~]+")
_TOPIC_NOT_FOUND = frozenset({"NotFound", "NotFoundException"})


class _EntriesToRetry(Exception):
    """Some entries failed inside a 200 response for reasons that may pass."""


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


def message_group_id(state_id: str) -> str:
    """The FIFO MessageGroupId of a state_id: the id itself when SNS accepts it, else a hash."""
    if len(state_id) <= SNS_MAX_GROUP_ID and _GROUP_ID_SAFE.fullmatch(state_id):
        return state_id
    import hashlib  # rarely needed: start-up time counts

    return "sha256-" + hashlib.sha256(state_id.encode("utf-8", "surrogatepass")).hexdigest()


def _attribute(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}


def build_outgoing(event: ChangeEvent, *, position: int, fifo: bool) -> Outgoing:
    """The PublishBatch entry for one event.

    The value is left out (``value_omitted: true``) when the message would
    exceed SNS's size limit; subscribers then read the item.
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
    # ASCII-only JSON: its length is its size in bytes.
    body = json.dumps(message, separators=(",", ":"))
    if len(body) + attributes_size > SNS_MAX_PAYLOAD_BYTES and "value" in message:
        del message["value"]
        message["value_omitted"] = True
        body = json.dumps(message, separators=(",", ":"))
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
        if current and (
            len(current) == SNS_MAX_BATCH_ENTRIES or size + item.size > SNS_MAX_PAYLOAD_BYTES
        ):
            result.append(current)
            current, size = [], 0
        current.append(item)
        size += item.size
    if current:
        result.append(current)
    return result


class TopicPublisher:
    """Publishes notifications to topics that exist, remembering for a while those that don't.

    A missing topic means nobody subscribed to that state_id: it is not an
    error and is not retried. "Missing" is remembered for
    ``missing_topic_ttl`` seconds so that a new subscriber starts receiving
    within that time; existing topics need no lookup at all (the publish is
    the check).
    """

    def __init__(
        self,
        *,
        sns: SNSClient,
        missing_topic_ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sns = sns
        self._missing_ttl = missing_topic_ttl
        self._clock = clock
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

    def publish(
        self, topic_arn: str, outgoing: Sequence[Outgoing], *, failed_from: dict[str, int]
    ) -> TopicResult:
        """Publish ``outgoing`` (in stream order) to one topic.

        ``failed_from`` maps a state_id to the position of its earliest change
        that could not be published; later changes of that id are held back
        (reported failed, not sent) so none overtakes the failed one. It is
        updated with this topic's failures.

        Returns the result; failures are reported in it, never raised.
        """
        result = TopicResult(topic_arn)
        if self.known_missing(topic_arn):
            result.missing = True
            return result
        sendable: list[Outgoing] = []
        for item in outgoing:
            first_failure = failed_from.get(item.state_id)
            if first_failure is not None and item.position > first_failure:
                result.failures[item.position] = ChangeNotPublished(
                    f"change {item.sequence} of {item.state_id!r} held back: an earlier change "
                    "of it was not published"
                )
            else:
                sendable.append(item)
        sent = 0
        for chunk in chunks(sendable):
            try:
                self._send(topic_arn, chunk, result)
            except ChangeNotPublished as exc:
                if exc.aws_code in _TOPIC_NOT_FOUND and sent == 0:
                    self._missing_until[topic_arn] = self._clock() + self._missing_ttl
                    result.missing = True
                    return result
                # The call itself failed after botocore's retries: the rest of the
                # topic's changes would meet the same fate.
                for item in sendable[sent:]:
                    result.failures.setdefault(item.position, exc)
                break
            sent += len(chunk)
        ids = {item.position: item.state_id for item in outgoing}
        for position in result.failures:
            state_id = ids[position]
            if position < failed_from.get(state_id, position + 1):
                failed_from[state_id] = position
        return result

    def _send(self, topic_arn: str, chunk: list[Outgoing], result: TopicResult) -> None:
        """One PublishBatch call (plus bounded retries of entries that may pass)."""
        pending = {item.entry["Id"]: item for item in chunk}

        def attempt() -> None:
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
                result.published += 1
            retry = False
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
                    del pending[failed["Id"]]  # a validation error: never retried
                else:
                    retry = True
            if retry:
                raise _EntriesToRetry

        try:
            attempt()
        except _EntriesToRetry:
            try:
                aws.app_retrying(lambda exc: isinstance(exc, _EntriesToRetry))(attempt)
            except _EntriesToRetry:
                pass  # still failing after the bounded retries: reported per record
            except ChangeNotPublished as exc:
                for item in pending.values():
                    result.failures[item.position] = exc
