"""No secret in any channel: a sweep of every channel while secure items are handled.

Secure items are written (directly and envelope-encrypted), expanded into a
job spec whose ``globals`` derive from them, used by ``state`` actions through
aliases (``globals``, ``job.globals``, loop variables, ``set``, macros,
filters), read and rendered by the CLI, conflicted and mis-templated. The
plaintext (and its simple transforms), its base64 on the wire and every data
key must then be absent from: every log record at DEBUG (all loggers), every
exception message and traceback, reprs, the CLI's stdout and stderr on
success and error paths (documented reveals aside), SNS messages, the stored
attributes of state actions, and masked specs.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from consumer_sdk import StateClient, expand_job_spec
from consumer_sdk._receive import ChangeQueue
from lava_state.errors import InvalidAction, LavaStateError, TemplateError, VersionConflict
from lava_state.model import SECRET_MASK
from lava_state_cli import main
from lava_state_local import LocalAws
from publisher import LavaStateItem, PutSpec, StatePublisher, run_state_action

SECRET = "hunter2-SECRET"
VALUE = {"pw": SECRET}
BIG_VALUE = {"pw": SECRET, "pad": "p" * 5000}  # over 4096 bytes: envelope encryption

# How a template can derive from globals.pw (itself rendered from a secure value).
DERIVED = {
    "reverse": "{{ globals.pw|reverse }}",
    "upper": "{{ globals.pw|upper }}",
    "list-join": "{{ globals.pw|list|join('.') }}",
    "job.globals": "{{ job.globals.pw }}",
    "loop variable": "{% for c in globals.pw %}{{ c }}{% endfor %}",
    "set": "{% set x = globals.pw %}{{ x[::-1] }}",
    "macro": "{% macro m() %}{{ globals.pw|lower }}{% endmacro %}{{ m() }}",
    "whole map": "{{ globals|dictsort }}",
    "method": "{{ job.globals.values()|list }}",
    "dynamic key": "{% set k = 'pw' %}{{ globals[k]|replace('h', 'H') }}",
    "state alias": "{% set s = state %}{{ s.token.pw|reverse }}",
    "job through a method": "{{ job.items()|list }}",
}


def forbidden_texts(data_keys: list[bytes]) -> list[str]:
    plaintexts = [json.dumps(v).encode() for v in (VALUE, BIG_VALUE)]
    return [
        SECRET,
        SECRET[::-1],
        SECRET.upper(),
        SECRET.lower(),
        ".".join(SECRET),
        *(base64.b64encode(p).decode() for p in plaintexts),
        *(base64.b64encode(k).decode() for k in data_keys),
        *(repr(k) for k in data_keys),
    ]


class Channels:
    """Every text a channel produced, by channel."""

    def __init__(self) -> None:
        self.texts: dict[str, list[str]] = {}
        self.data_keys: list[bytes] = []

    def add(self, channel: str, text: Any) -> None:
        self.texts.setdefault(channel, []).append(text if isinstance(text, str) else str(text))

    def error(self, channel: str, exc: BaseException) -> None:
        self.add(channel, "".join(traceback.format_exception(exc)))
        # Also what a tool walking the chain finds (suppressed contexts included).
        chained: BaseException | None = exc
        while chained is not None:
            self.add(channel, str(chained))
            self.add(channel, repr(chained))
            chained = chained.__cause__ or chained.__context__

    def leaks(self) -> list[tuple[str, str]]:
        found = []
        for channel, texts in self.texts.items():
            for text in texts:
                for secret in forbidden_texts(self.data_keys):
                    if secret in text:
                        found.append((channel, secret))
        return found


@pytest.fixture
def debug_logs() -> Iterator[io.StringIO]:
    """Every record of every logger, at DEBUG, formatted with its exception if any."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield buffer
    root.removeHandler(handler)
    root.setLevel(level)


