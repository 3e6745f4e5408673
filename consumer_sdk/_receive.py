"""The receive side of change notifications: SNS topic -> SQS queue -> ChangeEvent.

The stream processor publishes each change to the SNS topic of its
state_id (and, when enabled, to the realm-wide topic). A subscriber needs a
queue that the topics may send to, subscribed to them; it long-polls the
queue, parses each body into a :class:`~lava_state.events.ChangeEvent`,
deletes what it has handled, and in the end removes what it set up.
:class:`ChangeQueue` does exactly that and nothing more: no ordering, no
de-duplication, no catch-up read (the subscription built on it adds those).

Internal: not part of ``consumer_sdk``'s public names.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Unpack

from lava_state import aws
from lava_state.errors import AwsError, LavaStateError
from lava_state.events import ChangeEvent, decode_message
from lava_state.naming import FIFO_SUFFIX, realm_topic_name, topic_name

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mypy_boto3_sqs.type_defs import MessageTypeDef

LOG = logging.getLogger(__name__)

#: SQS's limits on one ReceiveMessage call.
MAX_WAIT_SECONDS = 20
MAX_MESSAGES = 10
_QUEUE_NAME_MAX = 80  # SQS queue names: letters, digits, '-' and '_', at most 80


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message received from the queue and not yet acknowledged.

    ``body`` is the SQS body as received: the change message itself (raw
    delivery) or SNS's envelope around it. ``attributes`` are the SNS message
    attributes (``state_id``, ``event``, ``type``) from either.
    ``receive_count`` above 1 means SQS delivered it before (not acknowledged
    within the visibility timeout).
    """

    message_id: str
    receipt_handle: str
    body: str
    attributes: Mapping[str, str]
    receive_count: int

    def message(self) -> dict[str, Any]:
        """The change message, JSON-decoded (out of its SNS envelope if it has one).

        Raises:
            InvalidInput: the body is not a JSON object (or an envelope around one).
        """
        return decode_message(self.body)

    def event(self) -> ChangeEvent:
        """The change event the message carries.

        Raises:
            InvalidInput: the body is not a ``lava-state.change/1`` message.
        """
        return ChangeEvent.from_message(self.body)


