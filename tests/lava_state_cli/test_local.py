"""lava_state_cli.local: ``local up`` serves the embedded AWS until interrupted, quietly
unless ``-v``; ``local env`` prints its exports again; what is refused and why.

(``demo`` is tested with the demo itself, in tests/lava_state_local/test_demo.py.)
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from lava_state_cli.local import state_dir
from lava_state_local import LocalAws

from .conftest import run, run_in_process

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Served:
    """A ``local up`` subprocess: what it exported, and its output after the exports."""

    process: subprocess.Popen[str]
    exports: dict[str, str]
    printed: str
    lines: list[str] = field(default_factory=list)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()  # fail instead of hanging
            raise


@contextmanager
def interruptible_children() -> Iterator[None]:
    """Children started meanwhile take Ctrl-C (SIGINT) even if this process ignores it.

    A shell's background job ignores SIGINT and its children inherit that; a
    handled signal is reset to its default at exec, an ignored one is not.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def local_up(env: dict[str, str], *args: str) -> Iterator[Served]:
    """Run ``lava-state local up ARGS`` until the block ends; its output is collected."""
    with (
        interruptible_children(),
        subprocess.Popen(
            [sys.executable, "-m", "lava_state_cli", "local", "up", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as process,
    ):
        try:
            assert process.stdout is not None
            exports, printed = {}, ""
            for line in process.stdout:
                if line.startswith("# embedded AWS"):
                    break
                printed += line
                key, _, value = line.removeprefix("export ").strip().partition("=")
                exports[key] = value
            served = Served(process, exports, printed)
            drain = threading.Thread(target=lambda: served.lines.extend(process.stdout or ()))
            drain.start()
            yield served
        finally:
            if process.poll() is None:
                served.stop()
            drain.join(timeout=30)


def clean_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a shell with no AWS or lava settings; state files in tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "LAVA_REALM"}
    return {**env, "XDG_RUNTIME_DIR": str(tmp_path)}


def test_local_up_serves_until_interrupted(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    with local_up(env, "--port", "0", "--realm", "dev") as served:
        exports = served.exports
        assert exports["LAVA_REALM"] == "dev"
        assert exports["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
        shell_env = {**env, **exports}
        assert run(shell_env, "put", "sid", "-p", "lines=3").returncode == 0
        assert run(shell_env, "get", "sid", "{{ state.lines }}").stdout == "3\n"
        assert served.stop() == 0


def test_the_realm_defaults_to_lava_realm_else_dev(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    with local_up({**env, "LAVA_REALM": "fromenv"}, "--port", "0") as served:
        assert served.exports["LAVA_REALM"] == "fromenv"
    with local_up(env, "--port", "0") as served:
        assert served.exports["LAVA_REALM"] == "dev"
    help_text = run(env, "local", "up", "--help").stdout
    assert "(default: $LAVA_REALM, else dev)" in " ".join(help_text.split())


def aws_client(exports: dict[str, str], service: str) -> Any:
    """A client of ``service`` on the stack whose export lines are ``exports``."""
    session = boto3.session.Session(
        aws_access_key_id=exports["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=exports["AWS_SECRET_ACCESS_KEY"],
        region_name=exports["AWS_DEFAULT_REGION"],
    )
    return session.client(service, endpoint_url=exports["AWS_ENDPOINT_URL"])  # type: ignore[call-overload]


def notifications(exports: dict[str, str], topic: str) -> tuple[Any, str]:
    """An SQS queue subscribed to the SNS ``topic`` of the stack: (sqs client, queue url)."""
    sns, sqs = aws_client(exports, "sns"), aws_client(exports, "sqs")
    topic_arn = sns.create_topic(Name=topic)["TopicArn"]
    queue_url = sqs.create_queue(QueueName="watch")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return sqs, queue_url


def wait_for_a_notification(sqs: Any, queue_url: str, deadline_s: float = 30.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages"):
            return
    raise AssertionError("no change notification within the deadline")


@pytest.mark.parametrize("verbose", [False, True])
def test_the_per_change_log_only_with_verbose(tmp_path: Path, verbose: bool) -> None:
    env = clean_env(tmp_path)
    args = ["--port", "0", "--realm", "dev", *(["-v"] if verbose else [])]
    with local_up(env, *args) as served:
        sqs, queue_url = notifications(served.exports, "lava-state-dev-sid")
        assert run({**env, **served.exports}, "put", "sid", "-v", "1").returncode == 0
        # The processor logs "change routed" before it publishes the notification.
        wait_for_a_notification(sqs, queue_url)
        assert served.stop() == 0
    logged = "".join(served.lines)
    assert ('"change routed"' in logged) is verbose
    if not verbose:
        assert "{" not in logged  # no JSON log line at all


def test_local_env_prints_the_exports_of_the_running_stack(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    with local_up(env, "--port", "0", "--realm", "dev") as served:
        port = served.exports["AWS_ENDPOINT_URL"].rsplit(":", 1)[1]
        again = run(env, "local", "env")
        assert (again.returncode, again.stderr) == (0, "")
        assert again.stdout == served.printed
        assert run(env, "local", "env", "--port", port).stdout == served.printed
        other = run(env, "local", "env", "--port", "1")
        assert other.returncode == 1
        assert other.stderr == (
            "lava-state: no `lava-state local up` is running on port 1: "
            "start one with `lava-state local up`\n"
        )
        # The lines work as printed.
        cli = f"{sys.executable} -m lava_state_cli"
        shell = subprocess.run(
            ["sh", "-c", f'eval "$({cli} local env)" && {cli} put sid -v 1 && {cli} get sid'],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert (shell.returncode, shell.stdout) == (0, "1\n"), shell.stderr
        assert served.stop() == 0
    # It said how to get the lines again, and removed its state file when it stopped.
    assert f'# in another shell: eval "$(lava-state local env --port {port})"\n' in served.lines
    assert list((tmp_path / "lava-state").iterdir()) == []
    gone = run(env, "local", "env")
    assert gone.returncode == 1
    assert "no `lava-state local up` is running: start one" in gone.stderr


def test_sigterm_stops_it_as_ctrl_c_does(tmp_path: Path) -> None:
    with local_up(clean_env(tmp_path), "--port", "0") as served:
        assert len(list((tmp_path / "lava-state").glob("local-*.json"))) == 1
        served.process.terminate()
        assert served.process.wait(timeout=30) == 0
    assert list((tmp_path / "lava-state").iterdir()) == []


def test_sigterm_while_starting_up_still_cleans_up(tmp_path: Path) -> None:
    # SIGTERM as soon as the first export line is out: the rest of the start-up
    # (its banner) is still running, and a signal then must not kill it uncleanly.
    with subprocess.Popen(
        [sys.executable, "-m", "lava_state_cli", "local", "up", "--port", "0"],
        env=clean_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("export ")
        process.terminate()
        assert process.wait(timeout=30) == 0
    assert list((tmp_path / "lava-state").iterdir()) == []


def write_state(directory: Path, port: int, *, pid: int, endpoint_url: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"local-{port}.json"
    state = {"pid": pid, "realm": "dev", "endpoint_url": endpoint_url, "env": {"PORT": str(port)}}
    path.write_text(json.dumps(state))
    return path


def test_local_env_forgets_a_stack_that_was_killed_and_asks_to_choose_among_several(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    local_aws: LocalAws,
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    directory = state_dir()
    assert directory == tmp_path / "lava-state"
    with subprocess.Popen([sys.executable, "-c", "pass"]) as dead:
        dead.wait()
    killed = write_state(directory, 4701, pid=dead.pid, endpoint_url="http://127.0.0.1:4701")

    code, out, err = run_in_process(capsys, "local", "env")
    assert (code, out) == (1, "")
    assert "no `lava-state local up` is running" in err
    assert not killed.exists()

    # This process stands in for two running stacks, both answering.
    for port in (4702, 4703):
        write_state(directory, port, pid=os.getpid(), endpoint_url=local_aws.endpoint_url)
    code, _, err = run_in_process(capsys, "local", "env")
    assert code == 1
    assert "several `lava-state local up` are running (ports" in err
    assert "choose one with --port" in err
    code, out, _ = run_in_process(capsys, "local", "env", "--port", "4703")
    assert (code, out) == (0, "export PORT=4703\n")

    # A live process that does not answer is reported, not forgotten.
    silent = write_state(directory, 4704, pid=os.getpid(), endpoint_url="http://127.0.0.1:9")
    code, _, err = run_in_process(capsys, "local", "env", "--port", "4704")
    assert code == 1
    assert f"of pid {os.getpid()} does not answer at http://127.0.0.1:9" in err
    assert silent.exists()


@pytest.mark.parametrize("command", [["local", "up"], ["demo"]])
def test_without_the_local_extra_say_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    # As after a plain `pip install .`: moto cannot be imported.
    for name in [name for name in sys.modules if name == "moto" or name.startswith("moto.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "moto", None)

    code, out, err = run_in_process(capsys, *command)

    assert (code, out) == (1, "")
    assert err.startswith(f"lava-state: {' '.join(command)} needs the embedded AWS (moto), ")
    assert err.endswith("pip install 'lava-state[local]'\n")
    assert "internal error" not in err


def test_a_port_in_use_is_named_with_the_option_to_choose_another(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]

        code, out, err = run_in_process(capsys, "local", "up", "--port", str(port))

    assert (code, out) == (1, "")
    assert err == f"lava-state: port {port} is in use: choose another with --port\n"
    assert not (tmp_path / "lava-state").exists()


@pytest.mark.parametrize(
    ("argv", "command", "option"),
    [
        (["local", "up", "--region", "eu-west-1"], "local up", "--region"),
        (["local", "up", "--endpoint-url", "http://x"], "local up", "--endpoint-url"),
        (["local", "up", "--profile", "p"], "local up", "--profile"),
        (["--profile", "p", "local", "up"], "local up", "--profile"),
        (["--region", "eu-west-1", "demo"], "demo", "--region"),
        (["-r", "prod", "demo"], "demo", "--realm"),
    ],
)
def test_options_that_cannot_apply_to_the_embedded_aws_are_refused(
    capsys: pytest.CaptureFixture[str], argv: list[str], command: str, option: str
) -> None:
    code, out, err = run_in_process(capsys, *argv)

    assert (code, out) == (2, "")
    assert err.startswith(f"usage: lava-state {command} ")
    assert err.rstrip().endswith(
        f"{command} serves its own AWS on 127.0.0.1 (region us-east-1, test credentials): "
        f"{option} cannot apply"
    )


def test_local_up_validates_the_realm_before_starting(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    code, _, err = run_in_process(capsys, "local", "up", "-r", "bad realm", "--port", "0")

    assert code == 1
    assert err.startswith("lava-state: realm 'bad realm' is not valid")
    assert not (tmp_path / "lava-state").exists()


def test_local_up_deploys_the_realm_stack_with_the_given_parameters(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    with local_up(
        env, "--port", "0", "--parameter", "MissingTopicTtl=5", "--parameter", "RealmTopic=false"
    ) as served:
        exports = served.exports
        stack = aws_client(exports, "cloudformation").describe_stacks(StackName="lava-state-dev")[
            "Stacks"
        ][0]
        topics = aws_client(exports, "sns").list_topics()["Topics"]
        ttl = aws_client(exports, "dynamodb").describe_time_to_live(TableName="lava.dev.state")[
            "TimeToLiveDescription"
        ]

    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert (parameters["MissingTopicTtl"], parameters["RealmTopic"]) == ("5", "false")
    assert not [t for t in topics if t["TopicArn"].endswith(":lava-state-dev-all")]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "ttl")


@pytest.mark.parametrize(
    ("parameter", "code", "message"),
    [
        ("RealmTopic=maybe", 1, "lava-state: parameter RealmTopic='maybe': use one of true, false"),
        ("NoSuch=1", 1, "lava-state: unknown parameter 'NoSuch': the template has "),
        ("BatchSize=0", 1, "lava-state: parameter BatchSize='0': must be between 1 and 10000"),
        ("Realm=x", 2, "--parameter Realm: give the realm with --realm"),
        ("oops", 2, "--parameter 'oops': expected KEY=VALUE"),
    ],
)
def test_local_up_refuses_a_bad_parameter_before_starting(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    parameter: str,
    code: int,
    message: str,
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    got, out, err = run_in_process(capsys, "local", "up", "--port", "0", "--parameter", parameter)

    assert (got, out) == (code, "")
    assert message in err
    assert not (tmp_path / "lava-state").exists()


def test_the_local_stack_validates_the_realm(local_aws: LocalAws) -> None:
    from lava_state.errors import InvalidRealm

    with pytest.raises(InvalidRealm):
        local_aws.provision_realm("a.b")


def test_make_demo_installs_only_the_local_extra_and_make_test_the_dev_tools() -> None:
    def planned(target: str) -> str:
        result = subprocess.run(
            ["make", "-n", "-B", target, "VENV=/nonexistent/venv"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    demo, test = planned("demo"), planned("test")
    assert "install --quiet -e '.[local]'" in demo
    assert ".[dev]" not in demo
    assert "install --quiet -e '.[dev]'" in test
    assert "pytest" in test
