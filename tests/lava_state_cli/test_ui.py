"""lava_state_cli.ui: ``lava-state ui`` serves the view of the realm until interrupted,
warns when not on the loopback, names a busy port; ``local up --ui`` serves both."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from lava_state_cli.parser import parse_args
from lava_state_local import LocalAws
from tests.conftest import wait_until

from .conftest import run_in_process
from .test_local import clean_env, interruptible_children, local_up


@contextmanager
def ui_command(env: dict[str, str], *args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Run ``lava-state ui ARGS``; yields the process and the page's URL once it serves."""
    with subprocess.Popen(
        [sys.executable, "-m", "lava_state_cli", "ui", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line.startswith("# lava-state ui for realm"), line
            yield process, line.split(" at ", 1)[1].split(";", 1)[0]
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    raise


def _json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def test_the_grammar_of_ui() -> None:
    _, args = parse_args(["ui", "-r", "prod", "--port", "0", "--host", "::1", "--open"])
    _, defaults = parse_args(["ui"])

    assert (args.realm, args.port, args.host, args.open) == ("prod", 0, "::1", True)
    assert (defaults.port, defaults.host, defaults.open) == (8765, "127.0.0.1", False)


def test_ui_serves_the_realm_until_sigterm(
    cli_env: dict[str, str], realm: str, local_aws: LocalAws
) -> None:
    with ui_command(cli_env, "--port", "0") as (process, url):
        assert url.startswith("http://127.0.0.1:")
        status = _json(url + "api/status")
        assert status["realm"] == realm
        assert status["read_only"] is True
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert process.stderr is not None
        assert "warning" not in process.stderr.read()
    # Its subscription's queue went with it.
    queues = local_aws.client("sqs").list_queues(QueueNamePrefix=f"lava-state-{realm}-sub-")
    assert queues.get("QueueUrls", []) == []


def test_a_host_other_than_the_loopback_is_warned_about(
    cli_env: dict[str, str], realm: str
) -> None:
    # 127.0.0.2 is not one of the loopback names the warning spares, yet stays on this machine.
    with ui_command(cli_env, "--port", "0", "--host", "127.0.0.2") as (process, url):
        assert url.startswith("http://127.0.0.2:")
        assert _json(url + "api/status")["realm"] == realm
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        assert process.stderr is not None
        warning = process.stderr.read()
    assert "warning: serving the ui on 127.0.0.2" in warning
    assert "no authentication" in warning


def test_a_busy_port_is_named_with_the_option_to_choose_another(
    cli_env: dict[str, str], realm: str
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "lava_state_cli", "ui", "--port", str(port)],
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert f"port {port} is in use: choose another with --port" in result.stderr


def test_ui_needs_a_realm(cli_env: dict[str, str]) -> None:
    env = {k: v for k, v in cli_env.items() if k != "LAVA_REALM"}
    result = subprocess.run(
        [sys.executable, "-m", "lava_state_cli", "ui", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "realm" in result.stderr


@pytest.mark.usefixtures("local_aws")
def test_local_up_with_ui_serves_the_view_of_its_realm(tmp_path: Path) -> None:
    with (
        interruptible_children(),
        local_up(
            clean_env(tmp_path), "--port", "0", "--ui", "--ui-port", "0", "-r", "uidev"
        ) as served,
    ):
        assert wait_until(lambda: any(line.startswith("# web view") for line in served.lines))
        (line,) = [line for line in served.lines if line.startswith("# web view")]
        assert line.startswith("# web view of realm 'uidev': http://127.0.0.1:")
        url = line.split(": ", 1)[1].strip()
        status = _json(url + "api/status")
        assert status["realm"] == "uidev"
        assert served.stop() == 0


def test_without_the_ui_extra_say_what_is_missing(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    cli_env: dict[str, str],
    realm: str,
) -> None:
    # As after a plain `pip install .`: Flask cannot be imported.
    monkeypatch.setenv("LAVA_REALM", realm)
    monkeypatch.setitem(sys.modules, "flask", None)

    code, out, err = run_in_process(capsys, "ui", "--port", "0")

    assert (code, out) == (1, "")
    assert err.startswith("lava-state: the ui needs Flask, which is not installed")
    assert err.endswith("pip install 'lava-state[ui]'\n")
