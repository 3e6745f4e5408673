"""One source for the local stack and the stack: a local realm is deploy/lava-state.yaml
deployed into the embedded AWS, and what it cannot deploy (the processor's function
and its event source mapping) the local stream runner does, configured from the same
template. These tests fail when the two disagree (table name, key schema, TTL
attribute, stream view type, key alias, realm topic, dead-letter queue, the
processor's configuration)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from lava_state import constants
from lava_state.errors import ConfigurationError
from lava_state.naming import kms_alias, realm_topic_name, stack_name, table_name, topic_name
from lava_state_local import LocalAws, RunnerSettings, StreamRunner
from lava_state_local.lambda_event import LOCAL_ACCOUNT
from lava_state_local.server import LOCAL_REGION, processor_settings
from lava_state_local.template import NOT_DEPLOYED, TEMPLATE, Resolved, load, local_template
from tests.deploy.iam import resolve_template


@pytest.fixture
def template(realm: str) -> Resolved:
    """The template resolved for the test's realm as the local stack deploys it."""
    return resolve_template(
        {"Realm": realm, "RealmTopic": "true"},
        {"StateTable.Arn": "arn", "StateTable.StreamArn": "arn", "RealmKey": "key"},
    )


def test_the_loader_reads_the_template_as_cfn_lint_does() -> None:
    assert load() == json.loads(json.dumps(cfn_yaml.load(str(TEMPLATE))))


def test_a_local_realm_is_the_templates_stack_but_what_moto_cannot_run(
    local_aws: LocalAws, realm: str
) -> None:
    resources = load()["Resources"]
    cloudformation = local_aws.client("cloudformation")

    deployed = {
        r["LogicalResourceId"]: r["ResourceStatus"]
        for r in cloudformation.list_stack_resources(StackName=stack_name(realm))[
            "StackResourceSummaries"
        ]
    }
    left_out = set(resources) - set(deployed)

    assert set(deployed.values()) == {"CREATE_COMPLETE"}
    assert {"StateTable", "RealmKey", "RealmKeyAlias", "ProcessorDeadLetterQueue"} <= set(deployed)
    assert {"ProcessorRole", "RealmChangesTopic", "StateSubscriberPolicy"} <= set(deployed)
    # Only the types moto cannot run, and the alarms on the function.
    assert {resources[r]["Type"] for r in left_out} == set(NOT_DEPLOYED)
    assert {"ProcessorFunction", "ProcessorEventSourceMapping"} <= left_out


def test_the_local_table_is_the_templates(
    template: Resolved, realm: str, local_aws: LocalAws
) -> None:
    table = template.properties("StateTable")
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
    alias = template.properties("RealmKeyAlias")["AliasName"]
    kms = local_aws.client("kms")

    described = kms.describe_key(KeyId=alias)["KeyMetadata"]  # moto's 500 worked around
    policy = json.loads(
        kms.get_key_policy(KeyId=described["KeyId"], PolicyName="default")["Policy"]
    )

    assert alias == kms_alias(realm)
    assert described["KeyId"] == local_aws.provision_realm(realm)
    # Idempotent: provisioning again keeps the same key.
    assert local_aws.provision_realm(realm) == described["KeyId"]
    assert policy == template.properties("RealmKey")["KeyPolicy"]


def test_the_realm_topic_and_the_topic_prefix_are_the_templates(
    template: Resolved, realm: str, local_aws: LocalAws
) -> None:
    plain = template.properties("RealmChangesTopic")["TopicName"]
    fifo = resolve_template({"Realm": realm, "RealmTopic": "true", "FifoTopics": "true"})
    prefix = template.resolve(template.template["Outputs"]["TopicPrefix"]["Value"])
    sns = local_aws.client("sns")
    arn = f"arn:aws:sns:{LOCAL_REGION}:{LOCAL_ACCOUNT}:{plain}"

    assert plain == realm_topic_name(realm)
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["TopicArn"] == arn
    assert fifo.properties("RealmChangesTopic")["TopicName"] == realm_topic_name(realm, fifo=True)
    assert topic_name(realm, "job-a") == f"{prefix}job-a"


def test_the_local_dead_letter_queue_is_the_templates(
    template: Resolved, start_runner: Any
) -> None:
    runner: StreamRunner = start_runner()
    queue = template.properties("ProcessorDeadLetterQueue")["QueueName"]

    assert runner.dlq_url.rsplit("/", 1)[-1] == queue


def test_the_function_is_configured_by_the_variables_the_processor_reads(
    template: Resolved,
) -> None:
    function = template.properties("ProcessorFunction")
    read = {
        constants.ENV_REALM,
        constants.ENV_REALM_TOPIC,
        constants.ENV_FIFO_TOPICS,
        constants.ENV_MISSING_TOPIC_TTL,
        constants.ENV_TRACING,
    }

    assert read <= set(function["Environment"]["Variables"])
    assert function["Handler"] == "stream_processor.handler.lambda_handler"
    import stream_processor.handler

    assert callable(stream_processor.handler.lambda_handler)


