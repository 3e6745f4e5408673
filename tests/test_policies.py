"""Least privilege, proven: every AWS call each component makes in a scenario
covering its API is allowed by its role's policy in deploy/lava-state.yaml (with
the resources the call names), every action a policy grants is used, and
removing any one of them denies a call.

Roles: publisher (StatePublisherPolicy), reader (StateReaderPolicy), subscriber
(StateSubscriberPolicy with the reader policy, as docs/deploy.md says to attach
them), processor (the function's role; the local runner reads the stream as
Lambda's event source mapping does, with that role).
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from consumer_sdk import StateClient
from lava_state.naming import kms_alias, table_name
from lava_state.settings import Settings
from lava_state_local import LocalAws, RunnerSettings
from lava_state_local.server import LOCAL_CREDENTIALS, processor_settings
from lava_state_local.template import Resolved
from publisher import StatePublisher
from stream_processor.handler import StreamProcessor
from tests.conftest import wait_until
from tests.deploy.iam import (
    Recorder,
    Request,
    allowed_by,
    policy_statements,
    resolve_template,
)

#: The policies of each role, by logical id.
POLICIES = {
    "publisher": ["StatePublisherPolicy"],
    "reader": ["StateReaderPolicy"],
    "subscriber": ["StateSubscriberPolicy", "StateReaderPolicy"],
    "processor": ["ProcessorRole"],
}
#: Granted on purpose although the scenario does not call it (with the reason).
UNUSED_BY_DESIGN = {
    # Lambda's event source mapping lists the table's streams; the local runner
    # finds the stream with DescribeTable instead (not the role's call).
    ("processor", "dynamodb:ListStreams"),
    # Lambda sends a failed batch's record to the dead-letter queue itself.
    ("processor", "sqs:SendMessage"),
    # Lambda writes the function's logs.
    ("processor", "logs:CreateLogStream"),
    ("processor", "logs:PutLogEvents"),
}


@pytest.fixture(scope="module")
def recorded(local_aws: LocalAws) -> Iterator[tuple[dict[str, list[Request]], Resolved]]:
    """Each role's IAM requests in one scenario, and the template resolved for its realm."""
    realm = f"p{uuid.uuid4().hex[:10]}"
    key_id = local_aws.provision_realm(realm)
    key_arn = f"arn:aws:kms:us-east-1:123456789012:key/{key_id}"
    endpoint = local_aws.endpoint_url
    recorders = {role: Recorder(key_aliases={key_arn: kms_alias(realm)}) for role in POLICIES}

    def session(role: str) -> boto3.session.Session:
        return recorders[role].attach(
            boto3.session.Session(
                aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                region_name="us-east-1",
            )
        )

    with pytest.MonkeyPatch.context() as patch:
        for name, value in local_aws.env().items():
            patch.setenv(name, value)
        processor_session = session("processor")
        handler = StreamProcessor(
            sns=processor_session.client("sns", endpoint_url=endpoint),
            settings=processor_settings(realm, {"LAVA_STATE_MISSING_TOPIC_TTL": "0"}),
        ).handle
        runner = local_aws.start_stream_runner(
            realm,
            handler=handler,
            streams=processor_session.client("dynamodbstreams", endpoint_url=endpoint),
            settings=RunnerSettings(idle_poll=0.5),
        )
        try:
            _scenario(realm, endpoint, session)
        finally:
            runner.stop()
    stream_arn = local_aws.client("dynamodb").describe_table(TableName=table_name(realm))["Table"][
        "LatestStreamArn"
    ]
    table_arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/{table_name(realm)}"
    queue = f"arn:aws:sqs:us-east-1:123456789012:lava-state-{realm}-stream-dlq"
    # As GetAtt gives it: the group ARN ending ":*" (it covers the group's streams).
    group = f"arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/lava-state-{realm}-x:*"
    attributes = {
        "StateTable.Arn": table_arn,
        "StateTable.StreamArn": stream_arn,
        "ProcessorDeadLetterQueue.Arn": queue,
        "ProcessorLogGroup.Arn": group,
    }
    stack = resolve_template({"Realm": realm}, attributes)
    yield {role: r.requests for role, r in recorders.items()}, stack


