"""expand_job_spec: declared state resolved in one batched read, the spec rendered by Jinja."""

from __future__ import annotations

import copy
import json
import logging
import subprocess
import sys
import time
from typing import Any

import pytest

from consumer_sdk import ExpandedJobSpec, StateClient, expand_job_spec
from lava_state.errors import (
    CorruptStateItem,
    InvalidInput,
    InvalidJobSpec,
    InvalidStateId,
    TemplateError,
    TemplateSecurityError,
)
from lava_state.model import SECRET_MASK
from publisher import StatePublisher
from tests.consumer_sdk.conftest import Recorder


def test_the_four_seed_forms_render_stored_values(
    publisher: StatePublisher, client: StateClient
) -> None:
    publisher.put("sid", {"lines": "45"})
    publisher.put("a/b-c", "dashed")
    spec = {
        "job_id": "demo/reporter",
        "state": {"sid": "-- default --", "a/b-c": "d"},
        "payload": [
            "{{ job.state.sid.lines }}",
            "{{ job.state['sid'].lines }}",
            "{{ state.sid.lines }}",
            "{{ state['sid']['lines'] }}",
            "{{ state['a/b-c'] }}",
        ],
    }

    expanded = expand_job_spec(spec, client=client)

    assert expanded["payload"] == ["45", "45", "45", "45", "dashed"]
    assert expanded["state"] == {"sid": {"lines": "45"}, "a/b-c": "dashed"}
    assert expanded["job_id"] == "demo/reporter"


def test_missing_and_expired_ids_keep_their_defaults(
    publisher: StatePublisher, client: StateClient, put_raw: Any
) -> None:
    publisher.put("present", 1)
    put_raw("expired", value={"S": '"stale"'}, ttl={"N": str(int(time.time()) - 1)})
    spec = {
        "state": {"present": 0, "absent": {"x": [1]}, "expired": "fresh"},
        "cmd": "{{ state.present }} {{ state.absent.x[0] }} {{ state.expired }}",
    }

    expanded = expand_job_spec(spec, client=client)

    assert expanded["state"] == {"present": 1, "absent": {"x": [1]}, "expired": "fresh"}
    assert expanded["cmd"] == "1 1 fresh"


def test_all_declared_ids_are_read_in_one_batch_and_input_is_not_mutated(
    publisher: StatePublisher, recorded_client: StateClient, recorder: Recorder
) -> None:
    for i in range(20):
        publisher.put(f"in/{i}", i)
    spec = {
        "state": {f"in/{i}": None for i in range(20)},
        "args": [f"{{{{ state['in/{i}'] }}}}" for i in range(20)],
    }
    before = copy.deepcopy(spec)

    expanded = expand_job_spec(spec, client=recorded_client)

    assert expanded["args"] == [str(i) for i in range(20)]
    assert spec == before
    assert len(recorder.of("BatchGetItem")) == 1
    assert recorder.of("GetItem") == []


def test_rendering_walks_dicts_and_lists_and_leaves_keys_and_non_strings(
    publisher: StatePublisher, client: StateClient
) -> None:
    publisher.put("cfg", {"db": "prod"})
    spec = {
        "state": {"cfg": {}},
        "parameters": {
            "{{ state.cfg.db }}": "{{ state.cfg.db }}",
            "nested": [{"deep": ["x-{{ state.cfg.db }}"]}, 3, None, True, 1.5],
        },
        "script": "echo {{ state.cfg.db }}\n",
        "plain": "no template {here}\n",
    }

    expanded = expand_job_spec(spec, client=client)

    assert expanded["parameters"] == {
        "{{ state.cfg.db }}": "prod",
        "nested": [{"deep": ["x-prod"]}, 3, None, True, 1.5],
    }
    assert expanded["script"] == "echo prod\n"  # the trailing newline survives
    assert expanded["plain"] == "no template {here}\n"


def test_render_false_only_resolves(publisher: StatePublisher, client: StateClient) -> None:
    publisher.put("x", 5)
    expanded = expand_job_spec(
        {"state": {"x": 0}, "cmd": "{{ state.x }}"}, client=client, render=False
    )
    assert expanded == {"state": {"x": 5}, "cmd": "{{ state.x }}"}