def test_no_secret_in_any_channel(
    local_aws: LocalAws,
    realm: str,
    stored: Callable[[], dict[str, Any]],
    start_runner: Any,
    debug_logs: io.StringIO,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    seen = Channels()
    kms = local_aws.client("kms")

    def keep_data_key(parsed: dict[str, Any], **_: Any) -> None:
        seen.data_keys.append(bytes(parsed["Plaintext"]))

    kms.meta.events.register("after-call.kms.GenerateDataKey", keep_data_key)
    dynamodb = local_aws.client("dynamodb")
    publisher = StatePublisher(realm, dynamodb=dynamodb, kms=kms, publisher="tests")
    client = StateClient(realm, dynamodb=dynamodb, kms=kms)
    sns, sqs = local_aws.client("sns"), local_aws.client("sqs")
    queue = ChangeQueue(realm, sns=sns, sqs=sqs)
    try:
        for state_id in ("token", "bigtoken", "derived-secure", "many-1"):
            queue.subscribe(queue.state_topic(state_id))
        start_runner()

        # Writes: direct and envelope, put_many, update.
        seen.add("repr", repr(publisher.put("token", VALUE, type="secure")))
        seen.add("repr", repr(publisher.put("bigtoken", BIG_VALUE, type="secure")))
        assert seen.data_keys, "the envelope path must have asked KMS for a data key"
        seen.add(
            "repr",
            repr(publisher.put_many([PutSpec(state_id="many-1", value=VALUE, type="secure")])),
        )
        seen.add("repr", repr(publisher.update("many-1", lambda v: v)))
        seen.add("repr", repr(client.get("token")))
        seen.add("repr", repr(client.get_many(["token", "bigtoken"])))
        lava_item = LavaStateItem.get("token", realm, aws_session=local_aws.session())
        assert lava_item.value == VALUE
        seen.add("repr", repr(lava_item))

        # A conflict on a secure item: its message, repr and the stored item it carries.
        with pytest.raises(VersionConflict) as conflict:
            publisher.put("token", VALUE, type="secure", if_version=99)
        seen.error("exceptions", conflict.value)
        seen.add("repr", repr(conflict.value.current))

        # Expansion: globals derive from the secure value.
        spec = {
            "job_id": "j1",
            "state": {"token": None, "bigtoken": None},
            "globals": {"pw": "{{ state.token.pw }}", "plain": "x"},
            "steps": ["{{ state.bigtoken.pw|upper }}", "echo {{ job.globals.plain }}"],
        }
        expanded = expand_job_spec(spec, client=client)
        assert expanded["globals"]["pw"] == SECRET  # the job gets its secret
        assert "$.globals.pw" in expanded.secure_paths
        assert "$.steps[0]" in expanded.secure_paths
        assert "$.steps[1]" not in expanded.secure_paths
        seen.add("masked spec", json.dumps(expanded.masked()))
        seen.add("repr", repr(expanded))
        seen.add("repr", str(expanded))
        for template in ("{{ {}[state.token.pw] }}", "{{ state.token.pw ~ (1 / 0) }}"):
            with pytest.raises(TemplateError) as raised:
                expand_job_spec({**spec, "x": template}, client=client)
            seen.error("exceptions", raised.value)

        # State actions: every derivation is secure, refused as json, stored encrypted.
        for n, (label, template) in enumerate(DERIVED.items()):
            action = {"action": "state", "state_id": f"derived-{n}", "value": template}
            with pytest.raises(InvalidAction) as refused:
                run_state_action(action, expanded, publisher=publisher)
            seen.error("exceptions", refused.value)
            assert f"derived-{n}" not in stored(), label
            item = run_state_action(
                {**action, "state_id": "derived-secure", "type": "secure"},
                expanded,
                publisher=publisher,
            )
            seen.add("repr", repr(item))
            assert stored()["derived-secure"]["type"] == {"S": "secure"}, label
        for template in (
            "{{ {}[globals.pw] }}",
            "{{ {}[job.globals.pw] }}",
            "{{ globals.pw + 1 }}",
        ):
            action = {"action": "state", "state_id": "err", "value": template, "type": "secure"}
            with pytest.raises(TemplateError) as raised:
                run_state_action(action, expanded, publisher=publisher)
            assert "withheld" in str(raised.value)
            seen.error("exceptions", raised.value)
        seen.add("stored items", repr(stored()))

        # The CLI, in process: success and error paths (not its documented reveals).
        monkeypatch.setenv("LAVA_REALM", realm)
        spec_file = tmp_path / "spec.json"
        spec_file.write_text(json.dumps(spec))
        for argv in (
            ["get", "--json", "token"],
            ["get", "-m", "token", "bigtoken"],
            ["get", "--prefix", "tok"],
            ["ls", "--json"],
            ["render", str(spec_file)],
            ["put", "token", "--json", "--type", "secure", "--json-value", json.dumps(VALUE)],
            ["put", "token", "--type", "secure", "--if-version", "99", "-v", SECRET],
            ["get", "token", "{{ {}[state.pw] }}"],
            ["get", "bigtoken", "{{ state.pw + 1 }}"],
            ["get", "token", "{{ state.pw.nope.nope }}"],
        ):
            try:
                code = main(argv)
            except SystemExit as exc:
                code = int(exc.code or 0)
            out, err = capsys.readouterr()
            seen.add("cli stdout", out)
            seen.add("cli stderr", err)
            if argv[0] == "get" and len(argv) == 3 and "{{" in argv[2]:
                assert code == 1 and err.startswith("lava-state: "), err
        # A documented reveal does show it (so the sweep would see a leak).
        assert main(["get", "token", "{{ state.pw }}"]) == 0
        assert capsys.readouterr().out == f"{SECRET}\n"

        # SNS: the change notifications of secure items.
        messages: list[str] = []
        for _ in range(40):
            deliveries = queue.receive(wait_seconds=1)
            messages.extend(json.dumps(d.message()) for d in deliveries)
            queue.ack(*deliveries)
            if len({json.loads(m)["state_id"] for m in messages}) == 4:
                break
        assert {json.loads(m)["state_id"] for m in messages} == {
            "token",
            "bigtoken",
            "derived-secure",
            "many-1",
        }
        for message in messages:
            seen.add("sns", message)
    finally:
        queue.close()
        kms.meta.events.unregister("after-call.kms.GenerateDataKey", keep_data_key)

    seen.add("logs", debug_logs.getvalue())
    assert "Plaintext" in debug_logs.getvalue()  # the wire logs were on, and redacted
    assert seen.leaks() == []
    assert SECRET_MASK in "".join(seen.texts["masked spec"])


def test_the_sweep_sees_a_leak() -> None:
    # The sweep is only as good as its detector: a plaintext in any form is found.
    seen = Channels()
    seen.data_keys.append(b"\x01" * 32)
    seen.add("a", f"x {SECRET[::-1]} y")
    seen.add("b", base64.b64encode(b"\x01" * 32).decode())
    assert [channel for channel, _ in seen.leaks()] == ["a", "b"]


def test_errors_never_quote_a_secure_value_in_get_templates(
    local_aws: LocalAws,
    realm: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    publisher = StatePublisher(
        realm, session=local_aws.session(), endpoint_url=local_aws.endpoint_url
    )
    publisher.put("s", {"pw": SECRET}, type="secure")
    publisher.put("p", {"pw": SECRET})  # the same text, but not secure: details shown
    monkeypatch.setenv("LAVA_REALM", realm)
    assert main(["get", "s", "{{ {}[state.pw] }}"]) == 1
    err = capsys.readouterr().err
    assert SECRET not in err
    assert "withheld" in err
    assert main(["get", "p", "{{ {}[state.pw] }}"]) == 1
    assert SECRET in capsys.readouterr().err


def test_a_lava_state_error_never_carries_a_secure_value_in_its_args(
    local_aws: LocalAws, realm: str
) -> None:
    publisher = StatePublisher(
        realm, session=local_aws.session(), endpoint_url=local_aws.endpoint_url
    )
    publisher.put("s", VALUE, type="secure")
    with pytest.raises(LavaStateError) as raised:
        publisher.put("s", VALUE, type="secure", if_absent=True)
    assert SECRET not in repr(raised.value.args)
    assert SECRET not in repr(vars(raised.value))
