"""CLI robustness: raw binary values, NaN/Infinity as strings, internal errors in one line."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from lava_state.naming import table_name
from lava_state_cli import app as cli
from lava_state_cli.app import parse_value
from publisher import StatePublisher

from .conftest import run_in_process as run


def test_raw_binary_values_print_as_base64(
    dynamodb: Any, realm: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Raw items as another writer (lava's raw type stores native DynamoDB types) leaves them.
    for state_id, value in (
        ("bin", {"B": b"\x00\xffraw"}),
        ("nested", {"M": {"b": {"B": b"\x01"}}}),
    ):
        dynamodb.put_item(
            TableName=table_name(realm),
            Item={
                "state_id": {"S": state_id},
                "type": {"S": "raw"},
                "value": value,
                "timestamp": {"S": "2024-01-01T00:00:00+00:00"},
                "ttl": {"N": str(int(time.time()) + 3600)},
            },
        )
    encoded = base64.b64encode(b"\x00\xffraw").decode()

    code, out, err = run(capsys, "get", "-r", realm, "bin")
    assert (code, err) == (0, "")
    assert json.loads(out) == encoded

    code, out, _ = run(capsys, "get", "-r", realm, "--json", "bin")
    assert (code, json.loads(out)["value"]) == (0, encoded)

    code, out, _ = run(capsys, "get", "-r", realm, "-m", "bin", "nested")
    assert (code, json.loads(out)) == (0, {"bin": encoded, "nested": {"b": "AQ=="}})


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_strings(
    text: str, publisher: StatePublisher, realm: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert parse_value(text) == text
    code, _, err = run(capsys, "put", "-r", realm, "x", f"--value={text}")
    assert (code, err) == (0, "")
    code, out, _ = run(capsys, "get", "-r", realm, "--json", "x")
    assert json.loads(out)["value"] == text


def test_json_values_still_parse() -> None:
    assert parse_value('{"a": [1, 2.5, null]}') == {"a": [1, 2.5, None]}
    assert parse_value("not json") == "not json"


def test_an_unexpected_error_is_one_line_without_values(
    monkeypatch: pytest.MonkeyPatch, realm: str, capsys: pytest.CaptureFixture[str]
) -> None:
    def boom(_: Any) -> int:
        raise RuntimeError("cannot handle 's3cr3t-value' here")

    monkeypatch.setitem(cli._COMMANDS, "ls", boom)
    code, out, err = run(capsys, "ls", "-r", realm)
    assert code == 1 and out == ""
    assert err == "lava-state: internal error: RuntimeError: cannot handle ... here\n"
    assert "Traceback" not in err and "s3cr3t" not in err


def test_keyboard_interrupt_still_exits_130(
    monkeypatch: pytest.MonkeyPatch, realm: str, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(_: Any) -> int:
        raise KeyboardInterrupt

    monkeypatch.setitem(cli._COMMANDS, "ls", interrupted)
    assert run(capsys, "ls", "-r", realm)[0] == 130
