"""``lava-state deploy`` end to end on the embedded AWS: S3 for the package,
CloudFormation change sets for the stack (moto deploys every resource type of the
template but the alarms, which it skips with a warning)."""

from __future__ import annotations

import io
import uuid
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from lava_state.naming import table_name
from lava_state_cli.deploy import cmd_deploy
from lava_state_cli.errors import CommandFailed
from lava_state_cli.parser import build_parser
from lava_state_cli.stack import KEY_PREFIX, DeployFailed, package_key
from lava_state_local import LocalAws
from lava_state_local.server import LOCAL_CREDENTIALS, LOCAL_REGION

from .conftest import run_in_process

pytestmark = pytest.mark.filterwarnings(
    # moto has no CloudFormation model of CloudWatch alarms: it skips them, warning.
    "ignore:Tried to parse AWS..CloudWatch..Alarm:UserWarning"
)
FAST = ("--poll-seconds", "0.05")


def _zip(tmp_path: Path, text: str) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("stream_processor/marker.txt", text)
    path = tmp_path / f"package-{uuid.uuid4().hex[:6]}.zip"
    path.write_bytes(buffer.getvalue())
    return path


@pytest.fixture
def stack_realm() -> str:
    return f"d{uuid.uuid4().hex[:10]}"


@pytest.fixture
def bucket(local_aws: LocalAws) -> str:
    name = f"code-{uuid.uuid4().hex[:12]}"
    local_aws.session().client("s3", endpoint_url=local_aws.endpoint_url).create_bucket(Bucket=name)
    return name


def _deploy(capsys: pytest.CaptureFixture[str], realm: str, *args: str) -> tuple[int, str, str]:
    return run_in_process(capsys, "deploy", "--realm", realm, *FAST, *args)


def _stack(local_aws: LocalAws, name: str) -> dict[str, Any]:
    cfn = local_aws.session().client("cloudformation", endpoint_url=local_aws.endpoint_url)
    stack: dict[str, Any] = cfn.describe_stacks(StackName=name)["Stacks"][0]
    return stack


def _parameters(stack: dict[str, Any]) -> dict[str, str]:
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}


def test_deploy_creates_the_stack_then_a_redeploy_changes_and_uploads_nothing(
    capsys: pytest.CaptureFixture[str],
    local_aws: LocalAws,
    stack_realm: str,
    bucket: str,
    tmp_path: Path,
) -> None:
    package = _zip(tmp_path, "v1")
    s3 = local_aws.session().client("s3", endpoint_url=local_aws.endpoint_url)

    code, out, err = _deploy(
        capsys, stack_realm, "--code-bucket", bucket, "--package", str(package)
    )

    assert code == 0, err
    key = package_key(package.read_bytes())
    assert f"package: s3://{bucket}/{key} (uploaded)" in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if "AWS::" in line}
    assert rows["StateTable"] == ["AWS::DynamoDB::Table", "Add", "-"]
    assert rows["ProcessorFunction"][:2] == ["AWS::Lambda::Function", "Add"]
    assert "StateTable (AWS::DynamoDB::Table)" not in out  # progress goes to stderr
    assert f"lava-state-{stack_realm} (AWS::CloudFormation::Stack) CREATE_COMPLETE" in err
    stack = _stack(local_aws, f"lava-state-{stack_realm}")
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert _parameters(stack)["ProcessorCodeKey"] == key
    dynamodb = local_aws.client("dynamodb")
    table = dynamodb.describe_table(TableName=table_name(stack_realm))["Table"]
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"

    code, out, err = _deploy(
        capsys, stack_realm, "--code-bucket", bucket, "--package", str(package)
    )

    assert code == 0, err
    assert "(unchanged, not uploaded)" in out
    assert f"no changes: the stack lava-state-{stack_realm} is up to date" in out
    assert "AWS::" not in out
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=KEY_PREFIX)
    assert [o["Key"] for o in listed["Contents"]] == [key]
    assert _stack(local_aws, f"lava-state-{stack_realm}")["StackStatus"] == "CREATE_COMPLETE"


