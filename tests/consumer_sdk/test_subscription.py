"""Subscriptions on the embedded stack: the contract of docs/notifications.md, line by line.

Deliveries are disturbed between SQS and the subscription by a botocore hook on
the SQS client it uses (``after-call`` rewrites each ReceiveMessage response):
duplicated, held back and released later, or lost for good.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from consumer_sdk import Origin, StateChange, StateClient, Subscription
from lava_state.errors import InvalidInput, InvalidStateId
from lava_state.events import ChangeKind
from lava_state.model import StateType
from lava_state_local import LocalAws, StreamRunner
from publisher import StatePublisher
from stream_processor import ProcessorSettings
from tests.conftest import subscription_leftovers, wait_until


@dataclass
class Mangler:
    """Rewrites ReceiveMessage responses: a test's stand-in for a disorderly network."""

    drop: Callable[[dict[str, Any]], bool] = lambda message: False
    duplicate_every: int = 0  # every Nth message twice, and a stale copy one call later
    hold_every: int = 0  # every Nth message held back one call: it arrives after newer ones
    hold_all: bool = False  # hold everything (until set False: released on the next call)
    release_order: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None
    release_at: int = 0  # with release_order: release once this many are held
    dropped: set[str] = field(default_factory=set)
    held: list[dict[str, Any]] = field(default_factory=list)
    releasing: list[dict[str, Any]] = field(default_factory=list)
    stale: list[dict[str, Any]] = field(default_factory=list)
    duplicated: int = 0
    reordered: int = 0
    interrupt: bool = False  # raise KeyboardInterrupt from the next receive (a Ctrl-C)
    seen: int = 0

    def before(self, **_: Any) -> None:
        """Before a receive is sent (before-call hook)."""
        if self.interrupt:
            raise KeyboardInterrupt

    def __call__(self, parsed: dict[str, Any], **_: Any) -> None:
        out: list[dict[str, Any]] = []
        for message in parsed.get("Messages", []):
            if message["MessageId"] in self.dropped:
                continue  # lost for good: redeliveries too
            if self.drop(json.loads(message["Body"])):
                self.dropped.add(message["MessageId"])
                continue
            self.seen += 1
            if (
                self.hold_all
                or self.release_order
                or (self.hold_every and self.seen % self.hold_every == 0)
            ):
                self.held.append(message)
                continue
            out.append(message)
            if self.duplicate_every and self.seen % self.duplicate_every == 0:
                out.append(copy.deepcopy(message))
                self.stale.append(copy.deepcopy(message))
                self.duplicated += 1
        out.extend(self._released())
        if self.stale and out:
            out.append(self.stale.pop(0))  # an old copy, after newer changes
        parsed["Messages"] = out

    def _released(self) -> list[dict[str, Any]]:
        if self.release_order is not None:
            if len(self.held) < self.release_at:
                return []
            self.releasing, self.held = self.release_order(self.held), []
            self.release_order = None
        if self.releasing:
            # One per response: a batch is put in stream order by the subscription.
            return [self.releasing.pop(0)]
        if self.hold_all or not self.held:
            return []
        released, self.held = self.held, []
        self.reordered += len(released)
        return released


@pytest.fixture
def mangler() -> Mangler:
    return Mangler()


@pytest.fixture
def watcher(local_aws: LocalAws, realm: str, mangler: Mangler) -> StateClient:
    """A StateClient whose SQS responses pass through ``mangler``."""
    sqs = local_aws.client("sqs")
    sqs.meta.events.register("after-call.sqs.ReceiveMessage", mangler)
    sqs.meta.events.register("before-call.sqs.ReceiveMessage", mangler.before)
    return StateClient(
        realm, session=local_aws.session(), endpoint_url=local_aws.endpoint_url, sqs=sqs
    )