def test_the_local_runner_is_configured_by_the_stacks_parameters(
    local_aws: LocalAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (constants.ENV_REALM_TOPIC, constants.ENV_MISSING_TOPIC_TTL):
        monkeypatch.delenv(name, raising=False)
    realm = f"t{uuid.uuid4().hex[:12]}"
    local_aws.provision_realm(
        realm,
        {
            "BatchSize": "7",
            "MaximumRetryAttempts": "2",
            "BatchingWindowSeconds": "1",
            "MissingTopicTtl": "5",
            "RealmTopic": "false",
        },
    )

    runner = local_aws.start_stream_runner(realm)
    processor = processor_settings(realm, {}, stack=local_aws.realm_stack(realm))
    sns = local_aws.client("sns")
    realm_topic = f"arn:aws:sns:{LOCAL_REGION}:{LOCAL_ACCOUNT}:{realm_topic_name(realm)}"
    runner.stop()

    assert (runner.settings.batch_size, runner.settings.max_retries) == (7, 2)
    assert runner.settings.batching_window == 1.0
    assert runner.settings.bisect_on_error
    assert (processor.realm, processor.missing_topic_ttl, processor.realm_topic) == (
        realm,
        5.0,
        False,
    )
    with pytest.raises(sns.exceptions.NotFoundException):
        sns.get_topic_attributes(TopicArn=realm_topic)


def test_the_runner_defaults_are_the_templates_defaults(template: Resolved) -> None:
    mapping = template.properties("ProcessorEventSourceMapping")

    settings = RunnerSettings.from_mapping(mapping)

    assert settings.batch_size == int(template.template["Parameters"]["BatchSize"]["Default"])
    assert settings.max_retries == int(
        template.template["Parameters"]["MaximumRetryAttempts"]["Default"]
    )
    assert mapping["StartingPosition"] == "TRIM_HORIZON"  # what the runner reads from
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]  # what it honours


def test_a_stack_that_cannot_be_created_is_rolled_back_with_its_reason(
    local_aws: LocalAws,
) -> None:
    realm = f"t{uuid.uuid4().hex[:12]}"
    dynamodb = local_aws.client("dynamodb")
    dynamodb.create_table(
        TableName=table_name(realm),
        AttributeDefinitions=[{"AttributeName": "state_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "state_id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )

    with pytest.raises(ConfigurationError, match=f"Table already exists: {table_name(realm)}"):
        local_aws.provision_realm(realm)

    kms = local_aws.client("kms")
    with pytest.raises(kms.exceptions.NotFoundException):
        kms.describe_key(KeyId=kms_alias(realm))
    # Once the table is gone, the realm deploys.
    dynamodb.delete_table(TableName=table_name(realm))
    assert local_aws.provision_realm(realm)


def test_an_existing_key_alias_is_kept(local_aws: LocalAws) -> None:
    realm = f"t{uuid.uuid4().hex[:12]}"
    kms = local_aws.client("kms")
    key_id = kms.create_key(Description="made by lava")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=kms_alias(realm), TargetKeyId=key_id)

    assert local_aws.provision_realm(realm) == key_id
    assert local_aws.realm_stack(realm).values["CreateKmsKey"] == "false"


def test_the_local_template_leaves_out_what_refers_to_what_it_leaves_out() -> None:
    template = {
        "Parameters": {"Code": {"Type": "String"}, "Name": {"Type": "String"}},
        "Rules": {
            "NeedsCode": {"Assertions": [{"Assert": {"Fn::Not": [{"Ref": "Code"}]}}]},
            "NeedsName": {"Assertions": [{"Assert": {"Fn::Not": [{"Ref": "Name"}]}}]},
        },
        "Resources": {
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Ref": "Name"}}},
            "Function": {
                "Type": "AWS::Lambda::Function",
                "Properties": {"Code": {"Ref": "Code"}, "Dlq": {"Fn::GetAtt": ["Queue", "Arn"]}},
            },
            "Alarm": {
                "Type": "AWS::SNS::Topic",
                "Properties": {"TopicName": {"Fn::Sub": "${Function}-alarm"}},
            },
            "After": {"Type": "AWS::SNS::Topic", "DependsOn": "Alarm", "Properties": {}},
        },
        "Outputs": {
            "QueueUrl": {"Value": {"Ref": "Queue"}},
            "FunctionArn": {"Value": {"Fn::GetAtt": ["Function", "Arn"]}},
        },
    }

    local = local_template(template)

    assert set(local["Resources"]) == {"Queue"}
    assert set(local["Outputs"]) == {"QueueUrl"}
    assert set(local["Rules"]) == {"NeedsName"}
    assert local["Parameters"] == template["Parameters"]
    assert set(template["Resources"]) == {"Queue", "Function", "Alarm", "After"}  # unchanged
