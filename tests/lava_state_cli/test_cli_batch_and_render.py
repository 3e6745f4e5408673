"""CLI: `get -m` (one batched read) and `render` (job-spec expansion)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lava_state.model import SECRET_MASK
from lava_state_cli.app import main
from publisher import StatePublisher

from .conftest import run_in_process as run


def test_get_many_prints_one_object_with_secure_values_masked(
    publisher: StatePublisher, realm: str, capsys: pytest.CaptureFixture[str]
) -> None:
    publisher.put("a", {"lines": "45"})
    publisher.put("b", "text")
    publisher.put("s", "s3cr3t", type="secure")

    code, out, _ = run(capsys, "get", "-r", realm, "-m", "a", "b", "s")
    assert code == 0
    assert json.loads(out) == {"a": {"lines": "45"}, "b": "text", "s": SECRET_MASK}

    code, out, _ = run(capsys, "get", "-r", realm, "-m", "s", "a", "--reveal")
    assert json.loads(out) == {"s": "s3cr3t", "a": {"lines": "45"}}

    code, out, _ = run(capsys, "get", "-r", realm, "--json", "-m", "a", "s")
    items = json.loads(out)
    assert items["a"]["version"] == 1 and items["a"]["publisher"] == "tests"
    assert items["s"]["value"] == SECRET_MASK and "s3cr3t" not in out


def test_get_many_missing_ids(
    publisher: StatePublisher, realm: str, capsys: pytest.CaptureFixture[str]
) -> None:
    publisher.put("a", 1)
    code, _, err = run(capsys, "get", "-r", realm, "-m", "a", "gone", "also-gone")
    assert code == 1
    assert "2 state items not found: 'gone', 'also-gone'" in err

    code, out, _ = run(capsys, "get", "-r", realm, "-i", "-m", "a", "gone")
    assert (code, json.loads(out)) == (0, {"a": 1})


def test_plain_get_keeps_lavas_form_and_refuses_extra_ids(
    publisher: StatePublisher, realm: str, capsys: pytest.CaptureFixture[str]
) -> None:
    publisher.put("a", {"lines": "45"})
    code, out, _ = run(capsys, "get", "-r", realm, "a", "{{ state.lines }} lines")
    assert (code, out) == (0, "45 lines\n")
    with pytest.raises(SystemExit) as caught:
        main(["get", "-r", realm, "a", "t", "b"])
    assert caught.value.code == 2
    assert "use `get -m ID1 ID2 ...`" in capsys.readouterr().err


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

    code, out, _ = run(capsys, "render", "-r", realm, str(path))
    assert code == 0
    assert json.loads(out) == {
        "job_id": "r",
        "state": {"sid": {"lines": "45"}, "tok": SECRET_MASK, "absent": "dflt"},
        "payload": "echo 45 dflt",
        "auth": SECRET_MASK,
    }

    code, out, _ = run(capsys, "render", "-r", realm, str(path), "--reveal")
    assert json.loads(out)["auth"] == "Bearer s3cr3t"


def test_render_strict_and_lenient(
    realm: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "job.json"
    path.write_text(json.dumps({"state": {}, "cmd": "x{{ state.nope }}y"}))
    code, out, err = run(capsys, "render", "-r", realm, str(path))
    assert code == 1 and out == ""
    assert "$.cmd" in err and "state 'nope' is not declared" in err

    code, out, _ = run(capsys, "render", "-r", realm, "--lenient", str(path))
    assert (code, json.loads(out)["cmd"]) == (0, "xy")


def test_render_bad_files(realm: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, _, err = run(capsys, "render", "-r", realm, str(bad))
    assert code == 1 and "is not valid JSON" in err
    code, _, err = run(capsys, "render", "-r", realm, str(tmp_path / "none.json"))
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