def collect(
    subscription: Subscription, until: Callable[[list[StateChange]], bool], timeout: float = 20
) -> list[StateChange]:
    """The changes yielded until ``until(changes)`` holds (asserted within ``timeout``)."""
    changes: list[StateChange] = []

    def done() -> bool:
        changes.extend(subscription.events(timeout=0.5))
        return until(changes)

    assert wait_until(done, timeout=timeout), [(c.state_id, c.kind, c.version) for c in changes]
    return changes


# -- never miss the final state; in order, without repeats


def test_ten_ids_twenty_writes_disturbed_deliveries_converge_in_order(
    runner: StreamRunner,
    publisher: StatePublisher,
    client: StateClient,
    watcher: StateClient,
    mangler: Mangler,
) -> None:
    ids = [f"k{n}" for n in range(10)]
    mangler.duplicate_every, mangler.hold_every = 3, 4
    # The final write of k3 is lost: only a resync read can bring it.
    mangler.drop = lambda message: message["state_id"] == "k3" and message["version"] == 20
    with watcher.subscribe(ids, resync=1.0, missing_topic_ttl=0) as subscription:

        def write() -> None:
            for n in range(1, 21):
                for sid in ids:
                    publisher.put(sid, {"n": n})

        writer = threading.Thread(target=write)
        writer.start()
        last: dict[str, StateChange] = {}

        def converged(changes: list[StateChange]) -> bool:
            last.update((change.state_id, change) for change in changes)
            # Under load a resync read can yield k3's last write before its (dropped)
            # notification even arrives: wait for the drop too.
            return bool(mangler.dropped) and all(
                sid in last and last[sid].version == 20 for sid in ids
            )

        changes = collect(subscription, converged, timeout=60)
        writer.join()
    versions: dict[str, list[int]] = defaultdict(list)
    for change in changes:
        assert change.kind is ChangeKind.PUT
        versions[change.state_id].append(change.version)
    final = client.get_many(ids)
    for sid in ids:
        assert versions[sid] == sorted(set(versions[sid])), sid  # strictly increasing
        assert versions[sid][-1] == final[sid].version == 20
    assert last["k3"].origin is Origin.RESYNC and last["k3"].value == {"n": 20}
    assert mangler.dropped and mangler.duplicated and mangler.reordered  # really disturbed
    assert {change.origin for change in changes} >= {Origin.NOTIFICATION, Origin.RESYNC}


@pytest.mark.parametrize(
    ("release", "expected"),
    [
        # put v1, put v2, delete, put v1 again: versions restart after the delete.
        (lambda held: list(reversed(held)), [("put", 1, "again")]),
        (
            lambda held: [held[0], held[2], held[1], held[3]],
            [("put", 1, "first"), ("delete", 2, None), ("put", 1, "again")],
        ),
    ],
    ids=["reversed", "delete-overtakes-a-put"],
)
def test_delete_then_recreate_arriving_out_of_order(
    runner: StreamRunner,
    publisher: StatePublisher,
    watcher: StateClient,
    mangler: Mangler,
    release: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
    expected: list[tuple[str, int, str | None]],
) -> None:
    mangler.release_order, mangler.release_at = release, 4
    with watcher.subscribe(["sid"], resync=None, missing_topic_ttl=0) as subscription:
        publisher.put("sid", "first")
        publisher.put("sid", "second")
        publisher.delete("sid")
        publisher.put("sid", "again")
        changes = collect(
            subscription,
            lambda changes: bool(changes) and not mangler.held and not mangler.releasing,
        )
        changes += list(subscription.events(timeout=1))  # anything else would come now
    assert [(c.kind.value, c.version, c.value) for c in changes] == expected


