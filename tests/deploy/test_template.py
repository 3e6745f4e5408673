"""One source for the local stack and the stack: what ``LocalAws.provision_realm``
and the local stream runner create agrees with deploy/lava-state.yaml (table
name, key schema, TTL attribute, stream view type, key alias, realm topic,
dead-letter queue, the processor's configuration variables)."""

from __future__ import annotations

from typing import Any

import pytest

from lava_state import constants
from lava_state.naming import kms_alias, realm_topic_name, table_name, topic_name
from lava_state_local import LocalAws, StreamRunner
from tests.deploy.iam import Resolved, load_template


@pytest.fixture
def template(realm: str) -> Resolved:
    """The template resolved for the test's realm, every optional resource on."""
    return Resolved(
        load_template(),
        {"Realm": realm, "RealmTopic": "true"},
        {"StateTable.Arn": "arn", "StateTable.StreamArn": "arn", "RealmKey": "key"},
    )


def _properties(template: Resolved, logical_id: str) -> dict[str, Any]:
    resource = template.template["Resources"][logical_id]
    condition = resource.get("Condition")
    assert condition is None or template.condition(condition), logical_id
    properties: dict[str, Any] = template.resolve(resource["Properties"])
    return properties


def test_the_local_table_is_the_templates(
    template: Resolved, realm: str, local_aws: LocalAws
) -> None:
    table = _properties(template, "StateTable")
    dynamodb = local_aws.client("dynamodb")

    described = dynamodb.describe_table(TableName=table["TableName"])["Table"]
    ttl = dynamodb.describe_time_to_live(TableName=table["TableName"])["TimeToLiveDescription"]

    assert table["TableName"] == table_name(realm)
    assert described["KeySchema"] == table["KeySchema"]
    assert described["AttributeDefinitions"] == table["AttributeDefinitions"]
    assert described["BillingModeSummary"]["BillingMode"] == table["BillingMode"]
    assert ttl["AttributeName"] == table["TimeToLiveSpecification"]["AttributeName"]
    assert ttl["AttributeName"] == constants.ATTR_TTL
    assert ttl["TimeToLiveStatus"] == "ENABLED"
    assert described["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": table["StreamSpecification"]["StreamViewType"],
    }


def test_the_local_key_alias_is_the_templates(
    template: Resolved, realm: str, local_aws: LocalAws
) -> None:
    alias = _properties(template, "RealmKeyAlias")["AliasName"]

    aliases = [a["AliasName"] for a in local_aws.client("kms").list_aliases()["Aliases"]]

    assert alias == kms_alias(realm)
    assert alias in aliases


def test_the_realm_topic_and_the_topic_prefix_are_the_templates(
    template: Resolved, realm: str
) -> None:
    plain = _properties(template, "RealmChangesTopic")["TopicName"]
    fifo = Resolved(
        template.template, {**_given(template), "FifoTopics": "true"}, template.attributes
    )
    prefix = template.resolve(template.template["Outputs"]["TopicPrefix"]["Value"])

    assert plain == realm_topic_name(realm)
    assert _properties(fifo, "RealmChangesTopic")["TopicName"] == realm_topic_name(realm, fifo=True)
    assert topic_name(realm, "job-a") == f"{prefix}job-a"


def test_the_local_dead_letter_queue_is_the_templates(
    template: Resolved, start_runner: Any
) -> None:
    runner: StreamRunner = start_runner()
    queue = _properties(template, "ProcessorDeadLetterQueue")["QueueName"]

    assert runner.dlq_url.rsplit("/", 1)[-1] == queue


def test_the_function_is_configured_by_the_variables_the_processor_reads(
    template: Resolved,
) -> None:
    variables = _properties(template, "ProcessorFunction")["Environment"]["Variables"]
    read = {
        constants.ENV_REALM,
        constants.ENV_REALM_TOPIC,
        constants.ENV_FIFO_TOPICS,
        constants.ENV_MISSING_TOPIC_TTL,
        constants.ENV_TRACING,
    }

    assert read <= set(variables)
    assert _properties(template, "ProcessorFunction")["Handler"] == (
        "stream_processor.handler.lambda_handler"
    )
    import stream_processor.handler

    assert callable(stream_processor.handler.lambda_handler)


def _given(template: Resolved) -> dict[str, str]:
    return {"Realm": template.values["Realm"], "RealmTopic": template.values["RealmTopic"]}
