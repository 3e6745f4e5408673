"""The processor's package, built by the command `make lambda-zip` and `deploy` run,
for this interpreter's platform: unpacked into an empty directory, the handler
imports and runs there with only that directory (and the standard library) on
the path, which catches a dependency missing from the package."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lava_state_cli.package import PackageError, build_package, write_zip
from lava_state_local import LocalAws

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "stream_changes.json"
#: Lambda's limit on a function's unzipped code (layers included).
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024

_RUN_HANDLER = """
import json, sys
sys.path.insert(0, sys.argv[1])
from stream_processor.handler import lambda_handler

class Context:
    function_name = "lava-state-fixture-stream-processor"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:x"
    aws_request_id = "package-test"
    def get_remaining_time_in_millis(self):
        return 60000

with open(sys.argv[2]) as event:
    response = lambda_handler(json.load(event), Context())
print(json.dumps({"response": response, "path": sys.path,
                  "handler": sys.modules["stream_processor.handler"].__file__}))
"""


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    work = tmp_path_factory.mktemp("package")
    try:
        # Without bytecode: compiling the dependencies would triple the test's time
        # (bench/bench_package.py builds and measures both).
        package = build_package(
            work / "package.zip", platform="local", work=work / "build", compile_bytecode=False
        )
    except PackageError as exc:
        pytest.skip(f"no package could be built here (offline, no cached wheels?): {exc}")
    directory = work / "unpacked"
    with zipfile.ZipFile(package) as archive:
        archive.extractall(directory)
    yield directory


def test_the_handler_runs_from_the_package_alone(
    unpacked: Path, local_aws: LocalAws, aws_env: dict[str, str]
) -> None:
    # The fixture's changes are of realm "fixture", state_id "sid".
    sns, sqs = local_aws.client("sns"), local_aws.client("sqs")
    topic = sns.create_topic(Name="lava-state-fixture-sid")["TopicArn"]
    queue = sqs.create_queue(QueueName="package-test-fixture-sid")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    env = {
        **aws_env,
        "LAVA_REALM": "fixture",
        "LAVA_STATE_REALM_TOPIC": "false",
        "POWERTOOLS_SERVICE_NAME": "package-test",
        "PATH": "/usr/bin:/bin",
    }

    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _RUN_HANDLER, str(unpacked), str(FIXTURE)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["response"] == {"batchItemFailures": []}
    assert result["handler"].startswith(str(unpacked))
    assert not any("site-packages" in entry for entry in result["path"])
    messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=5)["Messages"]
    assert "sid" in messages[0]["Body"]


def test_the_package_holds_the_runtime_only_and_fits_lambda(unpacked: Path) -> None:
    files = [p for p in unpacked.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)

    assert size < LAMBDA_UNZIPPED_LIMIT
    for runtime in ("stream_processor", "lava_state", "aws_lambda_powertools", "boto3"):
        assert (unpacked / runtime).is_dir(), runtime
    for tool in ("moto", "pytest", "mypy", "cfnlint"):
        assert not (unpacked / tool).exists(), tool
    names = zipfile.ZipFile(unpacked.parent / "package.zip").namelist()
    assert not [n for n in names if "__pycache__" in n]  # not asked for


def test_the_zip_is_reproducible(tmp_path: Path) -> None:
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "a.py").write_text("x = 1\n")
    (tmp_path / "src" / "pkg" / "direct_url.json").write_text("{}")
    write_zip(tmp_path / "src", tmp_path / "one.zip")
    (tmp_path / "src" / "pkg" / "a.py").touch()  # a new mtime, same content

    write_zip(tmp_path / "src", tmp_path / "two.zip")

    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()
    assert zipfile.ZipFile(tmp_path / "one.zip").namelist() == ["pkg/a.py"]
