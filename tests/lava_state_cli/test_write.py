"""lava_state_cli.write: ``put`` (values, options, conditions, start-up cost) and ``rm``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

from consumer_sdk import StateClient
from publisher import StatePublisher

from .conftest import run


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


def test_rm(cli_env: dict[str, str], publisher: StatePublisher, stored: Any) -> None:
    publisher.put("a", 1)
    publisher.put("b", 2)
    assert run(cli_env, "rm", "a", "b").returncode == 0
    assert stored() == {}
