"""expand_job_spec's sandbox: templates cannot modify data, leak secrets, or exhaust resources."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import pytest

from consumer_sdk import StateClient, expand_job_spec
from lava_state.errors import CorruptStateItem, TemplateError, TemplateSecurityError
from lava_state.model import SECRET_MASK
from lava_state_cli.app import main
from publisher import StatePublisher

SECRET = "s3cr3t-tok"


@pytest.fixture
def secure_spec(publisher: StatePublisher) -> dict[str, Any]:
    publisher.put("tok", SECRET, type="secure")
    publisher.put("plain", "visible")
    return {"job_id": "j", "state": {"tok": None, "plain": None}}


# ---------------------------------------------------------------------- data is immutable


@pytest.mark.parametrize(
    "template",
    [
        "{{ globals.clear() }}",
        "{{ job.update({'job_id': 'hijacked'}) }}",
        "{{ job.state.x.update({'y': 2}) }}",
        "{{ state.x.update({'y': 2}) }}",
        "{{ globals.env.append('more') }}",
        "{% for k in job %}{{ job.pop(k) }}{% endfor %}",
    ],
)
def test_templates_cannot_modify_the_spec_or_the_context(
    client: StateClient, template: str
) -> None:
    spec = {"job_id": "j", "state": {"x": {"y": 1}}, "cmd": template}
    context = {"globals": {"env": ["prod"], "k": "v"}}
    spec_before, context_before = copy.deepcopy(spec), copy.deepcopy(context)

    with pytest.raises(TemplateSecurityError, match=r"\$\.cmd.*is unsafe"):
        expand_job_spec(spec, client=client, extra_context=context)

    assert spec == spec_before
    assert context == context_before


def test_the_context_given_is_a_copy(client: StateClient) -> None:
    context = {"globals": {"env": ["prod"]}}
    expanded = expand_job_spec(
        {"state": {}, "cmd": "{{ globals.env | join(',') }}"}, client=client, extra_context=context
    )
    assert expanded["cmd"] == "prod"
    assert context == {"globals": {"env": ["prod"]}}


def test_runtime_errors_of_python_become_template_errors(client: StateClient) -> None:
    # RecursionError is a RuntimeError: it must not escape as one.
    spec = {"state": {}, "cmd": "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}"}
    with pytest.raises(TemplateError, match=r"\$\.cmd.*RecursionError"):
        expand_job_spec(spec, client=client)


# ------------------------------------------------------------------ secrets in error messages


@pytest.mark.parametrize(
    "template",
    ["{{ job[state|tojson] }}", "{{ {}[state] }}", "{{ {}[job.state.tok] }}", "{{ {}[job] }}"],
)
def test_errors_of_templates_using_state_or_job_withhold_details(
    client: StateClient, secure_spec: dict[str, Any], template: str
) -> None:
    with pytest.raises(TemplateError, match="details withheld") as caught:
        expand_job_spec({**secure_spec, "cmd": template}, client=client)
    assert SECRET not in str(caught.value)
    assert not isinstance(caught.value.__cause__, RuntimeError)


def test_known_secret_texts_are_masked_in_any_error(
    client: StateClient, secure_spec: dict[str, Any]
) -> None:
    # The template names neither state nor job, yet its error quotes the secret text.
    spec = {**secure_spec, "cmd": "{{ {}[g.k] }}"}
    with pytest.raises(TemplateError) as caught:
        expand_job_spec(spec, client=client, extra_context={"g": {"k": SECRET}})
    assert SECRET not in str(caught.value)
    assert SECRET_MASK in str(caught.value)


def test_without_secure_ids_details_are_shown(client: StateClient) -> None:
    with pytest.raises(TemplateError, match="has no attribute 'nope'"):
        expand_job_spec({"state": {"a": {}}, "cmd": "{{ state.a['nope'] }}"}, client=client)


# -------------------------------------------------------- secure values transformed by filters


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        ("{{ (state|dictsort|last|last)|upper }}", SECRET.upper()),
        ("{{ (job.state|dictsort|last|last)|upper }}", SECRET.upper()),
        ("{{ (job|dictsort|last|last|dictsort|last|last)|upper }}", SECRET.upper()),
        ("{{ state.tok|reverse|join }}", SECRET[::-1]),
        ("{% set s = state %}{{ s['tok']|replace('-', '+') }}", SECRET.replace("-", "+")),
        ("{{ state[('t' ~ 'ok')]|upper }}", SECRET.upper()),
    ],
)
def test_transformed_secure_values_are_still_secure(
    client: StateClient, secure_spec: dict[str, Any], template: str, rendered: str
) -> None:
    expanded = expand_job_spec({**secure_spec, "cmd": template}, client=client)
    assert expanded["cmd"] == rendered
    assert "$.cmd" in expanded.secure_paths
    assert expanded.masked()["cmd"] == SECRET_MASK
    assert rendered not in repr(expanded)


def test_constant_access_of_plain_ids_and_job_keys_is_not_masked(
    client: StateClient, secure_spec: dict[str, Any]
) -> None:
    spec = {
        **secure_spec,
        "a": "{{ state.plain|upper }}",
        "b": "{{ job.state['plain'] }} {{ job.job_id }}",
    }
    expanded = expand_job_spec(spec, client=client)
    assert (expanded["a"], expanded["b"]) == ("VISIBLE", "visible j")
    assert set(expanded.secure_paths) == {"$.state.tok"}


def test_render_without_reveal_masks_filtered_secrets(
    secure_spec: dict[str, Any], realm: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = {**secure_spec, "cmd": "{{ (state|dictsort|last|last)|upper }}"}
    path = tmp_path / "job.json"
    path.write_text(json.dumps(spec))
    assert main(["render", "-r", realm, str(path)]) == 0
    out = capsys.readouterr().out
    assert SECRET.upper() not in out and SECRET not in out
    assert json.loads(out)["cmd"] == SECRET_MASK


# ------------------------------------------------------------------ strict mode on `state`


@pytest.mark.parametrize("template", ["{{ state.get('nope') }}", "{{ state.keys }}"])
def test_strict_dict_methods_of_state_are_undeclared_ids(
    client: StateClient, template: str
) -> None:
    with pytest.raises(TemplateError, match=r"state '(get|keys)' is not declared"):
        expand_job_spec({"state": {"a": 1}, "cmd": template}, client=client)


def test_ids_named_like_dict_methods_resolve_to_their_values(
    publisher: StatePublisher, client: StateClient
) -> None:
    publisher.put("values", "stored-values")
    spec = {
        "state": {"values": None, "get": "g", "items": "i"},
        "cmd": "{{ state.values }} {{ state.get }} {{ job.state.items }} {{ state['get'] }}",
    }
    for strict in (True, False):
        assert expand_job_spec(spec, client=client, strict=strict)["cmd"] == "stored-values g i g"


# ----------------------------------------------------------------------- resource limits


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ 'x' * 10**8 }}", "over the limit of 1000000"),
        ("{{ 10**8 * 'x' }}", "over the limit of 1000000"),
        ("{{ [0] * 10**7 }}", "over the limit of 1000000"),
        ("{{ 2 ** 1000 }}", "exponent 1000 is over the limit of 100"),
    ],
)
def test_huge_results_are_refused_quickly(client: StateClient, template: str, message: str) -> None:
    started = time.monotonic()
    with pytest.raises(TemplateSecurityError, match=message):
        expand_job_spec({"state": {}, "cmd": template}, client=client)
    assert time.monotonic() - started < 1.0


def test_small_repetitions_and_powers_still_work(client: StateClient) -> None:
    spec = {"state": {}, "cmd": "{{ 'ab' * 3 }} {{ [1] * 2 }} {{ 2 ** 10 }} {{ 6 * 7 }}"}
    assert expand_job_spec(spec, client=client)["cmd"] == "ababab [1, 1] 1024 42"


# ---------------------------------------------------------------------- partial results


def test_partial_keeps_the_default_of_a_corrupt_value_and_reports_it(
    publisher: StatePublisher, client: StateClient, put_raw: Any
) -> None:
    put_raw("bad", value={"S": "{oops"})
    publisher.put("good", "g")
    spec = {"state": {"bad": "dflt", "good": None}, "cmd": "{{ state.bad }} {{ state.good }}"}

    expanded = expand_job_spec(spec, client=client, partial=True)

    assert expanded["cmd"] == "dflt g"
    assert list(expanded.errors) == ["bad"]
    assert isinstance(expanded.errors["bad"], CorruptStateItem)
    with pytest.raises(CorruptStateItem, match="'bad'"):
        expand_job_spec(spec, client=client)