def test_a_parameter_change_updates_the_stack_and_keeps_the_others(
    capsys: pytest.CaptureFixture[str],
    local_aws: LocalAws,
    stack_realm: str,
    bucket: str,
    tmp_path: Path,
) -> None:
    package = str(_zip(tmp_path, "v1"))
    name = f"lava-state-{stack_realm}"
    first = ("--code-bucket", bucket, "--package", package, "--parameter", "BatchSize=50")
    assert _deploy(capsys, stack_realm, *first)[0] == 0
    assert _parameters(_stack(local_aws, name))["RealmTopic"] == "false"

    code, out, err = _deploy(
        capsys,
        stack_realm,
        "--code-bucket",
        bucket,
        "--package",
        package,
        "--parameter",
        "RealmTopic=true",
    )

    assert code == 0, err
    assert "change set (UPDATE" in out
    # moto applies new parameter values but diffs resources by their template
    # text only: it neither lists nor creates what a parameter's condition adds.
    assert f"{name} (AWS::CloudFormation::Stack) UPDATE_COMPLETE" in err
    parameters = _parameters(_stack(local_aws, name))
    assert parameters["RealmTopic"] == "true"
    assert parameters["BatchSize"] == "50"  # not given again, kept


def test_a_dry_run_prints_the_change_set_and_creates_nothing(
    capsys: pytest.CaptureFixture[str],
    local_aws: LocalAws,
    stack_realm: str,
    bucket: str,
    tmp_path: Path,
) -> None:
    code, out, err = _deploy(
        capsys,
        stack_realm,
        "--code-bucket",
        bucket,
        "--package",
        str(_zip(tmp_path, "x")),
        "--dry-run",
    )

    assert code == 0, err
    assert "RESOURCE" in out and "REPLACEMENT" in out
    assert "dry run: the change set was not executed" in out
    dynamodb = local_aws.client("dynamodb")
    assert table_name(stack_realm) not in dynamodb.list_tables()["TableNames"]


def test_a_new_package_gets_a_new_key(
    capsys: pytest.CaptureFixture[str],
    local_aws: LocalAws,
    stack_realm: str,
    bucket: str,
    tmp_path: Path,
) -> None:
    assert (
        _deploy(
            capsys, stack_realm, "--code-bucket", bucket, "--package", str(_zip(tmp_path, "v1"))
        )[0]
        == 0
    )
    new = _zip(tmp_path, "v2")

    code, out, _ = _deploy(capsys, stack_realm, "--code-bucket", bucket, "--package", str(new))

    assert code == 0
    assert f"{package_key(new.read_bytes())} (uploaded)" in out
    stack = _stack(local_aws, f"lava-state-{stack_realm}")
    assert _parameters(stack)["ProcessorCodeKey"] == package_key(new.read_bytes())


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--parameter", "NoSuch=1"], "unknown stack parameter(s) NoSuch"),
        (["--parameter", "Realm=x"], "give the realm with --realm"),
        (["--parameter", "oops"], "expected KEY=VALUE"),
        (["--package", "/nonexistent.zip"], "cannot read the package /nonexistent.zip"),
    ],
)
def test_bad_options_are_refused_with_the_reason(
    capsys: pytest.CaptureFixture[str],
    stack_realm: str,
    bucket: str,
    tmp_path: Path,
    argv: list[str],
    message: str,
) -> None:
    package = ["--package", str(_zip(tmp_path, "x"))] if "--package" not in argv else []

    code, _, err = _deploy(capsys, stack_realm, "--code-bucket", bucket, *package, *argv)

    assert code in (1, 2)
    assert message in err


_NS = 'xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"'


def _rolled_back(name: str) -> bytes:
    return (
        f"<DescribeStacksResponse {_NS}><DescribeStacksResult><Stacks><member>"
        f"<StackName>{name}</StackName><StackId>id-{name}</StackId>"
        "<CreationTime>2026-12-01T00:00:00Z</CreationTime>"
        "<StackStatus>UPDATE_ROLLBACK_COMPLETE</StackStatus>"
        "</member></Stacks></DescribeStacksResult></DescribeStacksResponse>"
    ).encode()