class ChangeQueue:
    """An SQS queue subscribed to change topics of one realm.

    The queue is the one at ``queue_url`` when given (used as it is, never
    deleted; its policy must already let the topics send to it), else one
    this object creates on first use, named ``queue_name`` or a unique
    ``lava-state-<realm>-sub-<hex>``, with a policy letting its topics send
    to it. :meth:`close` (also on leaving a ``with`` block) unsubscribes what
    it subscribed and deletes the queue it created.

    ``durable`` keeps everything when closing: the subscriptions and the
    queue stay (SNS keeps delivering to it) for the next process that opens
    the same ``queue_name``; ``close(remove=True)`` removes them after all.

    ``fifo`` makes the topics and the created queue FIFO (``.fifo``);
    ``visibility_timeout`` (seconds) is the created queue's: how long a
    received message stays hidden before SQS delivers it again unless
    acknowledged. ``aws_options`` are the injected ``sns`` and ``sqs`` clients
    or the session, endpoint and region to build them from
    (:class:`~lava_state.aws.AwsOptions`).
    """

    def __init__(
        self,
        realm: str,
        *,
        queue_url: str | None = None,
        queue_name: str | None = None,
        fifo: bool = False,
        visibility_timeout: int | None = None,
        durable: bool = False,
        **aws_options: Unpack[aws.AwsOptions],
    ) -> None:
        """Raises ConfigurationError when the realm cannot name SNS topics."""
        # Validates the realm before any AWS call: topics are named after it.
        self._realm_topic = realm_topic_name(realm, fifo=fifo)
        self.realm = realm
        self.fifo = fifo
        self.aws = aws.AwsClients(**aws_options)
        self._queue_url = queue_url
        self._queue_name = queue_name
        self._visibility_timeout = visibility_timeout
        self.durable = durable
        self.created = False  # True once this object created the queue (close deletes it)
        self._queue_arn: str | None = None
        self._topics: list[str] = []
        self.subscriptions: list[str] = []  # the subscription ARNs close removes

    def __enter__(self) -> ChangeQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- setting up

    @property
    def queue_url(self) -> str:
        """The queue's URL, creating the queue first if this object owns none yet.

        Raises:
            LavaStateError: SQS refused to create it (translated).
        """
        if self._queue_url is None:
            name = self._queue_name or _unique_queue_name(self.realm, fifo=self.fifo)
            attributes: dict[str, str] = {}
            if self.fifo:
                attributes["FifoQueue"] = "true"
            if self._visibility_timeout is not None:
                attributes["VisibilityTimeout"] = str(self._visibility_timeout)
            response = aws.call(
                self.aws.sqs.create_queue,
                what=f"create SQS queue {name}",
                QueueName=name,
                Attributes=attributes,
            )
            self._queue_url = response["QueueUrl"]
            self.created = True
        return self._queue_url

    @property
    def queue_arn(self) -> str:
        """The queue's ARN (creating the queue first if need be).

        Raises:
            LavaStateError: an SQS call failed (translated).
        """
        if self._queue_arn is None:
            response = aws.call(
                self.aws.sqs.get_queue_attributes,
                what="read the queue's ARN",
                QueueUrl=self.queue_url,
                AttributeNames=["QueueArn"],
            )
            self._queue_arn = response["Attributes"]["QueueArn"]
        return self._queue_arn

    def state_topic(self, state_id: str) -> str:
        """The ARN of the topic carrying ``state_id``'s changes, created if missing.

        The processor remembers a missing topic for a while (its missing-topic
        TTL): changes made meanwhile are not published.

        Raises:
            LavaStateError: SNS refused (translated).
        """
        return self._create_topic(topic_name(self.realm, state_id, fifo=self.fifo))

    def realm_topic(self) -> str:
        """The ARN of the realm-wide topic (every change, when the processor enables it),
        created if missing.

        Raises:
            LavaStateError: SNS refused (translated).
        """
        return self._create_topic(self._realm_topic)

    def _create_topic(self, name: str) -> str:
        # CreateTopic is idempotent: it returns the ARN of an existing topic.
        attributes = {"FifoTopic": "true"} if self.fifo else {}
        response = aws.call(
            self.aws.sns.create_topic,
            what=f"create SNS topic {name}",
            Name=name,
            Attributes=attributes,
        )
        return response["TopicArn"]

    def allow(self, *topic_arns: str) -> None:
        """Let these topics send to the queue this object created (one policy update for
        all; a queue given by URL is left as it is).

        Raises:
            LavaStateError: SQS refused (translated).
        """
        queue_arn = self.queue_arn
        new = [arn for arn in dict.fromkeys(topic_arns) if arn not in self._topics]
        if not self.created or not new:
            return
        self._topics.extend(new)
        aws.call(
            self.aws.sqs.set_queue_attributes,
            what="let the topics send to the queue",
            QueueUrl=self.queue_url,
            Attributes={"Policy": _queue_policy(queue_arn, self._topics)},
        )

    def subscribe(
        self, topic_arn: str, *, raw: bool = True, filter_policy: Mapping[str, Any] | None = None
    ) -> str:
        """Subscribe the queue to ``topic_arn``; returns the subscription's ARN.

        ``raw`` delivers the change message as the body (raw message
        delivery); otherwise the body is SNS's JSON envelope around it. Both
        parse the same (:meth:`Delivery.event`). ``filter_policy`` is an SNS
        filter policy on the message attributes (``state_id``, ``event``,
        ``type``): only matching changes are delivered.

        Raises:
            LavaStateError: SQS or SNS refused (translated).
        """
        self.allow(topic_arn)
        attributes = {"RawMessageDelivery": "true" if raw else "false"}
        if filter_policy is not None:
            attributes["FilterPolicy"] = json.dumps(filter_policy)
            attributes["FilterPolicyScope"] = "MessageAttributes"
        response = aws.call(
            self.aws.sns.subscribe,
            what=f"subscribe the queue to {topic_arn}",
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=self.queue_arn,
            Attributes=attributes,
            ReturnSubscriptionArn=True,
        )
        arn = response["SubscriptionArn"]
        self.subscriptions.append(arn)
        return arn

    # -- receiving

    def receive(
        self, *, wait_seconds: int = MAX_WAIT_SECONDS, max_messages: int = MAX_MESSAGES
    ) -> list[Delivery]:
        """One long poll: what arrives within ``wait_seconds`` (at most 20), at most
        ``max_messages`` (at most 10); an empty list when nothing did.

        The messages stay on the queue, hidden for the visibility timeout,
        until :meth:`ack` deletes them.

        Raises:
            ValueError: a bound outside SQS's limits.
            LavaStateError: SQS refused (translated).
        """
        if not 0 <= wait_seconds <= MAX_WAIT_SECONDS or not 1 <= max_messages <= MAX_MESSAGES:
            raise ValueError(
                f"wait_seconds must be 0..{MAX_WAIT_SECONDS} and max_messages 1..{MAX_MESSAGES}"
            )
        response = aws.call(
            self.aws.sqs.receive_message,
            what="receive change notifications",
            QueueUrl=self.queue_url,
            WaitTimeSeconds=wait_seconds,
            MaxNumberOfMessages=max_messages,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        return [_delivery(message) for message in response.get("Messages", [])]

    def ack(self, *deliveries: Delivery) -> None:
        """Delete handled messages from the queue, so they are not delivered again.

        A message that could not be deleted (e.g. its receipt handle expired)
        is logged and will be delivered again: delivery is at least once.

        Raises:
            LavaStateError: SQS refused the call (translated).
        """
        for start in range(0, len(deliveries), MAX_MESSAGES):
            chunk = deliveries[start : start + MAX_MESSAGES]
            response = aws.call(
                self.aws.sqs.delete_message_batch,
                what="delete handled notifications",
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": d.receipt_handle} for n, d in enumerate(chunk)
                ],
            )
            for failed in response.get("Failed", []):
                LOG.warning(
                    "notification %s not deleted (%s): it will be delivered again",
                    chunk[int(failed["Id"])].message_id,
                    failed.get("Code"),
                )

    def release(self, *deliveries: Delivery) -> None:
        """Make received messages visible again at once (not deleted): the next receive,
        by this process or another, gets them without waiting for the visibility timeout.

        Best effort: a message that cannot be released is delivered again
        after its visibility timeout anyway.

        Raises:
            LavaStateError: SQS refused the call (translated).
        """
        for start in range(0, len(deliveries), MAX_MESSAGES):
            chunk = deliveries[start : start + MAX_MESSAGES]
            aws.call(
                self.aws.sqs.change_message_visibility_batch,
                what="release unhandled notifications",
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": d.receipt_handle, "VisibilityTimeout": 0}
                    for n, d in enumerate(chunk)
                ],
            )

    # -- cleaning up

    def close(self, *, remove: bool | None = None) -> None:
        """Unsubscribe what this object subscribed and delete the queue it created.

        A durable queue keeps both (``remove=True`` removes them all the same;
        ``remove=False`` keeps them for any queue).

        Every step is tried, even after one failed; calling again retries what
        failed and does nothing when all is done.

        Raises:
            LavaStateError: the first step that failed (translated).
        """
        if remove is None:
            remove = not self.durable
        if not remove:
            # Kept for the next process: forget them, so that closing again does nothing.
            self.subscriptions.clear()
            self.created = False
            return
        first_error: LavaStateError | None = None
        for arn in list(self.subscriptions):
            try:
                aws.call(self.aws.sns.unsubscribe, what=f"unsubscribe {arn}", SubscriptionArn=arn)
            except AwsError as exc:
                if exc.aws_code not in {"NotFound", "NotFoundException"}:
                    first_error = first_error or exc
                    continue
            self.subscriptions.remove(arn)
        if self.created and self._queue_url is not None:
            try:
                aws.call(
                    self.aws.sqs.delete_queue,
                    what=f"delete SQS queue {self._queue_url}",
                    QueueUrl=self._queue_url,
                )
            except AwsError as exc:
                if exc.aws_code not in {
                    "AWS.SimpleQueueService.NonExistentQueue",
                    "QueueDoesNotExist",
                }:
                    first_error = first_error or exc
            else:
                self._queue_url = self._queue_arn = None
                self.created = False
                self._topics.clear()
        if first_error is not None:
            raise first_error


