"""The receive side of notifications on the embedded SNS/SQS: topic -> queue -> ChangeEvent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from consumer_sdk._receive import ChangeQueue, Delivery
from lava_state.errors import InvalidInput
from lava_state.events import ChangeEvent, ChangeKind
from lava_state.model import StateType
from lava_state.naming import realm_topic_name, topic_name
from lava_state_local import LocalAws
from publisher import StatePublisher
from tests.conftest import wait_until


@pytest.fixture
def queue(realm: str, sns: Any, sqs: Any) -> Iterator[ChangeQueue]:
    """A queue this test owns; visible again 1 s after a receive that is not acknowledged."""
    with ChangeQueue(realm, visibility_timeout=1, sns=sns, sqs=sqs) as change_queue:
        yield change_queue


def change(realm: str, state_id: str = "sid", version: int = 1) -> ChangeEvent:
    return ChangeEvent(
        realm=realm,
        state_id=state_id,
        kind=ChangeKind.PUT,
        version=version,
        sequence=f"41000000000174544230{version:02d}",
        publisher="tests",
        type=StateType.JSON,
        value={"lines": "45"},
        has_value=True,
    )


def publish(sns: Any, topic_arn: str, event: ChangeEvent) -> None:
    """Publish as the stream processor does: the change message and its attributes."""
    sns.publish(
        TopicArn=topic_arn,
        Message=json.dumps(event.to_message()),
        MessageAttributes={
            "state_id": {"DataType": "String", "StringValue": event.state_id},
            "event": {"DataType": "String", "StringValue": event.kind.value},
        },
    )


def receive_one(queue: ChangeQueue, wait_seconds: int = 5) -> Delivery:
    (delivery,) = queue.receive(wait_seconds=wait_seconds, max_messages=1)
    return delivery


def receive_at_least(queue: ChangeQueue, count: int) -> list[Delivery]:
    deliveries: list[Delivery] = []

    def enough() -> bool:
        deliveries.extend(queue.receive(wait_seconds=1))
        return len(deliveries) >= count

    assert wait_until(enough)
    return deliveries


def counts(sqs: Any, queue: ChangeQueue) -> tuple[int, int]:
    """(visible, in flight) messages on the queue, as SQS counts them."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )


def test_a_put_arrives_as_a_change_event(
    local_aws: LocalAws, realm: str, publisher: StatePublisher, queue: ChangeQueue
) -> None:
    # GIVEN a queue subscribed to sid's topic and the stream processor running
    queue.subscribe(queue.state_topic("sid"))
    runner = local_aws.start_stream_runner(realm)
    try:
        # WHEN a job puts sid
        publisher.put("sid", {"lines": "45"})
        delivery = receive_one(queue, wait_seconds=10)
    finally:
        runner.stop()
    # THEN the queue holds the change, as a ChangeEvent
    event = delivery.event()
    assert (event.realm, event.state_id, event.kind, event.version) == (
        realm,
        "sid",
        ChangeKind.PUT,
        1,
    )
    assert (event.value, event.publisher, event.type) == ({"lines": "45"}, "tests", StateType.JSON)
    assert delivery.attributes == {"state_id": "sid", "event": "put", "type": "json"}
    assert delivery.receive_count == 1


def test_raw_delivery_and_the_sns_envelope_give_the_same_event(
    realm: str, sns: Any, queue: ChangeQueue
) -> None:
    raw_topic, wrapped_topic = queue.state_topic("raw"), queue.state_topic("wrapped")
    queue.subscribe(raw_topic)
    queue.subscribe(wrapped_topic, raw=False)
    publish(sns, raw_topic, change(realm, "raw"))
    publish(sns, wrapped_topic, change(realm, "wrapped"))
    deliveries = receive_at_least(queue, 2)
    by_id = {d.event().state_id: d for d in deliveries}
    assert by_id["raw"].event() == change(realm, "raw")
    assert by_id["wrapped"].event() == change(realm, "wrapped")
    assert json.loads(by_id["wrapped"].body)["Type"] == "Notification"  # really enveloped
    assert by_id["wrapped"].message() == change(realm, "wrapped").to_message()
    assert {d.attributes["state_id"] for d in deliveries} == {"raw", "wrapped"}


def test_topics_are_created_when_missing_and_named_as_the_processor_names_them(
    realm: str, sns: Any, queue: ChangeQueue
) -> None:
    arn = queue.state_topic("new/id")
    assert arn.endswith(":" + topic_name(realm, "new/id"))
    assert queue.state_topic("new/id") == arn  # created once, found afterwards
    assert queue.realm_topic().endswith(":" + realm_topic_name(realm))
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["TopicArn"] == arn


def test_the_created_queue_lets_only_its_topics_send_to_it(sqs: Any, queue: ChangeQueue) -> None:
    topics = [queue.state_topic("a"), queue.state_topic("b")]
    for topic in topics:
        queue.subscribe(topic)
    policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=queue.queue_url, AttributeNames=["Policy"])["Attributes"][
            "Policy"
        ]
    )
    (statement,) = policy["Statement"]
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
    assert statement["Resource"] == queue.queue_arn
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == topics


def test_ack_deletes_the_message(realm: str, sns: Any, sqs: Any, queue: ChangeQueue) -> None:
    topic = queue.state_topic("sid")
    queue.subscribe(topic)
    publish(sns, topic, change(realm))
    delivery = receive_one(queue)
    assert counts(sqs, queue) == (0, 1)  # received, not yet acknowledged
    queue.ack(delivery)
    assert counts(sqs, queue) == (0, 0)
    # Past the visibility timeout, nothing comes back.
    assert queue.receive(wait_seconds=2) == []


