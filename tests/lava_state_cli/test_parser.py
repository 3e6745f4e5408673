"""lava_state_cli.parser: the grammar, usage errors (exit 2), global options, -p/-v values."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from consumer_sdk import StateClient
from lava_state_cli.errors import UsageError
from lava_state_cli.parser import build_parser, parse_params, parse_value

from .conftest import run, run_in_process


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
        (["--if-version", "1", "--if-absent"], "not allowed with"),
        (["--if-version", "x"], "not a version"),
        (["--if-version", "-1"], "not a version"),
    ],
)
def test_put_condition_usage_errors(
    cli: Callable[..., tuple[int, str, str]],
    stored: Callable[[], dict[str, Any]],
    args: list[str],
    message: str,
) -> None:
    code, _, err = cli("put", "sid", "-v", "1", *args)
    assert code == 2
    assert message in err
    assert stored() == {}


def test_params_are_a_json_object_of_strings() -> None:
    assert parse_params(["lines=45", "file=a=b.csv", "empty="]) == {
        "lines": "45",
        "file": "a=b.csv",
        "empty": "",
    }
    for bad in ("lines", "=45"):
        with pytest.raises(UsageError, match="expected KEY=VALUE"):
            parse_params([bad])


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_strings(
    text: str, realm: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert parse_value(text) == text
    code, _, err = run_in_process(capsys, "put", "-r", realm, "x", f"--value={text}")
    assert (code, err) == (0, "")
    code, out, _ = run_in_process(capsys, "get", "-r", realm, "--json", "x")
    assert json.loads(out)["value"] == text


def test_json_values_still_parse() -> None:
    assert parse_value('{"a": [1, 2.5, null]}') == {"a": [1, 2.5, None]}
    assert parse_value("not json") == "not json"


@pytest.mark.parametrize(
    "argv",
    [
        ["-r", "before", "--region", "eu-west-1", "get", "x"],
        ["get", "x", "-r", "before", "--region", "eu-west-1"],
        ["-r", "before", "get", "--region", "eu-west-1", "x"],
    ],
)
def test_global_options_before_or_after_the_command(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)

    assert (args.realm, args.region, args.profile, args.endpoint_url) == (
        "before",
        "eu-west-1",
        None,
        None,
    )


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
