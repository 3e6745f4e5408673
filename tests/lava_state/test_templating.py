"""The renderer's context: lava's ``utils`` is there, imported only when a template renders."""

from __future__ import annotations

import ast
import subprocess
import sys

from lava_state.templating import Renderer


def test_every_template_sees_lavas_utils() -> None:
    rendered = Renderer({"state": {"path": "s3://b/k/x.csv"}}).render_string(
        "{{ utils.s3bucket(state.path) }} {{ utils.path.basename(state.path) }}"
    )
    assert rendered == "b x.csv"


def test_a_context_that_names_its_own_utils_keeps_them() -> None:
    assert Renderer({"utils": {"x": 1}}).render_string("{{ utils.x }}") == "1"


def test_utils_and_jinja_are_imported_only_when_a_template_renders() -> None:
    code = (
        "import sys\n"
        "from lava_state.templating import Renderer\n"
        "r = Renderer({'state': {}})\n"
        "r.render({'a': 'plain', 'b': ['no template']})\n"
        "before = sorted(sys.modules)\n"
        "r.render_string('{{ utils.uuid() }}')\n"
        "print(repr((before, sorted(sys.modules))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    before, after = map(set, ast.literal_eval(result.stdout))
    lazy = {"jinja2", "lava_state.template_utils", "dateutil.parser"}
    assert not lazy & before
    assert lazy <= after