def test_an_unacknowledged_message_is_delivered_again_after_its_visibility_timeout(
    realm: str, sns: Any, queue: ChangeQueue
) -> None:
    topic = queue.state_topic("sid")
    queue.subscribe(topic)
    publish(sns, topic, change(realm))
    first = receive_one(queue)
    # Not acknowledged: hidden for the queue's 1 s visibility timeout, then back.
    again = receive_one(queue, wait_seconds=5)
    assert again.message_id == first.message_id
    assert again.receive_count == 2
    assert again.event() == first.event() == change(realm)
    queue.ack(again)


def test_close_removes_the_subscriptions_and_the_queue_it_created(
    realm: str, sns: Any, sqs: Any
) -> None:
    queue = ChangeQueue(realm, sns=sns, sqs=sqs)
    topic = queue.state_topic("sid")
    subscription = queue.subscribe(topic)
    url = queue.queue_url
    listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert subscription in {s["SubscriptionArn"] for s in listed}
    queue.close()
    listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert subscription not in {s["SubscriptionArn"] for s in listed}
    with pytest.raises(ClientError, match=r"NonExistentQueue|QueueDoesNotExist"):
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    assert queue.subscriptions == [] and not queue.created
    queue.close()  # nothing left to do: no error


def test_close_keeps_a_queue_it_was_given(realm: str, sns: Any, sqs: Any) -> None:
    url = sqs.create_queue(QueueName=f"{realm}-given")["QueueUrl"]
    try:
        with ChangeQueue(realm, queue_url=url, sns=sns, sqs=sqs) as queue:
            topic = queue.state_topic("sid")
            subscription = queue.subscribe(topic)
        listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        assert subscription not in {s["SubscriptionArn"] for s in listed}
        assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    finally:
        sqs.delete_queue(QueueUrl=url)


@pytest.mark.parametrize(
    "body",
    ["not json", "[1, 2]", json.dumps({"schema": "other/1"}), json.dumps({"Type": "Notification"})],
)
def test_a_malformed_body_is_invalid_input(sqs: Any, queue: ChangeQueue, body: str) -> None:
    sqs.send_message(QueueUrl=queue.queue_url, MessageBody=body)
    delivery = receive_one(queue)
    with pytest.raises(InvalidInput):
        delivery.event()
    queue.ack(delivery)


def test_receive_stays_within_sqs_limits(queue: ChangeQueue) -> None:
    with pytest.raises(ValueError, match="wait_seconds"):
        queue.receive(wait_seconds=21)
    with pytest.raises(ValueError, match="max_messages"):
        queue.receive(max_messages=11)
    with pytest.raises(ValueError, match="max_messages"):
        queue.receive(max_messages=0)


def test_allow_sets_one_policy_for_many_topics(sqs: Any, queue: ChangeQueue) -> None:
    calls: list[str] = []
    queue.aws.sqs.meta.events.register(
        "provide-client-params.sqs.SetQueueAttributes", lambda model, **_: calls.append(model.name)
    )
    topics = [queue.state_topic(f"id{n}") for n in range(5)]
    queue.allow(*topics)
    for topic in topics:
        queue.subscribe(topic)  # already allowed: no further policy update
    assert len(calls) == 1
    policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=queue.queue_url, AttributeNames=["Policy"])["Attributes"][
            "Policy"
        ]
    )
    assert policy["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"] == topics


def test_a_filter_policy_delivers_only_matching_changes(
    realm: str, sns: Any, queue: ChangeQueue
) -> None:
    topic = queue.realm_topic()
    queue.subscribe(topic, filter_policy={"state_id": [{"prefix": "etl/"}]})
    for state_id in ("other", "etl/a"):
        publish(sns, topic, change(realm, state_id))
    (delivery,) = receive_at_least(queue, 1)
    assert delivery.event().state_id == "etl/a"
    assert queue.receive(wait_seconds=1) == []


def test_release_makes_a_message_visible_again_at_once(realm: str, sns: Any, sqs: Any) -> None:
    with ChangeQueue(realm, visibility_timeout=60, sns=sns, sqs=sqs) as queue:
        topic = queue.state_topic("sid")
        queue.subscribe(topic)
        publish(sns, topic, change(realm))
        first = receive_one(queue)
        queue.release(first)
        again = receive_one(queue, wait_seconds=2)  # not after 60 s
        assert again.message_id == first.message_id
        queue.ack(again)


def test_a_durable_queue_is_kept_until_removed(realm: str, sns: Any, sqs: Any) -> None:
    name = f"lava-state-{realm}-sub-durable"
    queue = ChangeQueue(realm, queue_name=name, durable=True, sns=sns, sqs=sqs)
    topic = queue.state_topic("sid")
    arn = queue.subscribe(topic)
    url = queue.queue_url
    queue.close()
    assert arn in {
        s["SubscriptionArn"]
        for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    }
    reopened = ChangeQueue(realm, queue_name=name, durable=True, sns=sns, sqs=sqs)
    assert reopened.queue_url == url
    assert reopened.subscribe(topic) == arn  # SNS does not subscribe twice
    reopened.close(remove=True)
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
    with pytest.raises(ClientError, match=r"NonExistentQueue|QueueDoesNotExist"):
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
