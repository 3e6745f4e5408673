"""The `state` job action: lava's keys and template names, rendered on the structure."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from consumer_sdk import StateClient, expand_job_spec
from lava_state.errors import (
    InvalidAction,
    InvalidStateId,
    InvalidTTL,
    ReservedStateId,
    TemplateError,
    TemplateSecurityError,
    UnknownStateType,
)
from lava_state.model import StateType
from lava_state.template_lint import lint_structure
from publisher import StatePublisher, run_state_action

JOB = {
    "job_id": "etl/daily",
    "globals": {"env": "prod", "bucket": "b-1"},
    "state": {"cursor": "2024-01-01"},
    "payload": "run",
}


def test_renders_lava_names_and_stores_the_structure(
    publisher: StatePublisher, client: StateClient, realm: str
) -> None:
    start = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=10)))
    action = {
        "action": "state",
        "state_id": "{{ job.job_id }}/{{ globals.env }}",
        "value": {
            "rows": "{{ result.rows }}",
            "message": "{{ result.message }}",
            "cursor": "{{ state.cursor }}",
            "where": ["{{ realm }}", "{{ globals['bucket'] }}"],
            "started": "{{ ustart.isoformat() }}",
            "day": "{{ start.strftime('%Y-%m-%d') }}",
            "count": 3,
        },
        "ttl": "2d",
    }
    result = {"rows": 45, "message": 'said "hi", {not json}'}

    stored = run_state_action(action, JOB, result, publisher=publisher, start=start)

    assert stored.state_id == "etl/daily/prod"
    assert stored.publisher == "etl/daily"
    read = client.get("etl/daily/prod")
    assert read is not None
    assert read.value == {
        "rows": "45",
        "message": 'said "hi", {not json}',  # quotes are fine: no JSON dump is re-parsed
        "cursor": "2024-01-01",
        "where": [realm, "b-1"],
        "started": "2024-05-05T21:08:09+00:00",
        "day": start.astimezone().strftime("%Y-%m-%d"),
        "count": 3,
    }
    assert read.ttl is not None and read.timestamp is not None
    assert abs(read.ttl - read.timestamp.timestamp() - 2 * 86400) <= 1


def test_optional_keys_type_publisher_and_kms_key(
    publisher: StatePublisher, client: StateClient
) -> None:
    action = {
        "action": "state",
        "state_id": "creds",
        "value": {"token": "{{ result.token }}"},
        "type": "secure",
        "publisher": "{{ job.job_id }}-bot",
        "kms_key": f"alias/lava-{publisher.realm}-sys",
    }
    stored = run_state_action(action, JOB, {"token": "s3cr3t"}, publisher=publisher)

    assert stored.type is StateType.SECURE and "s3cr3t" not in repr(stored)
    read = client.get("creds")
    assert read is not None and read.value == {"token": "s3cr3t"}
    assert read.publisher == "etl/daily-bot"


def test_the_action_sees_an_expanded_spec(publisher: StatePublisher, client: StateClient) -> None:
    publisher.put("cursor", "2024-02-02")
    expanded = expand_job_spec(JOB, client=client)
    run_state_action(
        {"action": "state", "state_id": "next", "value": "after {{ state.cursor }}"},
        expanded,
        publisher=publisher,
    )
    assert client.get_value("next") == "after 2024-02-02"


def test_templates_keep_the_sandbox(publisher: StatePublisher, stored: Any) -> None:
    action = {"action": "state", "state_id": "x", "value": ["{{ ''.__class__.__mro__ }}"]}
    with pytest.raises(TemplateSecurityError, match=r"action\.value\[0\]"):
        run_state_action(action, JOB, publisher=publisher)
    assert stored() == {}


@pytest.mark.parametrize(
    ("action", "error", "message"),
    [
        ({"action": "state", "state_id": "x"}, InvalidAction, "missing 'value'"),
        ({"action": "email", "state_id": "x", "value": 1}, InvalidAction, "not a state action"),
        (
            {"action": "state", "state_id": "x", "value": 1, "vaule": 2, "tll": 3},
            InvalidAction,
            "unknown key\\(s\\) 'tll', 'vaule': allowed are action, state_id, value, type",
        ),
        ({"action": "state", "state_id": "lava-x", "value": 1}, ReservedStateId, "reserved"),
        ({"action": "state", "state_id": 7, "value": 1}, InvalidStateId, "must be a string"),
        (
            {"action": "state", "state_id": "x", "value": 1, "type": "yaml"},
            UnknownStateType,
            "yaml: No such",
        ),
        (
            {"action": "state", "state_id": "x", "value": 1, "ttl": "-1d"},
            InvalidTTL,
            "must be a positive duration",
        ),
        (
            {"action": "state", "state_id": "x", "value": {"a": "{{ result.nope }}"}},
            TemplateError,
            r"action\.value\.a.*has no attribute 'nope'",
        ),
        (
            {"action": "state", "state_id": "{{ job.job_id", "value": 1},
            TemplateError,
            r"action\.state_id, line 1",
        ),
        ("state", InvalidAction, "must be a map"),
    ],
)
def test_bad_actions_write_nothing(
    publisher: StatePublisher, stored: Any, action: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        run_state_action(action, JOB, {"rows": 1}, publisher=publisher)
    assert stored() == {}


def test_lenient_renders_undefined_as_empty(publisher: StatePublisher, client: StateClient) -> None:
    action = {"action": "state", "state_id": "x", "value": "a{{ result.nope }}b"}
    run_state_action(action, JOB, {}, publisher=publisher, strict=False)
    assert client.get_value("x") == "ab"


def test_publisher_defaults_without_job_id(publisher: StatePublisher, client: StateClient) -> None:
    run_state_action(
        {"action": "state", "state_id": "x", "value": "v"}, {"state": {}}, publisher=publisher
    )
    item = client.get("x")
    assert item is not None and item.publisher == "tests"


def test_start_defaults_to_now(publisher: StatePublisher, client: StateClient) -> None:
    run_state_action(
        {"action": "state", "state_id": "t", "value": "{{ ustart.isoformat() }}"},
        JOB,
        publisher=publisher,
    )
    when = datetime.fromisoformat(client.get_value("t"))
    assert abs(when - datetime.now(UTC)) < timedelta(seconds=30)


def test_templates_see_lavas_utils(publisher: StatePublisher, client: StateClient) -> None:
    action = {
        "action": "state",
        "state_id": "{{ utils.path.basename(job.job_id) }}/out",
        "value": {
            "json": "{{ utils.tojson(result) }}",
            "bucket": "{{ utils.s3bucket(result.target) }}",
            "next": "{{ (ustart + utils.timedelta(days=1)).date() }}",
        },
    }
    start = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    result = {"target": "s3://out-bucket/x/y", "rows": 45}

    run_state_action(action, JOB, result, publisher=publisher, start=start)

    value = client.get_value("daily/out")
    assert json.loads(value["json"]) == result
    assert value["bucket"] == "out-bucket"
    assert value["next"] == "2024-05-07"


def test_extra_context_cannot_replace_utils(publisher: StatePublisher, stored: Any) -> None:
    action = {"action": "state", "state_id": "x", "value": "{{ utils }}"}
    with pytest.raises(InvalidAction, match="cannot redefine 'utils'"):
        run_state_action(action, JOB, publisher=publisher, extra_context={"utils": {}})
    assert stored() == {}


def test_lavas_tojson_trim_idiom_stores_escaped_text_and_is_linted(
    publisher: StatePublisher, client: StateClient
) -> None:
    """lava re-parsed the rendered action, so this idiom stored the JSON text; here the
    escaped text is stored as it renders: the lint says so, and says what to write."""
    action = {
        "action": "state",
        "state_id": "counts",
        "value": "{{ (utils.tojson(result)) | tojson | trim('\"') }}",
    }

    run_state_action(action, JOB, {"rows": 45}, publisher=publisher)

    assert client.get_value("counts") == '{\\"rows\\": 45}'
    warnings = lint_structure(action, root="action")
    assert len(warnings) == 1
    assert warnings[0].startswith("action.value: line 1: ")
    assert "utils.tojson(x)" in warnings[0]


# ------------------------------------------------------------------- secure material


@pytest.fixture
def expanded_secure(publisher: StatePublisher, client: StateClient) -> Any:
    publisher.put("tok", "s3cr3t-tok", type="secure")
    publisher.put("plain", "visible")
    spec = {
        "job_id": "etl/daily",
        "state": {"tok": None, "plain": None},
        "auth": "Bearer {{ state.tok }}",
    }
    return expand_job_spec(spec, client=client)


@pytest.mark.parametrize(
    "value",
    [
        "{{ state.tok }}",
        "{{ (state|dictsort|last|last)|upper }}",
        "{{ job.state.tok }}",
        {"nested": ["{{ job.auth }}"]},
    ],
)
def test_a_value_from_secure_material_must_be_typed_secure(
    publisher: StatePublisher, client: StateClient, stored: Any, expanded_secure: Any, value: Any
) -> None:
    action = {"action": "state", "state_id": "copy", "value": value}
    with pytest.raises(InvalidAction, match=r'uses secure material.*use "type": "secure"'):
        run_state_action(action, expanded_secure, publisher=publisher)
    assert set(stored()) == {"tok", "plain"}

    item = run_state_action({**action, "type": "secure"}, expanded_secure, publisher=publisher)
    assert item.type is StateType.SECURE
    assert "s3cr3t" in str(client.get_value("copy")).lower()


@pytest.mark.parametrize("key", ["state_id", "publisher"])
def test_state_id_and_publisher_never_use_secure_material(
    publisher: StatePublisher, stored: Any, expanded_secure: Any, key: str
) -> None:
    action = {
        "action": "state",
        "state_id": "x",
        "value": 1,
        "type": "secure",
        key: "id-{{ state.tok }}",
    }
    with pytest.raises(InvalidAction, match="state_id or publisher uses secure material") as caught:
        run_state_action(action, expanded_secure, publisher=publisher)
    assert "s3cr3t" not in str(caught.value)
    assert set(stored()) == {"tok", "plain"}


def test_plain_values_of_an_expanded_spec_are_fine(
    publisher: StatePublisher, client: StateClient, expanded_secure: Any
) -> None:
    action = {"action": "state", "state_id": "p", "value": "{{ state.plain }} {{ job.job_id }}"}
    run_state_action(action, expanded_secure, publisher=publisher)
    assert client.get_value("p") == "visible etl/daily"


def test_the_job_id_is_the_publisher_as_it_is(
    publisher: StatePublisher, client: StateClient
) -> None:
    job = {**JOB, "job_id": "etl/{{ 6 * 7 }}"}
    run_state_action({"action": "state", "state_id": "x", "value": 1}, job, publisher=publisher)
    item = client.get("x")
    assert item is not None and item.publisher == "etl/{{ 6 * 7 }}"


@pytest.mark.parametrize(
    "template",
    ["{{ globals.clear() }}", "{{ job.update({'job_id': 'y'}) }}", "{{ result.update(a=2) }}"],
)
def test_action_templates_cannot_modify_the_callers_data(
    publisher: StatePublisher, stored: Any, template: str
) -> None:
    job, result = copy.deepcopy(JOB), {"a": 1}
    action = {"action": "state", "state_id": "x", "value": template}
    with pytest.raises(TemplateSecurityError, match="is unsafe"):
        run_state_action(action, job, result, publisher=publisher)
    assert (job, result) == (JOB, {"a": 1})
    assert stored() == {}
