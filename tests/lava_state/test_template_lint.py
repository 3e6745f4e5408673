"""The lint for lava idioms that store something else under structure-aware rendering."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lava_state.template_lint import LINTS, lint, lint_structure
from lava_state.templating import Renderer

IDIOM = "{{ (utils.tojson(result)) | tojson | trim('\"') }}"


@pytest.mark.parametrize(
    "template",
    [
        IDIOM,
        "{{ x|tojson|trim('\"') }}",
        '{{ x | tojson | trim(chars="\\"") }}',
        "a\n{% if x %}{{ x | tojson(indent=2) | trim('\"') }}{% endif %}",
    ],
)
def test_the_tojson_trim_idiom_is_reported_with_its_line(template: str) -> None:
    warnings = lint(template)

    assert len(warnings) == 1
    line = template[: template.index("trim")].count("\n") + 1
    assert warnings[0] == f"line {line}: {LINTS['tojson-trim']}"
    assert "utils.tojson(x)" in warnings[0]


@pytest.mark.parametrize(
    "template",
    [
        "no template",
        "{{ utils.tojson(x) }}",
        "{{ x | tojson }}",
        "{{ x | trim('\"') }}",
        "{{ x | tojson | trim }}",
        "{{ x | tojson | trim('x') }}",
        "{{ broken",
    ],
)
def test_other_templates_give_no_warning(template: str) -> None:
    assert lint(template) == []


def test_the_warning_is_right_the_idiom_stores_escaped_text() -> None:
    """What the lint says happens: the text keeps its escaped quotes; utils.tojson does not."""
    context = {"result": {"a": 1}}

    escaped = Renderer(context).render_string(IDIOM)
    plain = Renderer(context).render_string("{{ utils.tojson(result) }}")

    assert escaped == '{\\"a\\": 1}'
    assert json.loads(plain) == {"a": 1}


def test_lint_structure_names_the_path_of_each_finding() -> None:
    spec = {
        "state": {"x": 1},
        "payload": {"cmd": ["ok", IDIOM]},
        "parameters": {"a b": IDIOM, "n": 3},
    }

    warnings = lint_structure(spec)

    assert [w.split(": line")[0] for w in warnings] == ["$.payload.cmd[1]", "$.parameters['a b']"]
    assert lint_structure({"value": IDIOM}, root="action") == [
        f"action.value: line 1: {LINTS['tojson-trim']}"
    ]


def test_linting_a_plain_structure_does_not_import_jinja() -> None:
    code = (
        "import sys\n"
        "from lava_state.template_lint import lint_structure\n"
        "assert lint_structure({'a': ['b', {'c': 'd'}]}) == []\n"
        "print('jinja2' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