def test_a_read_then_notifications_in_flight_across_it(
    runner: StreamRunner, publisher: StatePublisher, watcher: StateClient, mangler: Mangler
) -> None:
    # GIVEN notifications held back while the settle read finds the newest state
    mangler.hold_all = True
    with watcher.subscribe(["sid"], resync=None, missing_topic_ttl=0.5) as subscription:
        for n in range(1, 4):
            publisher.put("sid", n)
        assert runner.wait_idle()
        (first,) = collect(subscription, bool)
        assert (first.origin, first.version, first.sequence) == (Origin.SETTLE, 3, "")
        # WHEN the old notifications arrive after it, then a new write
        mangler.hold_all = False
        publisher.put("sid", 4)
        changes = collect(subscription, bool)
        changes += list(subscription.events(timeout=1))
    # THEN v1..v3 are dropped (older than or the same as the read), v4 is notified
    assert [(c.version, c.origin) for c in changes] == [(4, Origin.NOTIFICATION)]
    assert mangler.seen == 4


def test_a_change_in_the_missing_topic_window_is_recovered_by_the_settle_read(
    local_aws: LocalAws, realm: str, publisher: StatePublisher, client: StateClient
) -> None:
    settings = ProcessorSettings(realm=realm, tracing="off", missing_topic_ttl=2.0)
    runner = local_aws.start_stream_runner(realm, processor=settings)
    try:
        # GIVEN the processor found no topic for 'late' (nobody subscribed) and remembers it
        publisher.put("late", 1)
        assert runner.wait_idle()
        with client.subscribe(["late"], resync=None, missing_topic_ttl=2.0) as subscription:
            # WHEN 'late' changes within the processor's window: not published
            publisher.put("late", 2)
            (change,) = collect(subscription, bool)
    finally:
        runner.stop()
    # THEN the settle read, once the window has passed, yields it
    assert (change.version, change.value, change.origin) == (2, 2, Origin.SETTLE)


# -- start from a consistent view


def test_catch_up_yields_the_current_states_from_one_batched_read(
    local_aws: LocalAws, realm: str, runner: StreamRunner, publisher: StatePublisher
) -> None:
    publisher.put("a", 1)
    publisher.put("b", {"x": 2})
    publisher.put("b", {"x": 3})
    calls: list[str] = []
    dynamodb = local_aws.client("dynamodb")
    dynamodb.meta.events.register(
        "provide-client-params.dynamodb.*", lambda model, **_: calls.append(model.name)
    )
    client = StateClient(
        realm, session=local_aws.session(), endpoint_url=local_aws.endpoint_url, dynamodb=dynamodb
    )
    with client.subscribe(["a", "b", "absent"], catch_up=True, resync=None) as subscription:
        assert calls == ["BatchGetItem"]
        caught = [subscription.poll(), subscription.poll()]
        publisher.put("a", 10)
        (later,) = collect(subscription, bool)
    assert [(c.state_id, c.version, c.value, c.origin) for c in caught if c] == [
        ("a", 1, 1, Origin.CATCH_UP),
        ("b", 2, {"x": 3}, Origin.CATCH_UP),
    ]
    assert (later.state_id, later.version, later.origin) == ("a", 2, Origin.NOTIFICATION)


def test_without_catch_up_only_changes_after_subscribing_are_yielded(
    runner: StreamRunner, publisher: StatePublisher, client: StateClient
) -> None:
    publisher.put("sid", "before")
    with client.subscribe(["sid"], resync=0.5, missing_topic_ttl=0) as subscription:
        assert list(subscription.events(timeout=1.5)) == []  # resync reads included
        publisher.put("sid", "after")
        (change,) = collect(subscription, bool)
    assert (change.version, change.value) == (2, "after")


def test_a_prefix_subscription_filters_the_realm_topic(
    sns: Any, runner: StreamRunner, publisher: StatePublisher, client: StateClient
) -> None:
    with client.subscribe(prefix="etl/", resync=None, missing_topic_ttl=0) as subscription:
        for sid in ("other", "etl/a", "etl-b", "etl/b"):
            publisher.put(sid, sid)
        changes = collect(subscription, lambda changes: len(changes) == 2)
        changes += list(subscription.events(timeout=1))
        (attached,) = [
            s
            for s in sns.list_subscriptions()["Subscriptions"]
            if s["Endpoint"].endswith(subscription.queue_url.rsplit("/", 1)[1])
        ]
        policy = sns.get_subscription_attributes(SubscriptionArn=attached["SubscriptionArn"])
    assert [c.state_id for c in changes] == ["etl/a", "etl/b"]
    assert attached["TopicArn"].endswith(f"lava-state-{client.realm}-all")
    assert json.loads(policy["Attributes"]["FilterPolicy"]) == {"state_id": [{"prefix": "etl/"}]}


