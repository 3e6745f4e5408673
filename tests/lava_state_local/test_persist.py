"""A data directory: the local stack survives restarts (a stop, a kill -9), several realms
share one, and a directory it cannot read is refused by name with nothing overwritten.

moto's state belongs to its process, so each stack here is a ``lava-state local up``
subprocess, as a developer runs it.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from consumer_sdk import StateClient
from lava_state.naming import topic_name
from lava_state_local.persist import FORMAT_VERSION, MANIFEST
from publisher import StatePublisher
from tests.conftest import wait_until
from tests.lava_state_cli.conftest import run
from tests.lava_state_cli.test_local import clean_env, local_up


def clients(exports: dict[str, str], realm: str = "dev") -> tuple[StatePublisher, StateClient]:
    options: dict[str, Any] = {"session": session(exports), "endpoint_url": endpoint(exports)}
    return StatePublisher(realm, publisher="tests", **options), StateClient(realm, **options)


def session(exports: dict[str, str]) -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )


def endpoint(exports: dict[str, str]) -> str:
    return exports["AWS_ENDPOINT_URL"].strip("'")


def client(exports: dict[str, str], service: str) -> Any:
    return session(exports).client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint(exports),
        config=Config(account_id_endpoint_mode="disabled"),
    )


def test_a_restart_keeps_items_versions_keys_and_subscriptions(tmp_path: Path) -> None:
    env, data = clean_env(tmp_path), tmp_path / "data"
    with local_up(env, "--port", "0", "--data-dir", str(data)) as served:
        publisher, reader = clients(served.exports)
        publisher.put("a", {"n": 1})
        publisher.put("a", {"n": 2})
        publisher.put("r", {"d": Decimal("1.50"), "b": b"\x00\xff", "s": {"x", "y"}}, type="raw")
        publisher.put("pw", {"password": "p"}, type="secure")
        before = reader.get_many(["a", "r", "pw"])
        sns, sqs = client(served.exports, "sns"), client(served.exports, "sqs")
        topic = sns.create_topic(Name=topic_name("dev", "a"))["TopicArn"]
        queue = sqs.create_queue(QueueName="watcher")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "true"},
        )
        assert served.stop() == 0
    assert f"# data kept in {data}\n" in served.lines

    with local_up(env, "--port", "0", "--data-dir", str(data)) as served:
        publisher, reader = clients(served.exports)
        after = reader.get_many(["a", "r", "pw"])
        assert after == before  # values (the secure one decrypted), versions, ttl, timestamps
        assert after["a"].version == 2
        assert after["pw"].value == {"password": "p"}
        sqs = client(served.exports, "sqs")
        queue = sqs.get_queue_url(QueueName="watcher")["QueueUrl"]
        assert publisher.put("a", {"n": 3}).version == 3
        received: list[Any] = []

        def notified() -> bool:
            received.extend(
                sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", [])
            )
            return bool(received)

        assert wait_until(notified, timeout=30)
        event = json.loads(received[0]["Body"])
        assert (event["state_id"], event["version"]) == ("a", 3)


def test_a_kill_9_loses_at_most_the_last_second_of_writes(tmp_path: Path) -> None:
    env, data = clean_env(tmp_path), tmp_path / "data"
    acknowledged: list[tuple[str, float]] = []
    with local_up(env, "--port", "0", "--data-dir", str(data)) as served:
        publisher, _ = clients(served.exports)
        started = time.monotonic()
        while time.monotonic() - started < 3.0:
            state_id = f"k{len(acknowledged)}"
            publisher.put(state_id, len(acknowledged))
            acknowledged.append((state_id, time.monotonic()))
        served.process.kill()
        killed = time.monotonic()
        served.process.wait(timeout=30)

    with local_up(env, "--port", "0", "--data-dir", str(data)) as served:
        _, reader = clients(served.exports)
        kept = set(reader.get_many([state_id for state_id, _ in acknowledged]))
    must_survive = [state_id for state_id, at in acknowledged if at <= killed - 1.0]
    assert must_survive  # the writer ran long enough for the bound to mean something
    assert set(must_survive) <= kept
    # What is kept is a prefix of the writes: a snapshot never skips one.
    assert kept == {state_id for state_id, _ in acknowledged[: len(kept)]}


def test_several_realms_share_a_directory(tmp_path: Path) -> None:
    env, data = clean_env(tmp_path), tmp_path / "data"
    for realm in ("one", "two"):
        with local_up(env, "--port", "0", "--realm", realm, "--data-dir", str(data)) as served:
            publisher, _ = clients(served.exports, realm)
            publisher.put("id", realm)
    with local_up(env, "--port", "0", "--realm", "one", "--data-dir", str(data)) as served:
        for realm in ("one", "two"):
            assert clients(served.exports, realm)[1].get_value("id") == realm
        served.stop()
    assert f"# data kept in {data} (also realms two)\n" in served.lines


def test_a_corrupt_or_newer_file_is_named_and_nothing_is_overwritten(tmp_path: Path) -> None:
    env, data = clean_env(tmp_path), tmp_path / "data"
    with local_up(env, "--port", "0", "--data-dir", str(data)) as served:
        clients(served.exports)[0].put("a", 1)
        assert served.stop() == 0, served.process.stderr.read()  # type: ignore[union-attr]
    assert json.loads((data / MANIFEST).read_text())["tables"] == ["lava.dev.state"]
    table_file = data / "table.lava.dev.state.json"
    table_file.write_text('{"format": 1, "items": [')
    broken = table_file.read_bytes()
    failed = run(env, "local", "up", "--port", "0", "--data-dir", str(data))
    assert failed.returncode == 1
    assert f"lava-state: {table_file} is corrupt (JSONDecodeError" in failed.stderr
    assert "overwrote nothing" in failed.stderr
    assert table_file.read_bytes() == broken

    manifest = data / MANIFEST
    manifest.write_text(json.dumps({"format": FORMAT_VERSION + 1}))
    failed = run(env, "local", "up", "--port", "0", "--data-dir", str(data))
    assert failed.returncode == 1
    assert f"{manifest} was written by a newer lava-state (data format 2" in failed.stderr
    assert json.loads(manifest.read_text()) == {"format": FORMAT_VERSION + 1}


def test_local_env_finds_the_stack_by_its_data_directory_and_a_second_one_is_refused(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    env = {**clean_env(tmp_path), "LAVA_STATE_LOCAL_DATA_DIR": str(data)}
    with local_up(env, "--port", "0") as served:
        again = run(env, "local", "env")
        assert (again.returncode, again.stdout) == (0, served.printed)
        assert run(env, "local", "env", "--data-dir", str(data)).stdout == served.printed
        second = run(env, "local", "up", "--port", "0")
        assert second.returncode == 1
        assert f"data directory {data} is used by another running" in second.stderr
        served.stop()
    assert f'# in another shell: eval "$(lava-state local env --data-dir {data})"\n' in served.lines
    assert not (data / "local-up.json").exists()
