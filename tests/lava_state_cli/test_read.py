"""lava_state_cli.read: ``get`` (one item, templates, ``-m``), ``ls`` and ``render``."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lava_state.model import SECRET_MASK
from lava_state.naming import table_name
from lava_state_cli import main
from publisher import StatePublisher

from .conftest import run
from .conftest import run_in_process as run_here

# get


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


def test_plain_get_keeps_lavas_form_and_refuses_extra_ids(
    publisher: StatePublisher, realm: str, capsys: pytest.CaptureFixture[str]
) -> None:
    publisher.put("a", {"lines": "45"})
    code, out, _ = run_here(capsys, "get", "-r", realm, "a", "{{ state.lines }} lines")
    assert (code, out) == (0, "45 lines\n")
    with pytest.raises(SystemExit) as caught:
        main(["get", "-r", realm, "a", "t", "b"])
    assert caught.value.code == 2
    assert "use `get -m ID1 ID2 ...`" in capsys.readouterr().err


def test_a_second_argument_is_a_template_only_if_it_looks_like_one(
    publisher: StatePublisher, realm: str, capsys: pytest.CaptureFixture[str]
) -> None:
    publisher.put("sid", {"lines": "45"})

    # `get sid missing` used to print "missing" and exit 0.
    code, out, err = run_here(capsys, "get", "-r", realm, "sid", "missing")
    assert (code, out) == (2, "")
    assert err.startswith("usage: lava-state get ")
    assert "'missing' is not a template (no {{ or {%)" in err
    assert "`get -m ID1 ID2 ...`" in err and "--template" in err

    for template in ("{{ state.lines }}", "{% if state %}{{ state.lines }}{% endif %}"):
        code, out, _ = run_here(capsys, "get", "-r", realm, "sid", template)
        assert (code, out) == (0, "45\n")
    # An explicit template need not look like one.
    code, out, _ = run_here(capsys, "get", "-r", realm, "sid", "--template", "plain")
    assert (code, out) == (0, "plain\n")
    code, out, _ = run_here(capsys, "get", "-r", realm, "--template", "{{ state | length }}", "sid")
    assert (code, out) == (0, "1\n")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sid", "{{ x }}", "--template", "{{ y }}"], "use `get -m ID1 ID2 ...`"),
        (["-m", "sid", "--template", "{{ y }}"], "--template applies to one item"),
        (["--prefix", "p", "sid"], "--prefix reads every id under PREFIX: it takes no ids"),
        (["--prefix", "p", "-m"], "it takes no -m"),
        (["--prefix", "p", "--template", "t"], "it takes no --template"),
        ([], "an ID is required (or --prefix PREFIX)"),
    ],
)
def test_get_usage_errors(
    realm: str, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run_here(capsys, "get", "-r", realm, *argv)

    assert (code, out) == (2, "")
    assert err.startswith("usage: lava-state get ")
    assert message in err


# get -m


def test_get_many_prints_one_object_with_secure_values_masked(
    publisher: StatePublisher, realm: str, capsys: pytest.CaptureFixture[str]
) -> None:
    publisher.put("a", {"lines": "45"})
    publisher.put("b", "text")
    publisher.put("s", "s3cr3t", type="secure")

    code, out, _ = run_here(capsys, "get", "-r", realm, "-m", "a", "b", "s")
    assert code == 0
    assert json.loads(out) == {"a": {"lines": "45"}, "b": "text", "s": SECRET_MASK}

    code, out, _ = run_here(capsys, "get", "-r", realm, "-m", "s", "a", "--reveal")
    assert json.loads(out) == {"s": "s3cr3t", "a": {"lines": "45"}}

    code, out, _ = run_here(capsys, "get", "-r", realm, "--json", "-m", "a", "s")
    items = json.loads(out)
    assert items["a"]["version"] == 1 and items["a"]["publisher"] == "tests"
    assert items["s"]["value"] == SECRET_MASK and "s3cr3t" not in out


def test_get_many_missing_ids(
    publisher: StatePublisher, realm: str, capsys: pytest.CaptureFixture[str]
) -> None:
    publisher.put("a", 1)
    code, _, err = run_here(capsys, "get", "-r", realm, "-m", "a", "gone", "also-gone")
    assert code == 1
    assert "2 state items not found: 'gone', 'also-gone'" in err

    code, out, _ = run_here(capsys, "get", "-r", realm, "-i", "-m", "a", "gone")
    assert (code, json.loads(out)) == (0, {"a": 1})


def test_get_many_refuses_a_template_instead_of_reporting_it_missing(
    publisher: StatePublisher, realm: str, capsys: pytest.CaptureFixture[str]
) -> None:
    publisher.put("sid", 1)
    publisher.put("limit", 2)

    code, out, err = run_here(capsys, "get", "-r", realm, "-m", "sid", "limit", "{{x}}")

    assert (code, out) == (2, "")
    assert "-m reads ids only, and '{{x}}' looks like a template" in err
    assert "not found" not in err


# get --prefix


def test_get_prefix_prints_the_live_items_under_a_prefix(
    publisher: StatePublisher, dynamodb: Any, realm: str, capsys: pytest.CaptureFixture[str]
) -> None:
    publisher.put("app/a b", {"lines": "45"})  # an id with a space (`get -m $(ls)` broke on it)
    publisher.put("app/c", "text")
    publisher.put("app/tok", "s3cr3t", type="secure")
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

    code, out, _ = run_here(capsys, "get", "-r", realm, "--prefix", "app/")
    assert code == 0
    assert json.loads(out) == {"app/a b": {"lines": "45"}, "app/c": "text", "app/tok": SECRET_MASK}
    assert list(json.loads(out)) == ["app/a b", "app/c", "app/tok"]  # sorted by id
    assert "s3cr3t" not in out

    code, out, _ = run_here(capsys, "get", "-r", realm, "--prefix", "app/t", "--decrypt")
    assert json.loads(out) == {"app/tok": "s3cr3t"}

    code, out, _ = run_here(capsys, "get", "-r", realm, "--prefix", "app/c", "--json")
    item = json.loads(out)["app/c"]
    assert (item["value"], item["version"], item["publisher"]) == ("text", 1, "tests")

    code, out, _ = run_here(capsys, "get", "-r", realm, "--prefix", "nothing/")
    assert (code, json.loads(out)) == (0, {})


# ls


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


# render


def test_render_prints_the_expanded_spec_masked_unless_revealed(
    publisher: StatePublisher, realm: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    publisher.put("sid", {"lines": "45"})
    publisher.put("tok", "s3cr3t", type="secure")
    spec = {
        "job_id": "r",
        "state": {"sid": {}, "tok": None, "absent": "dflt"},
        "payload": "echo {{ state.sid.lines }} {{ state.absent }}",
        "auth": "Bearer {{ state.tok }}",
    }
    path = tmp_path / "job.json"
    path.write_text(json.dumps(spec))

    code, out, _ = run_here(capsys, "render", "-r", realm, str(path))
    assert code == 0
    assert json.loads(out) == {
        "job_id": "r",
        "state": {"sid": {"lines": "45"}, "tok": SECRET_MASK, "absent": "dflt"},
        "payload": "echo 45 dflt",
        "auth": SECRET_MASK,
    }

    code, out, _ = run_here(capsys, "render", "-r", realm, str(path), "--reveal")
    assert json.loads(out)["auth"] == "Bearer s3cr3t"


def test_render_and_get_warn_about_lavas_tojson_trim_idiom(
    publisher: StatePublisher, realm: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    publisher.put("sid", {"lines": "45"})
    spec = {"state": {"sid": {}}, "args": ["{{ (utils.tojson(state.sid)) | tojson | trim('\"') }}"]}
    path = tmp_path / "job.json"
    path.write_text(json.dumps(spec))

    code, out, err = run_here(capsys, "render", "-r", realm, str(path))
    assert code == 0
    assert err.startswith("lava-state: warning: $.args[0]: line 1: `| tojson | trim")
    # Rendered all the same: a warning, not an error.
    assert json.loads(out)["args"] == ['{\\"lines\\": \\"45\\"}']

    code, out, err = run_here(
        capsys, "get", "-r", realm, "sid", "{{ state | tojson | trim('\"') }}"
    )
    assert code == 0
    assert "lava-state: warning: TEMPLATE: line 1:" in err


def test_render_strict_and_lenient(
    realm: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "job.json"
    path.write_text(json.dumps({"state": {}, "cmd": "x{{ state.nope }}y"}))
    code, out, err = run_here(capsys, "render", "-r", realm, str(path))
    assert code == 1 and out == ""
    assert "$.cmd" in err and "state 'nope' is not declared" in err

    code, out, _ = run_here(capsys, "render", "-r", realm, "--lenient", str(path))
    assert (code, json.loads(out)["cmd"]) == (0, "xy")


def test_render_bad_files(realm: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, _, err = run_here(capsys, "render", "-r", realm, str(bad))
    assert code == 1 and "is not valid JSON" in err
    code, _, err = run_here(capsys, "render", "-r", realm, str(tmp_path / "none.json"))
    assert code == 1 and "cannot read job spec" in err


def test_render_from_stdin_as_a_subprocess(
    publisher: StatePublisher, cli_env: dict[str, str]
) -> None:
    publisher.put("sid", {"lines": "45"})
    spec = {"state": {"sid": None}, "payload": "echo {{ job.state.sid.lines }}"}
    result = subprocess.run(
        [sys.executable, "-m", "lava_state_cli", "render", "-"],
        input=json.dumps(spec),
        env=cli_env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["payload"] == "echo 45"
