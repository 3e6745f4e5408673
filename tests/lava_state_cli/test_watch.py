"""lava_state_cli.watch: ``watch`` prints changes until Ctrl-C or SIGTERM and leaves
nothing behind; ``wait`` exits 0 when the condition holds, 1 on timeout."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from lava_state_local import StreamRunner
from publisher import StatePublisher
from tests.conftest import subscription_leftovers

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

Cli = Callable[..., tuple[int, str, str]]


def start_watch(cli_env: dict[str, str], *args: str, **popen: Any) -> subprocess.Popen[str]:
    """``lava-state watch ARGS`` in a subprocess, returned once it is subscribed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "lava_state_cli", "watch", *args],
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )
    assert process.stderr is not None
    ready = process.stderr.readline()  # blocks until subscribed (or it failed)
    assert ready.startswith("# watching"), ready + process.stderr.read()
    return process


def stop(process: subprocess.Popen[str], sig: int) -> tuple[int, str]:
    process.send_signal(sig)
    try:
        out, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    return process.returncode, out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_watch_prints_each_change_and_cleans_up_when_stopped(
    sqs: SQSClient,
    sns: SNSClient,
    realm: str,
    runner: StreamRunner,
    publisher: StatePublisher,
    cli_env: dict[str, str],
    sig: int,
) -> None:
    # A background job's parent may pass SIGINT on ignored: restore Ctrl-C's default.
    process = start_watch(
        cli_env, "sid", "token", preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)
    )
    assert process.stdout is not None
    publisher.put("sid", {"lines": "45"})
    publisher.put("token", "s3cr3t", type="secure")
    lines = [process.stdout.readline(), process.stdout.readline()]
    code, rest = stop(process, sig)
    assert code == 0
    assert lines[0].split()[1:] == ["put", "sid", "v1", "by", "tests", '{"lines":', '"45"}']
    assert lines[1].split()[1:] == ["put", "token", "v1", "by", "tests", "********"]
    assert "s3cr3t" not in "".join(lines) + rest
    assert subscription_leftovers(sqs, sns, realm) == ([], [])


def test_watch_json_with_catch_up_and_a_prefix(
    sqs: SQSClient,
    sns: SNSClient,
    realm: str,
    runner: StreamRunner,
    publisher: StatePublisher,
    cli_env: dict[str, str],
) -> None:
    publisher.put("sid", 1)
    process = start_watch(cli_env, "sid", "--prefix", "etl/", "--catch-up", "--json")
    assert process.stdout is not None
    caught = json.loads(process.stdout.readline())
    publisher.put("other", 1)
    publisher.put("etl/a", {"rows": 5})
    notified = json.loads(process.stdout.readline())
    code, rest = stop(process, signal.SIGTERM)
    assert code == 0 and rest == ""
    assert (caught["state_id"], caught["value"], caught["origin"]) == ("sid", 1, "catch-up")
    assert (notified["state_id"], notified["event"], notified["version"]) == ("etl/a", "put", 1)
    assert (notified["value"], notified["origin"]) == ({"rows": 5}, "notification")
    assert notified["schema"] == "lava-state.change/1"
    assert subscription_leftovers(sqs, sns, realm) == ([], [])


def test_watch_needs_ids_or_a_prefix(cli: Cli) -> None:
    code, _, err = cli("watch")
    assert code == 2
    assert "give the ids to watch, --prefix, or both" in err


def test_wait_prints_the_value_once_the_condition_holds(
    cli: Cli, runner: StreamRunner, publisher: StatePublisher
) -> None:
    timer = threading.Timer(0.3, lambda: [publisher.put("up", {"rows": n}) for n in (0, 45)])
    timer.start()
    code, out, err = cli("wait", "up", "--until", "state.rows > 0", "--timeout", "20")
    timer.join()
    assert (code, err) == (0, "")
    assert json.loads(out) == {"rows": 45}


@pytest.mark.parametrize("mode", ["auto", "react", "poll"])
def test_wait_quiet_in_every_mode(
    cli: Cli, runner: StreamRunner, publisher: StatePublisher, mode: str
) -> None:
    publisher.put("done", "yes")
    assert cli("wait", "done", "-q", "--mode", mode) == (0, "", "")
    assert cli("wait", "done", "--mode", mode) == (0, "yes\n", "")


def test_wait_times_out_with_exit_1(
    cli: Cli, realm: str, sqs: SQSClient, sns: SNSClient, publisher: StatePublisher
) -> None:
    publisher.put("up", {"rows": 0})
    code, out, err = cli("wait", "up", "--until", "state.rows > 0", "--timeout", "0.5")
    assert (code, out) == (1, "")
    assert err == (
        f"lava-state: timed out after 0.5 s waiting for state item 'up' in realm {realm!r}: "
        "it exists at version 1 but the condition does not hold\n"
    )
    assert subscription_leftovers(sqs, sns, realm) == ([], [])


def test_wait_refuses_an_expression_that_does_not_parse(cli: Cli) -> None:
    code, _, err = cli("wait", "up", "--until", "state.rows >")
    assert code == 2
    assert "--until 'state.rows >' is not a Jinja expression" in err


def test_wait_reports_an_expression_that_fails_on_the_value(
    cli: Cli, publisher: StatePublisher
) -> None:
    publisher.put("up", {"rows": "45"})  # a string: compare with `| int`
    code, _, err = cli("wait", "up", "--until", "state.rows > 0", "--timeout", "1")
    assert code == 1
    assert "cannot render the template at --until" in err and "TypeError" in err
    assert cli("wait", "up", "--until", "state.rows | int > 0", "-q")[0] == 0