def test_extra_context_adds_names(client: StateClient) -> None:
    expanded = expand_job_spec(
        {"state": {}, "cmd": "{{ globals.env }}-{{ job.job_id }}", "job_id": "j1"},
        client=client,
        extra_context={"globals": {"env": "prod"}},
    )
    assert expanded["cmd"] == "prod-j1"


def test_extra_context_cannot_replace_state(
    client: StateClient, recorded_client: StateClient, recorder: Recorder
) -> None:
    with pytest.raises(InvalidInput, match="extra_context cannot define 'state'"):
        expand_job_spec({"state": {"x": 1}}, client=recorded_client, extra_context={"state": {}})
    assert recorder.calls == []


def test_templates_see_lavas_utils(publisher: StatePublisher, client: StateClient) -> None:
    publisher.put("src", "s3://bucket.example.com/in/2024/rows.csv")
    spec = {
        "state": {"src": ""},
        "bucket": "{{ utils.s3bucket(state.src) }}",
        "name": "{{ utils.path.basename(utils.s3key(state.src)) }}",
        "json": "{{ utils.tojson(state) }}",
    }

    expanded = expand_job_spec(spec, client=client)

    assert expanded["bucket"] == "bucket.example.com"
    assert expanded["name"] == "rows.csv"
    assert json.loads(expanded["json"]) == {"src": "s3://bucket.example.com/in/2024/rows.csv"}


def test_extra_context_cannot_replace_utils(
    recorded_client: StateClient, recorder: Recorder
) -> None:
    with pytest.raises(InvalidInput, match="extra_context cannot define 'utils'"):
        expand_job_spec({"state": {"x": 1}}, client=recorded_client, extra_context={"utils": {}})
    assert recorder.calls == []


# ------------------------------------------------------------------ strict and lenient


def test_strict_undeclared_state_names_path_and_id(client: StateClient) -> None:
    spec = {"state": {"declared": 1}, "steps": [{"cmd": "run\n{{ state.undeclared }}"}]}
    with pytest.raises(TemplateError) as caught:
        expand_job_spec(spec, client=client)
    message = str(caught.value)
    assert "$.steps[0].cmd" in message and "line 2" in message
    assert "state 'undeclared' is not declared" in message
    assert caught.value.path == "$.steps[0].cmd" and caught.value.lineno == 2


def test_strict_undefined_name(client: StateClient) -> None:
    with pytest.raises(TemplateError, match=r"\$\['odd key'\].*'nothing' is undefined"):
        expand_job_spec({"odd key": "{{ nothing }}"}, client=client)


def test_lenient_renders_undeclared_and_undefined_as_empty(client: StateClient) -> None:
    spec = {"state": {}, "cmd": "a{{ state.nope }}b{{ job.state['x'] }}c{{ missing }}d"}
    assert expand_job_spec(spec, client=client, strict=False)["cmd"] == "abcd"


def test_is_defined_still_works_in_strict_mode(client: StateClient) -> None:
    spec = {"state": {}, "cmd": "{% if state.opt is defined %}yes{% else %}no{% endif %}"}
    assert expand_job_spec(spec, client=client)["cmd"] == "no"


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__ }}",
        "{{ state.__class__.__init__.__globals__ }}",
        "{{ job.items.__self__.__class__ }}",
    ],
)
def test_the_sandbox_refuses_python_internals(
    client: StateClient, template: str, strict: bool
) -> None:
    with pytest.raises(TemplateSecurityError, match=r"\$\.cmd.*is unsafe"):
        expand_job_spec({"state": {}, "cmd": template}, client=client, strict=strict)


def test_syntax_errors_give_path_and_line(client: StateClient) -> None:
    spec = {"payload": {"sql": "select 1\nfrom t\nwhere {{ x }"}}
    with pytest.raises(TemplateError, match=r"syntax error at \$\.payload\.sql, line 3") as caught:
        expand_job_spec(spec, client=client, strict=False)
    assert caught.value.lineno == 3


# ---------------------------------------------------------------------------- secure values


