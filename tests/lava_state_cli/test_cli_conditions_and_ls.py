"""CLI: put --if-version / --if-absent, ls, and what a small put imports."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from lava_state.naming import table_name
from publisher import StatePublisher

from .conftest import run_in_process


@pytest.fixture
def cli(
    realm: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str, str]]:
    """Run ``lava-state ARGS`` in process against the test realm: (exit code, stdout, stderr)."""
    monkeypatch.setenv("LAVA_REALM", realm)

    return functools.partial(run_in_process, capsys)


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


def test_ls_lists_unexpired_ids_by_prefix_and_never_values(
    cli: Callable[..., tuple[int, str, str]],
    publisher: StatePublisher,
    dynamodb: Any,
    realm: str,
) -> None:
    publisher.put("app/a", 1)
    publisher.put("app/b", {"x": "visible-json-value"})
    publisher.put("app/secret", "hunter2-value", type="secure")
    publisher.put("other", 3)
    dynamodb.put_item(
        TableName=table_name(realm),
        Item={
            "state_id": {"S": "app/expired"},
            "type": {"S": "json"},
            "value": {"S": "1"},
            "ttl": {"N": str(int(time.time()) - 10)},
        },
    )

    code, out, _ = cli("ls")
    assert code == 0
    assert out.splitlines() == ["app/a", "app/b", "app/secret", "other"]

    code, out, _ = cli("ls", "app/")
    assert out.splitlines() == ["app/a", "app/b", "app/secret"]

    code, out, _ = cli("ls", "app/", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["state_id"] for r in rows] == ["app/a", "app/b", "app/secret"]
    assert rows[2]["type"] == "secure"
    assert rows[2]["version"] == 1
    assert rows[0]["publisher"] == "tests"
    assert all("value" not in r for r in rows)
    assert "hunter2" not in out
    assert "visible-json-value" not in out


def test_list_states_follows_pages(publisher: StatePublisher, local_aws: Any, realm: str) -> None:
    from consumer_sdk import StateClient, list_states

    publisher.put_many({f"p{i}": i for i in range(7)})
    client = StateClient(realm, dynamodb=local_aws.client("dynamodb"))
    pages: list[Any] = []
    client.store.dynamodb.meta.events.register(
        "before-call.dynamodb.Scan", lambda params, **_: pages.append(params)
    )

    ids = sorted(s.state_id for s in list_states(client, "p", page_size=2))

    assert ids == [f"p{i}" for i in range(7)]
    assert len(pages) >= 4  # 7 items, 2 per page


def test_a_small_json_put_does_not_import_cryptography_or_tenacity(cli_env: dict[str, str]) -> None:
    code = (
        "import sys\n"
        "from lava_state_cli.app import main\n"
        "assert main(['put', 'sid', '-p', 'lines=45']) == 0\n"
        "print(sorted(m for m in ('cryptography', 'tenacity', 'jinja2', 'moto') "
        "if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=cli_env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