# -- values, secure items, fetch


def test_secure_values_are_never_in_changes_and_fetch_decrypts(
    runner: StreamRunner, publisher: StatePublisher, client: StateClient
) -> None:
    publisher.put("token", "s3cr3t", type="secure")
    with client.subscribe(["token", "plain"], catch_up=True, resync=None) as subscription:
        caught = subscription.poll()
        publisher.put("token", "n3w-s3cr3t", type="secure")
        (notified,) = collect(subscription, bool)
    for change in (caught, notified):
        assert change is not None and change.type is StateType.SECURE
        assert not change.has_value and change.value is None
        assert "s3cr3t" not in repr(change)
    assert caught is not None and caught.item is not None
    fetched = notified.fetch()
    assert fetched is not None and fetched.value == "n3w-s3cr3t"


def test_include_values_false_leaves_values_to_fetch(
    runner: StreamRunner, publisher: StatePublisher, client: StateClient
) -> None:
    with client.subscribe(["sid"], include_values=False, resync=None) as subscription:
        publisher.put("sid", {"lines": "45"})
        (change,) = collect(subscription, bool)
    assert (change.has_value, change.value) == (False, None)
    fetched = change.fetch()
    assert fetched is not None and fetched.value == {"lines": "45"}


# -- at least once to the caller


def test_a_change_not_consumed_is_delivered_again(
    runner: StreamRunner, publisher: StatePublisher, client: StateClient, sqs: Any, sns: Any
) -> None:
    name = f"q{uuid.uuid4().hex[:8]}"
    options: dict[str, Any] = {"name": name, "resync": None, "missing_topic_ttl": 0}
    with client.subscribe(["sid"], **options) as first:
        publisher.put("sid", 1)
        taken = next(first)  # taken, but the iterator never advances past it
    with client.subscribe(["sid"], **options) as second:
        again = next(second)
        assert (again.version, again.sequence) == (taken.version, taken.sequence)
        publisher.put("sid", 2)
        newer = next(second)  # advancing consumes v1
        second.ack()  # and v2, before leaving
    third = client.subscribe(["sid"], **options)
    try:
        assert list(third.events(timeout=1.5)) == []
        assert newer.version == 2
    finally:
        third.close(remove=True)
    assert subscription_leftovers(sqs, sns, client.realm) == ([], [])


def test_manual_ack_consumes_only_what_was_acknowledged(
    runner: StreamRunner, publisher: StatePublisher, client: StateClient
) -> None:
    name = f"q{uuid.uuid4().hex[:8]}"
    options: dict[str, Any] = {"name": name, "resync": None, "missing_topic_ttl": 0}
    with client.subscribe(["a", "b"], auto_ack=False, **options) as subscription:
        publisher.put("a", 1)
        publisher.put("b", 1)
        changes = collect(subscription, lambda changes: len(changes) == 2)
        (acked,) = [c for c in changes if c.state_id == "a"]
        subscription.ack(acked)
        with pytest.raises(ValueError, match="awaiting ack"):
            subscription.ack(acked)
    again = client.subscribe(["a", "b"], **options)
    try:
        (redelivered,) = collect(again, bool)
        assert list(again.events(timeout=1)) == []
    finally:
        again.close(remove=True)
    assert redelivered.state_id == "b"


