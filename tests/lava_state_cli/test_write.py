"""lava_state_cli.write: ``put`` (values, options, conditions, start-up cost) and ``rm``."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from consumer_sdk import StateClient
from lava_state.naming import table_name
from lava_state_cli.errors import UsageError
from lava_state_cli.write import parse_params, parse_value
from publisher import StatePublisher

from .conftest import run, run_in_process


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


def test_put_if_version(
    cli: Callable[..., tuple[int, str, str]], stored: Callable[[], dict[str, Any]]
) -> None:
    assert cli("put", "sid", "-p", "lines=45")[0] == 0
    assert cli("put", "sid", "-p", "lines=46", "--if-version", "1")[0] == 0

    code, _, err = cli("put", "sid", "-p", "lines=47", "--if-version", "1")

    assert code == 1
    assert err.startswith("lava-state: ")
    assert "version 2" in err
    item = stored()["sid"]
    assert (item["value"], item["version"]) == ({"S": '{"lines": "46"}'}, {"N": "2"})


def test_put_if_absent(
    cli: Callable[..., tuple[int, str, str]], stored: Callable[[], dict[str, Any]]
) -> None:
    assert cli("put", "sid", "-v", "first", "--if-absent")[0] == 0
    code, _, err = cli("put", "sid", "-v", "second", "--if-absent")
    assert code == 1
    assert "sid" in err
    assert stored()["sid"]["value"] == {"S": '"first"'}


def test_a_small_json_put_does_not_import_cryptography_or_tenacity(cli_env: dict[str, str]) -> None:
    code = (
        "import sys\n"
        "from lava_state_cli import main\n"
        "assert main(['put', 'sid', '-p', 'lines=45']) == 0\n"
        "print(sorted(m for m in ('cryptography', 'tenacity', 'jinja2', 'moto') "
        "if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=cli_env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


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


def test_put_is_silent_and_put_json_prints_the_stored_metadata(
    cli: Callable[..., tuple[int, str, str]], client: StateClient
) -> None:
    assert cli("put", "sid", "-p", "lines=45") == (0, "", "")  # silent, as lava's

    code, out, err = cli("put", "tok", "-v", "s3cr3t", "--type", "secure", "--json", "--ttl", "1h")

    assert (code, err) == (0, "")
    shown = json.loads(out)
    item = client.get("tok")
    assert item is not None
    assert shown == {
        "state_id": "tok",
        "type": "secure",
        "version": 1,
        "timestamp": item.timestamp.isoformat(),
        "ttl": item.ttl,
        "expires_at": item.expires_at.isoformat() if item.expires_at else None,
        "publisher": "lava-state CLI",
    }
    assert "s3cr3t" not in out  # never the value
    assert (
        json.loads(cli("put", "tok", "-v", "again", "--type", "secure", "--json")[1])["version"]
        == 2
    )


def test_put_value_file_and_stdin(
    cli_env: dict[str, str], client: StateClient, tmp_path: Path
) -> None:
    big = {"rows": ["x" * 100] * 3000}  # 300 KB: too long for one argument on many systems
    path = tmp_path / "value.json"
    path.write_text(json.dumps(big) + "\n")
    text = tmp_path / "text.txt"
    text.write_text("line one\nline two\n\n")

    assert run(cli_env, "put", "big", "--value-file", str(path)).returncode == 0
    assert run(cli_env, "put", "text", "--value-file", str(text)).returncode == 0
    piped = subprocess.run(
        [sys.executable, "-m", "lava_state_cli", "put", "piped", "--value-file", "-"],
        input="from stdin\n",
        env=cli_env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert piped.returncode == 0, piped.stderr
    assert client.get_value("big") == big
    # As -v "$(cat FILE)" would: trailing newlines removed, the rest kept.
    assert client.get_value("text") == "line one\nline two"
    assert client.get_value("piped") == "from stdin"


def test_put_value_file_errors(
    cli: Callable[..., tuple[int, str, str]], stored: Callable[[], dict[str, Any]], tmp_path: Path
) -> None:
    binary = tmp_path / "blob"
    binary.write_bytes(b"\xff\xfe\x00")

    code, _, err = cli("put", "sid", "--value-file", str(tmp_path / "none"))
    assert code == 1
    assert (
        err
        == f"lava-state: cannot read --value-file {tmp_path / 'none'}: No such file or directory\n"
    )
    code, _, err = cli("put", "sid", "--value-file", str(binary))
    assert code == 1
    assert "is not UTF-8 text (byte 0)" in err
    assert stored() == {}


def test_put_json_value_is_strict_json(
    cli: Callable[..., tuple[int, str, str]],
    client: StateClient,
    stored: Callable[[], dict[str, Any]],
) -> None:
    assert cli("put", "sid", "--json-value", '{"a": [1, 2.5, null]}')[0] == 0
    assert cli("put", "word", "--json-value", '"text"')[0] == 0
    assert client.get_value("sid") == {"a": [1, 2.5, None]}
    assert client.get_value("word") == "text"

    # A typo is refused with the parser's position, not stored as a string (as -v would).
    code, _, err = cli("put", "typo", "--json-value", '{"a": 1,\n "b": 2,}')
    assert code == 2
    assert err.startswith("usage: lava-state put ")
    assert "--json-value is not valid JSON: " in err
    assert "line 2 column 9" in err
    code, _, err = cli("put", "typo", "--json-value", "NaN")
    assert code == 2 and "NaN is not JSON" in err
    code, _, err = cli("put", "typo", "--json-value", "plain words")
    assert code == 2 and "line 1 column 1" in err
    assert "typo" not in stored()


def test_rm(cli_env: dict[str, str], publisher: StatePublisher, stored: Any) -> None:
    publisher.put("a", 1)
    publisher.put("b", 2)
    result = run(cli_env, "rm", "a", "b")
    assert (result.returncode, result.stderr) == (0, "")
    assert stored() == {}


def test_rm_of_an_absent_or_expired_id_says_so_and_exits_0(
    cli: Callable[..., tuple[int, str, str]],
    publisher: StatePublisher,
    dynamodb: Any,
    realm: str,
    stored: Callable[[], dict[str, Any]],
) -> None:
    publisher.put("a", 1)
    dynamodb.put_item(
        TableName=table_name(realm),
        Item={
            "state_id": {"S": "expired"},
            "type": {"S": "json"},
            "value": {"S": "1"},
            "ttl": {"N": str(int(time.time()) - 10)},
        },
    )

    code, out, err = cli("rm", "gone", "a", "expired")

    assert (code, out) == (0, "")
    assert err.splitlines() == [
        f"lava-state: state item {sid!r} not found in realm {realm!r} (absent or expired): "
        "nothing deleted"
        for sid in ("gone", "expired")
    ]
    assert stored() == {}


def test_rm_if_version(
    cli: Callable[..., tuple[int, str, str]],
    publisher: StatePublisher,
    stored: Callable[[], dict[str, Any]],
) -> None:
    publisher.put("sid", 1)
    publisher.put("sid", 2)

    code, _, err = cli("rm", "sid", "--if-version", "1")
    assert code == 1
    assert err.startswith("lava-state: ")
    assert "version 2" in err
    assert "sid" in stored()

    assert cli("rm", "sid", "--if-version", "2") == (0, "", "")
    assert stored() == {}
    # Nothing stored: nothing to delete, as the API says (no error), and said.
    code, _, err = cli("rm", "sid", "--if-version", "2")
    assert code == 0 and "not found" in err

    code, _, err = cli("rm", "a", "b", "--if-version", "1")
    assert code == 2 and "--if-version applies to one ID" in err