def _scenario(realm: str, endpoint: str, session: Any) -> None:
    """What each component does, through its public API."""
    writer = StatePublisher(realm, session=session("publisher"), endpoint_url=endpoint)
    subscriber = StateClient(realm, session=session("subscriber"), endpoint_url=endpoint)
    reader = StateClient(realm, session=session("reader"), endpoint_url=endpoint)

    subscription = subscriber.subscribe(["job-a"], prefix="etl/", catch_up=True, resync=None)
    held = subscriber.subscribe(["job-a"], name="held", auto_ack=False, resync=None)
    writer.put("job-a", {"rows": 1})
    writer.put("etl/b", "x", if_absent=True)
    writer.put("secret", "s3cr3t", type="secure")
    writer.put("big-secret", "x" * 5000, type="secure")  # envelope encryption
    writer.update("job-a", lambda value: {"rows": value["rows"] + 1})
    writer.put_many({"etl/c": 1, "etl/d": 2})
    writer.delete("etl/d")
    # A realm still read by lava 8.x workers is written in its format (PutItem).
    lava8 = StatePublisher(
        realm,
        session=session("publisher"),
        endpoint_url=endpoint,
        settings=Settings.from_env({}, item_format="lava8"),
    )
    lava8.put("old-format", "v")
    seen: list[str] = []

    def notified() -> bool:
        seen.extend(change.state_id for change in subscription.events(timeout=1))
        return {"job-a", "etl/b"} <= set(seen)

    assert wait_until(notified, timeout=60)
    subscription.close()
    # A durable subscription gives back what it did not consume, then is removed.
    assert wait_until(lambda: next(held.events(timeout=1), None) is not None, timeout=60)
    held.close()
    subscriber.subscribe(["job-a"], name="held", resync=None).close(remove=True)
    assert subscriber.wait_for("job-a", timeout=30, mode="react").value == {"rows": 2}

    assert reader.get("secret") is not None
    assert reader.get_value("big-secret") == "x" * 5000
    assert set(reader.get_many(["job-a", "etl/b", "nope"])) == {"job-a", "etl/b"}
    assert set(reader.get_prefix("etl/")) == {"etl/b", "etl/c"}


def _statements(resolved: Resolved, role: str) -> list[dict[str, Any]]:
    return [s for logical_id in POLICIES[role] for s in policy_statements(resolved, logical_id)]


def _denied(statements: list[dict[str, Any]], requests: list[Request]) -> list[str]:
    return sorted(
        {f"{r.action} on {r.resource}" for r in requests if not allowed_by(statements, r)}
    )


def _granted(statements: list[dict[str, Any]]) -> set[str]:
    actions: set[str] = set()
    for statement in statements:
        action = statement["Action"]
        actions.update(action if isinstance(action, list) else [action])
    return actions


@pytest.mark.parametrize("role", sorted(POLICIES))
def test_every_call_of_a_role_is_allowed_by_its_policy(
    recorded: tuple[dict[str, list[Request]], Resolved], role: str
) -> None:
    requests, resolved = recorded

    assert requests[role], f"the scenario made no call as {role}"
    assert _denied(_statements(resolved, role), requests[role]) == []


@pytest.mark.parametrize("role", sorted(POLICIES))
def test_every_granted_action_is_used(
    recorded: tuple[dict[str, list[Request]], Resolved], role: str
) -> None:
    requests, resolved = recorded
    used = {r.action for r in requests[role]}
    # The subscriber's reads are the reader's: its own policy is the subscriber's.
    own = [s for s in policy_statements(resolved, POLICIES[role][0])]

    unused = sorted(_granted(own) - used - {a for r, a in UNUSED_BY_DESIGN if r == role})

    assert unused == []


def test_removing_any_used_action_from_a_policy_denies_a_call(
    recorded: tuple[dict[str, list[Request]], Resolved],
) -> None:
    requests, resolved = recorded
    checked = 0
    for role, logical_ids in POLICIES.items():
        for logical_id in logical_ids:
            for action in sorted(_granted(policy_statements(resolved, logical_id))):
                if (role, action) in UNUSED_BY_DESIGN or not any(
                    r.action == action for r in requests[role]
                ):
                    continue
                mutated = _without(resolved, logical_id, action)
                statements = [s for i in logical_ids for s in policy_statements(mutated, i)]
                assert _denied(statements, requests[role]), f"{role} without {action}"
                checked += 1
    assert checked >= 20


