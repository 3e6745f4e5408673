"""lava_state_cli.parser: the grammar, usage errors (exit 2), global options, -p/-v values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from consumer_sdk import StateClient
from lava_state_cli.parser import build_parser, join_dash_values

from .conftest import run


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("put", "sid", "-p", "lines"), "expected KEY=VALUE"),
        (
            ("put", "sid"),
            "one of the arguments -p/--param -v/--value --value-file --json-value is required",
        ),
        (("put", "sid", "-v", "1", "--json-value", "1"), "not allowed with"),
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


# Values that start with "-"


@pytest.mark.parametrize(
    ("argv", "value"),
    [
        (["-v", "-Infinity"], "-Infinity"),  # as the README documents it
        (["-v", "-5"], -5),
        (["--value", "-x y"], "-x y"),
        (["-p", "-k=-v"], {"-k": "-v"}),
        (["--json-value", "-1.5"], -1.5),
    ],
)
def test_values_starting_with_a_dash_are_values(
    cli: Callable[..., tuple[int, str, str]], client: StateClient, argv: list[str], value: Any
) -> None:
    code, _, err = cli("put", "sid", *argv)

    assert (code, err) == (0, "")
    assert client.get_value("sid") == value


def test_a_ttl_starting_with_a_dash_reaches_the_ttl_rule(
    cli: Callable[..., tuple[int, str, str]], stored: Callable[[], dict[str, Any]]
) -> None:
    code, _, err = cli("put", "sid", "-v", "1", "--ttl", "-5m")

    assert code == 1  # our own validation (InvalidTTL), not argparse's usage error
    assert err == "lava-state: TTL '-5m' must be a positive duration\n"
    assert stored() == {}


def test_only_the_values_of_options_are_joined() -> None:
    assert join_dash_values(["-r", "-v", "put", "x", "-v", "-1", "-p", "k=v", "--ttl", "-2h"]) == [
        "-r",
        "-v",
        "put",
        "x",
        "--value=-1",
        "-p",
        "k=v",
        "--ttl=-2h",
    ]
    # Another command's -v is its own (local up -v is --verbose); after "--" nothing changes.
    assert join_dash_values(["local", "up", "-v", "--port", "0"]) == [
        "local",
        "up",
        "-v",
        "--port",
        "0",
    ]
    assert join_dash_values(["put", "x", "--", "-v", "-1"]) == ["put", "x", "--", "-v", "-1"]
    assert join_dash_values(["put", "x", "-v"]) == ["put", "x", "-v"]
    assert join_dash_values([]) == []


# The realm


@pytest.mark.parametrize("realm", ["bad realm", "a.b", "x" * 37])
def test_a_bad_realm_is_refused_before_any_aws_call(cli_env: dict[str, str], realm: str) -> None:
    for args in (("get", "sid"), ("put", "sid", "-v", "1"), ("ls",), ("rm", "sid")):
        result = run(cli_env, "-r", realm, *args)
        assert result.returncode == 1
        assert result.stderr == (
            f"lava-state: realm {realm!r} is not valid: use 1 to 36 letters, digits, '-' and "
            "'_' (a realm names the table lava.<realm>.state and the SNS topics "
            "lava-state-<realm>-...)\n"
        )
    env = {**cli_env, "LAVA_REALM": realm}
    assert "is not valid" in run(env, "get", "sid").stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["put", "sid", "-p", "a=1", "--ttl", "2h", "-r", "r1", "--json"],
        ["get", "sid", "{{ state }}", "--json", "--decrypt"],
        ["get", "--prefix", "app/", "-i"],
        ["ls", "app/", "--json"],
        ["rm", "a", "--if-version", "2"],
        ["render", "-", "--lenient"],
        ["local", "up", "--port", "0", "-v"],
        ["local", "env"],
        ["demo"],
        ["completion", "zsh"],
    ],
)
def test_the_invoked_commands_grammar_alone_parses_as_the_whole(argv: list[str]) -> None:
    def parsed(command: str | None) -> dict[str, Any]:
        args = vars(build_parser(command).parse_args(argv))
        return {key: value for key, value in args.items() if key != "command_parser"}

    assert parsed(argv[0]) == parsed(None)


def test_the_help_of_a_partial_parser_still_lists_every_command() -> None:
    assert build_parser("put").format_help() == build_parser().format_help()