def _unique_queue_name(realm: str, *, fifo: bool) -> str:
    suffix = FIFO_SUFFIX if fifo else ""
    unique = f"-sub-{uuid.uuid4().hex[:12]}"
    # A long realm is cut short: the random part keeps the name unique.
    room = _QUEUE_NAME_MAX - len(unique) - len(suffix)
    return f"lava-state-{realm}"[:room] + unique + suffix


def _queue_policy(queue_arn: str, topic_arns: list[str]) -> str:
    """A queue policy letting SNS deliver to the queue from these topics only."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "lava-state-change-topics",
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": list(topic_arns)}},
                }
            ],
        }
    )


def _delivery(message: MessageTypeDef) -> Delivery:
    body = message.get("Body", "")
    attributes = {
        name: value["StringValue"]
        for name, value in message.get("MessageAttributes", {}).items()
        if "StringValue" in value
    }
    if not attributes:
        attributes = _envelope_attributes(body)
    count = message.get("Attributes", {}).get("ApproximateReceiveCount", "1")
    return Delivery(
        message_id=message.get("MessageId", ""),
        receipt_handle=message.get("ReceiptHandle", ""),
        body=body,
        attributes=attributes,
        receive_count=int(count),
    )


def _envelope_attributes(body: str) -> dict[str, str]:
    """The message attributes inside SNS's envelope (raw delivery off); none otherwise."""
    try:
        envelope = json.loads(body)
    except ValueError:
        return {}
    if not isinstance(envelope, dict) or not isinstance(envelope.get("MessageAttributes"), dict):
        return {}
    return {
        name: str(value["Value"])
        for name, value in envelope["MessageAttributes"].items()
        if isinstance(value, dict) and "Value" in value
    }