def _without(resolved: Resolved, logical_id: str, action: str) -> Resolved:
    """The template with ``action`` removed from the policy ``logical_id``."""
    template = copy.deepcopy(resolved.template)
    properties = template["Resources"][logical_id]["Properties"]
    documents = [properties.get("PolicyDocument")] + [
        p["PolicyDocument"] for p in properties.get("Policies", [])
    ]
    for document in filter(None, documents):
        for statement in _plain_statements(document["Statement"]):
            actions = statement["Action"]
            listed = actions if isinstance(actions, list) else [actions]
            statement["Action"] = [a for a in listed if a != action] or ["none:Nothing"]
    mutated = Resolved.__new__(Resolved)
    mutated.__dict__.update(resolved.__dict__, template=template)
    return mutated


def _plain_statements(statements: list[Any]) -> Iterator[dict[str, Any]]:
    for statement in statements:
        if "Fn::If" in statement:
            yield from (s for s in statement["Fn::If"][1:] if isinstance(s, dict) and "Action" in s)
        else:
            yield statement


def test_state_prefixes_scope_the_publisher_and_reader_to_their_keys(
    recorded: tuple[dict[str, list[Request]], Resolved],
) -> None:
    requests, resolved = recorded
    scoped = resolve_template(
        {"Realm": resolved.values["Realm"], "StatePrefixes": "etl/,job-"}, resolved.attributes
    )
    table = resolved.attributes["StateTable.Arn"]
    publisher = _statements(scoped, "publisher")
    reader = _statements(scoped, "reader")

    def put(*ids: str) -> Request:
        return Request(
            "dynamodb:UpdateItem", "dynamodb:UpdateItem", table, {"dynamodb:leadingkeys": ids}
        )

    assert allowed_by(publisher, put("etl/x"))
    assert allowed_by(publisher, put("job-a", "etl/b"))
    assert not allowed_by(publisher, put("secret"))
    assert not allowed_by(publisher, put("etl/x", "other"))
    assert not allowed_by(publisher, Request("dynamodb:UpdateItem", "dynamodb:UpdateItem", table))
    get = Request(
        "dynamodb:GetItem", "dynamodb:GetItem", table, {"dynamodb:leadingkeys": ("etl/b",)}
    )
    assert allowed_by(reader, get)
    # A Scan has no leading key: a scoped reader cannot list (ls, get --prefix).
    assert not allowed_by(reader, Request("dynamodb:Scan", "dynamodb:Scan", table))
    # Unscoped, the scenario's scans are allowed.
    scans = [r for r in requests["reader"] if r.action == "dynamodb:Scan"]
    assert scans and all(allowed_by(_statements(resolved, "reader"), r) for r in scans)


#: parliament's findings that are its own errors (its IAM definitions, 2025-04).
PARLIAMENT_KNOWN = {
    # kms:ResourceAliases is a condition key of every KMS key operation (2021).
    "StatePublisherPolicy": [
        "UNKNOWN_CONDITION_FOR_ACTION: Unknown condition kms:ResourceAliases for action "
        "kms:Encrypt",
        "UNKNOWN_CONDITION_FOR_ACTION: Unknown condition kms:ResourceAliases for action "
        "kms:GenerateDataKey",
    ],
    "StateReaderPolicy": [
        "UNKNOWN_CONDITION_FOR_ACTION: Unknown condition kms:ResourceAliases for action kms:Decrypt"
    ],
    # sns:Unsubscribe is authorised on the subscription's topic.
    "StateSubscriberPolicy": [
        "RESOURCE_MISMATCH: [{'action': 'sns:Unsubscribe', 'required_format': '*'}]"
    ],
    # A stream's ARN ends in its label, a timestamp with colons, which parliament
    # splits as if they separated the ARN's fields.
    "ProcessorRole": [
        "RESOURCE_MISMATCH: ["
        + ", ".join(
            f"{{'action': 'dynamodb:{action}', "
            "'required_format': 'arn:*:dynamodb:*:*:table/*/stream/*'}"
            for action in ("DescribeStream", "GetRecords", "GetShardIterator")
        )
        + "]"
    ],
}


def test_the_policies_pass_parliament(recorded: tuple[dict[str, list[Request]], Resolved]) -> None:
    import warnings

    with warnings.catch_warnings():
        # parliament's import leaves its data files open.
        warnings.simplefilter("ignore", ResourceWarning)
        from parliament import analyze_policy_string

    _, resolved = recorded
    findings = {}
    for logical_id in sorted({i for ids in POLICIES.values() for i in ids}):
        policy = {"Version": "2012-10-17", "Statement": policy_statements(resolved, logical_id)}
        analyzed = analyze_policy_string(json.dumps(policy))
        found = [f"{f.issue}: {f.detail}" for f in analyzed.findings]
        if found:
            findings[logical_id] = found
    assert findings == PARLIAMENT_KNOWN