def _failed_events(name: str) -> bytes:
    def member(n: int, logical: str, kind: str, status: str, reason: str) -> str:
        return (
            f"<member><StackId>id-{name}</StackId><EventId>e{n}</EventId>"
            f"<StackName>{name}</StackName><LogicalResourceId>{logical}</LogicalResourceId>"
            f"<ResourceType>{kind}</ResourceType><Timestamp>2026-12-01T00:00:0{n}Z</Timestamp>"
            f"<ResourceStatus>{status}</ResourceStatus>"
            f"<ResourceStatusReason>{reason}</ResourceStatusReason></member>"
        )

    members = [
        member(3, name, "AWS::CloudFormation::Stack", "UPDATE_ROLLBACK_COMPLETE", ""),
        member(2, "RealmChangesTopic", "AWS::SNS::Topic", "CREATE_FAILED", "Topic quota exceeded"),
        member(1, name, "AWS::CloudFormation::Stack", "UPDATE_IN_PROGRESS", "User Initiated"),
    ]
    return (
        f"<DescribeStackEventsResponse {_NS}><DescribeStackEventsResult><StackEvents>"
        + "".join(members)
        + "</StackEvents></DescribeStackEventsResult></DescribeStackEventsResponse>"
    ).encode()


def test_a_failed_deploy_prints_the_failed_resources_and_exits_1(
    capsys: pytest.CaptureFixture[str],
    local_aws: LocalAws,
    stack_realm: str,
    bucket: str,
    tmp_path: Path,
) -> None:
    # moto applies a change set at once and never rolls back: the stack's
    # report of a failure is canned, after the real create and execute.
    package = str(_zip(tmp_path, "v1"))
    name = f"lava-state-{stack_realm}"
    assert _deploy(capsys, stack_realm, "--code-bucket", bucket, "--package", package)[0] == 0
    # Its own session: the canned answers must not reach the suite's other clients.
    session = boto3.session.Session(
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=LOCAL_REGION,
    )
    executed: list[bool] = []

    def canned(request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        if not executed:
            return None
        stacks = event_name.endswith(".DescribeStacks")
        body = _rolled_back(name) if stacks else _failed_events(name)
        return AWSResponse(request.url, 200, {}, _Raw(body))

    session.events.register(
        "before-send.cloudformation.ExecuteChangeSet", lambda **_: executed.append(True)
    )
    session.events.register("before-send.cloudformation.DescribeStacks", canned)
    session.events.register("before-send.cloudformation.DescribeStackEvents", canned)
    args = build_parser("deploy").parse_args(
        [
            "deploy",
            "--realm",
            stack_realm,
            *FAST,
            "--code-bucket",
            bucket,
            "--package",
            package,
            "--parameter",
            "RealmTopic=true",
        ]
    )

    with pytest.raises(DeployFailed, match=f"the stack {name} is UPDATE_ROLLBACK_COMPLETE"):
        cmd_deploy(args, session=session)

    _, err = capsys.readouterr()
    assert "1 resource(s) failed:" in err
    assert "RealmChangesTopic (AWS::SNS::Topic) CREATE_FAILED: Topic quota exceeded" in err
    # DeployFailed is a CommandFailed: main prints it and exits 1.
    assert issubclass(DeployFailed, CommandFailed)


class _Raw:
    """The raw stream botocore reads a response body from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def test_without_a_code_bucket_the_accounts_own_is_created(
    capsys: pytest.CaptureFixture[str], local_aws: LocalAws, stack_realm: str, tmp_path: Path
) -> None:
    package = _zip(tmp_path, "own bucket")

    code, out, err = _deploy(capsys, stack_realm, "--package", str(package), "--dry-run")

    assert code == 0, err
    bucket = "lava-state-code-123456789012-us-east-1"  # moto's account, the local region
    assert f"package: s3://{bucket}/{package_key(package.read_bytes())}" in out
    s3 = local_aws.session().client("s3", endpoint_url=local_aws.endpoint_url)
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]