def test_secure_values_render_but_are_reported_and_masked(
    publisher: StatePublisher, client: StateClient, caplog: pytest.LogCaptureFixture
) -> None:
    publisher.put("db/creds", {"user": "admin", "password": "s3cr3t-pw"}, type="secure")
    publisher.put("short", "ab", type="secure")
    publisher.put("plain", "visible")
    spec = {
        "state": {"db/creds": None, "short": None, "plain": None},
        "cmd": "login {{ state['db/creds'].password | upper }}",
        "env": {"PW": "{{ job.state['db/creds']['password'] }}", "S": "{{ state.short }}"},
        "dump": "{{ state }}",
        "other": "{{ state.plain }}",
        "loop": "{% for k, v in state|items %}{{ v }}{% endfor %}",
    }

    with caplog.at_level(logging.DEBUG, logger="consumer_sdk"):
        expanded = expand_job_spec(spec, client=client)

    assert isinstance(expanded, ExpandedJobSpec)
    assert expanded["cmd"] == "login S3CR3T-PW"
    assert expanded["env"] == {"PW": "s3cr3t-pw", "S": "ab"}
    assert set(expanded.secure_paths) == {
        "$.state['db/creds']",
        "$.state.short",
        "$.cmd",
        "$.env.PW",
        "$.env.S",
        "$.dump",
        "$.loop",
    }
    masked = expanded.masked()
    assert masked["other"] == "visible"
    assert masked["env"] == {"PW": SECRET_MASK, "S": SECRET_MASK}
    assert masked["state"]["db/creds"] == SECRET_MASK
    for shown in (repr(expanded), str(expanded), caplog.text):
        assert "s3cr3t" not in shown.lower() and "'ab'" not in shown
    assert "visible" in caplog.text
    # The job itself gets the real values.
    assert "s3cr3t-pw" in json.dumps(expanded)


def test_an_error_in_a_template_using_a_secret_does_not_quote_it(
    publisher: StatePublisher, client: StateClient
) -> None:
    publisher.put("tok", "s3cr3t-tok", type="secure")
    # StrictUndefined names the missing key, which here is the secret itself.
    spec = {"state": {"tok": None}, "cmd": "{{ {'a': 1}[state.tok] }}"}
    with pytest.raises(TemplateError, match="withheld") as caught:
        expand_job_spec(spec, client=client)
    assert "s3cr3t" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


# ------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        (
            {"state": ["a"]},
            InvalidJobSpec,
            "'state' must be a map of state_id to default, not list",
        ),
        ({"state": None}, InvalidJobSpec, "not NoneType"),
        ({"state": {3: "x"}}, InvalidJobSpec, "declares 3 \\(int\\): state ids are strings"),
        ({"state": {"": "x"}}, InvalidStateId, "declares '': state_id must not be empty"),
        ({"state": {"y" * 1100: 1}}, InvalidStateId, "at most 1024"),
        (["not", "a", "map"], InvalidJobSpec, "a job spec must be a map"),
    ],
)
def test_bad_specs_are_rejected_before_any_read(
    recorded_client: StateClient,
    recorder: Recorder,
    spec: Any,
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=message):
        expand_job_spec(spec, client=recorded_client)
    assert recorder.calls == []


def test_lava_prefixed_ids_may_be_declared(client: StateClient, put_raw: Any) -> None:
    put_raw("lava/realm-info", value={"S": '"r"'})
    spec = {"state": {"lava/realm-info": None}, "x": "{{ state['lava/realm-info'] }}"}
    assert expand_job_spec(spec, client=client)["x"] == "r"


def test_a_corrupt_stored_value_names_the_id(client: StateClient, put_raw: Any) -> None:
    put_raw("bad", value={"S": "{oops"})
    with pytest.raises(CorruptStateItem, match="'bad'"):
        expand_job_spec({"state": {"bad": 1, "other": 2}}, client=client)


def test_realm_contradicting_the_client_is_refused(client: StateClient) -> None:
    with pytest.raises(InvalidInput, match="contradicts"):
        expand_job_spec({"state": {}}, client=client, realm="elsewhere")


def test_the_realm_default_comes_from_the_environment(
    publisher: StatePublisher, realm: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    publisher.put("env/x", "from-env")
    monkeypatch.setenv("LAVA_REALM", realm)
    assert expand_job_spec({"state": {"env/x": None}, "c": "{{ state['env/x'] }}"})["c"] == (
        "from-env"
    )


def test_importing_the_sdk_loads_neither_jinja_nor_tenacity() -> None:
    code = (
        "import sys, consumer_sdk, publisher\n"
        "loaded = [m for m in ('jinja2', 'tenacity') if m in sys.modules]\n"
        "assert not loaded, loaded"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
