"""``lava-state`` as a shell payload runs it: a subprocess against the embedded local AWS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from consumer_sdk import StateClient
from publisher import StatePublisher


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lava_state_cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_put_params_like_the_seed(cli_env: dict[str, str], client: StateClient) -> None:
    result = run(cli_env, "put", "sid", "-p", "lines=45", "-p", "file=a=b.csv")
    assert result.returncode == 0, result.stderr
    item = client.get("sid")
    assert item is not None
    assert item.value == {"lines": "45", "file": "a=b.csv"}
    assert item.publisher == "lava-state CLI"


def test_put_value_type_ttl_publisher_and_job_id(
    cli_env: dict[str, str], client: StateClient
) -> None:
    assert run(cli_env, "put", "n", "-v", "45", "--ttl", "2h", "--publisher", "me").returncode == 0
    assert run(cli_env, "put", "s", "-v", "hello world").returncode == 0
    assert (
        run(
            {**cli_env, "LAVA_JOB_ID": "job/7"}, "put", "r", "-v", '{"a": 1.5}', "--type", "raw"
        ).returncode
        == 0
    )
    n, s, r = client.get("n"), client.get("s"), client.get("r")
    assert n is not None and (n.value, n.publisher) == (45, "me")
    assert s is not None and s.value == "hello world"
    assert r is not None and r.publisher == "job/7"
    assert str(r.value["a"]) == "1.5"


def test_get_prints_value_template_and_json(
    cli_env: dict[str, str], publisher: StatePublisher
) -> None:
    publisher.put("sid", {"lines": "45"})
    publisher.put("word", "plain")
    assert run(cli_env, "get", "sid").stdout == '{"lines": "45"}\n'
    assert run(cli_env, "get", "word").stdout == "plain\n"
    assert run(cli_env, "get", "sid", "{{ state.lines }} lines").stdout == "45 lines\n"
    item = json.loads(run(cli_env, "get", "--json", "sid").stdout)
    assert item["value"] == {"lines": "45"}
    assert item["version"] == 1
    assert item["publisher"] == "tests"


def test_secure_values_masked_in_json_unless_decrypt(
    cli_env: dict[str, str], publisher: StatePublisher
) -> None:
    publisher.put("tok", {"pw": "hunter2"}, type="secure")
    masked = run(cli_env, "get", "--json", "tok")
    assert "hunter2" not in masked.stdout + masked.stderr
    assert json.loads(masked.stdout)["value"] == "********"
    assert json.loads(run(cli_env, "get", "--json", "--decrypt", "tok").stdout)["value"] == {
        "pw": "hunter2"
    }


def test_missing_item_exit_codes(cli_env: dict[str, str]) -> None:
    missing = run(cli_env, "get", "nope")
    assert missing.returncode == 1
    assert missing.stderr.startswith("lava-state: ")
    assert "'nope' not found" in missing.stderr
    ignored = run(cli_env, "get", "-i", "nope")
    assert (ignored.returncode, ignored.stdout) == (0, "")


def test_rm(cli_env: dict[str, str], publisher: StatePublisher, stored: Any) -> None:
    publisher.put("a", 1)
    publisher.put("b", 2)
    assert run(cli_env, "rm", "a", "b").returncode == 0
    assert stored() == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("put", "sid", "-p", "lines"), "expected KEY=VALUE"),
        (("put", "sid"), "one of the arguments -p/--param -v/--value is required"),
        (("frobnicate",), "invalid choice"),
    ],
)
def test_usage_errors_exit_2(
    cli_env: dict[str, str], stored: Any, args: tuple[str, ...], message: str
) -> None:
    result = run(cli_env, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert stored() == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("put", "lava-x", "-v", "1"), "reserved"),
        (("put", "sid", "-v", "1", "--ttl", "2D"), "lower case"),
        (("put", "sid", "-v", "1", "--type", "blob"), "No such state type"),
        (("put", "sid", "-v", "1", "--realm", "nosuchrealm"), "table does not exist"),
    ],
)
def test_runtime_errors_exit_1_and_write_nothing(
    cli_env: dict[str, str], stored: Any, args: tuple[str, ...], message: str
) -> None:
    result = run(cli_env, *args)
    assert result.returncode == 1
    assert result.stderr.startswith("lava-state: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert stored() == {}


def test_missing_realm_is_a_clear_error(cli_env: dict[str, str]) -> None:
    env = {k: v for k, v in cli_env.items() if k != "LAVA_REALM"}
    result = run(env, "get", "sid")
    assert result.returncode == 1
    assert "LAVA_REALM" in result.stderr


def test_global_options_after_the_command(
    cli_env: dict[str, str], realm: str, client: StateClient
) -> None:
    env = {k: v for k, v in cli_env.items() if k != "LAVA_REALM"}
    endpoint = env.pop("AWS_ENDPOINT_URL")
    result = run(env, "put", "sid", "-v", "1", "-r", realm, "--endpoint-url", endpoint)
    assert result.returncode == 0, result.stderr
    assert client.get_value("sid") == 1


def test_profile_is_honoured(cli_env: dict[str, str], tmp_path: Any, client: StateClient) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[local]\naws_access_key_id = testing\naws_secret_access_key = testing\n"
    )
    env = {
        k: v
        for k, v in cli_env.items()
        if not k.startswith("AWS_ACCESS") and not k.startswith("AWS_SECRET")
    }
    env |= {
        "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
    }
    without = run(env, "put", "sid", "-v", "1")
    assert without.returncode == 1
    assert "no AWS credentials" in without.stderr
    assert run(env, "--profile", "local", "put", "sid", "-v", "1").returncode == 0
    assert client.get_value("sid") == 1
    missing = run(env, "--profile", "nosuch", "put", "sid", "-v", "2")
    assert missing.returncode == 1
    assert "nosuch" in missing.stderr


def test_local_up_serves_until_interrupted(tmp_path: Any) -> None:
    import signal

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "LAVA_REALM"}
    with subprocess.Popen(
        [sys.executable, "-m", "lava_state_cli", "local", "up", "--port", "0", "--realm", "dev"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as server:
        try:
            exports = {}
            assert server.stdout is not None
            for line in server.stdout:
                if line.startswith("# embedded AWS"):
                    break
                key, _, value = line.removeprefix("export ").strip().partition("=")
                exports[key] = value
            assert exports["LAVA_REALM"] == "dev"
            assert exports["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
            shell_env = {**env, **exports}
            assert run(shell_env, "put", "sid", "-p", "lines=3").returncode == 0
            assert run(shell_env, "get", "sid", "{{ state.lines }}").stdout == "3\n"
        finally:
            server.send_signal(signal.SIGINT)
            assert server.wait(timeout=30) == 0


def test_get_template_errors_are_clear(cli_env: dict[str, str], publisher: StatePublisher) -> None:
    publisher.put("sid", {"lines": "45"})
    undefined = run(cli_env, "get", "sid", "{{ state.rows }}")
    assert undefined.returncode == 1
    assert "rows" in undefined.stderr
    assert undefined.stderr.startswith("lava-state: ")
    escape = run(cli_env, "get", "sid", "{{ ''.__class__.__mro__ }}")
    assert escape.returncode == 1
    assert "object" not in escape.stdout
    assert escape.stderr.startswith("lava-state: template at TEMPLATE, line 1 is not allowed")
    assert "access to attribute '__class__' of a 'str' object is unsafe" in escape.stderr