def test_a_durable_subscription_keeps_its_queue_and_since_skips_what_was_handled(
    runner: StreamRunner, publisher: StatePublisher, client: StateClient, sqs: Any, sns: Any
) -> None:
    name = f"q{uuid.uuid4().hex[:8]}"
    with client.subscribe(["sid"], name=name, resync=None, missing_topic_ttl=0) as first:
        url = first.queue_url
        publisher.put("sid", 1)
        assert next(first).version == 1
        first.ack()
    assert url.endswith(f"lava-state-{client.realm}-sub-{name}")
    # While nobody listens, the queue collects the changes.
    for n in range(2, 5):
        publisher.put("sid", n)
    assert runner.wait_idle()
    with client.subscribe(
        ["sid"], name=name, since={"sid": 3}, resync=None, missing_topic_ttl=0
    ) as second:
        assert second.queue_url == url
        changes = collect(second, bool)
        changes += list(second.events(timeout=1))
        second.close(remove=True)
    assert [(c.version, c.origin) for c in changes] == [(4, Origin.CATCH_UP)]
    assert subscription_leftovers(sqs, sns, client.realm) == ([], [])


# -- clean


def test_close_removes_the_queue_and_the_subscriptions(
    runner: StreamRunner, client: StateClient, sqs: Any, sns: Any
) -> None:
    subscription = client.subscribe(["a", "b"], prefix="c/", resync=None)
    assert len(subscription_leftovers(sqs, sns, client.realm)[1]) == 3
    subscription.close()
    assert subscription_leftovers(sqs, sns, client.realm) == ([], [])
    subscription.close()  # again: nothing to do
    assert list(subscription) == []


def test_ctrl_c_while_receiving_leaves_nothing_behind(
    runner: StreamRunner, watcher: StateClient, mangler: Mangler, sqs: Any, sns: Any
) -> None:
    subscription = watcher.subscribe(["sid"], resync=None)
    mangler.interrupt = True
    with pytest.raises(KeyboardInterrupt), subscription:
        next(subscription)
    assert subscription_leftovers(sqs, sns, watcher.realm) == ([], [])


def test_a_failed_start_leaves_nothing_behind(
    local_aws: LocalAws, realm: str, client: StateClient, sqs: Any, sns: Any
) -> None:
    broken = StateClient(
        "no-such-realm", session=local_aws.session(), endpoint_url=local_aws.endpoint_url
    )
    with pytest.raises(Exception, match="does not exist"):
        broken.subscribe(["sid"])  # the catch-up read finds no table, after subscribing
    assert subscription_leftovers(sqs, sns, "no-such-realm") == ([], [])


def test_a_given_queue_is_kept_and_unsubscribed(
    runner: StreamRunner, publisher: StatePublisher, client: StateClient, sqs: Any, sns: Any
) -> None:
    url = sqs.create_queue(QueueName=f"{client.realm}-given")["QueueUrl"]
    try:
        with client.subscribe(["sid"], queue_url=url, resync=None, missing_topic_ttl=0) as sub:
            publisher.put("sid", 1)
            assert next(sub).version == 1
        assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
        endpoints = {s["Endpoint"] for s in sns.list_subscriptions()["Subscriptions"]}
        assert not any(endpoint.endswith(f"{client.realm}-given") for endpoint in endpoints)
    finally:
        sqs.delete_queue(QueueUrl=url)


# -- timing and input


def test_poll_never_waits_and_events_stops_at_its_deadline(client: StateClient) -> None:
    with client.subscribe(["sid"], resync=None) as subscription:
        start = time.monotonic()
        assert subscription.poll() is None
        assert time.monotonic() - start < 1
        start = time.monotonic()
        assert list(subscription.events(timeout=1.2)) == []
        assert 1.2 <= time.monotonic() - start < 3


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        ((), {}, InvalidInput),
        (("sid",), {}, InvalidInput),
        ((["ok", ""],), {}, InvalidStateId),
        ((["sid"],), {"name": "bad name"}, InvalidInput),
        ((["sid"],), {"resync": 0}, InvalidInput),
        ((["sid"],), {"since": {"sid": "3"}}, InvalidInput),
    ],
)
def test_bad_input_is_refused_before_any_call(
    client: StateClient, args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        client.subscribe(*args, **kwargs)
