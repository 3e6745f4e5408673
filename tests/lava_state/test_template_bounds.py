"""Templates cannot exhaust the machine: every operation that can grow a value, the
output of a template and of an expansion, and the time of an expansion are bounded.

Each bypass of the former limits found by the issue is a test here.
"""

from __future__ import annotations

import pytest

from consumer_sdk import StateClient, expand_job_spec
from lava_state.errors import TemplateError, TemplateLimitExceeded, TemplateSecurityError
from lava_state.template_limits import (
    MAX_OUTPUT,
    MAX_RESULT_SIZE,
    MAX_TOTAL_OUTPUT,
)
from lava_state.templating import Renderer


def render(template: str, **context: object) -> str:
    return Renderer(context).render_string(template)


BYPASSES = {
    # (template, the limit it must cross)
    "power of powers": ("{{ (((10**100)**100)**100) }}", "MAX_INT_DIGITS"),
    "big exponent": ("{{ 2 ** 101 }}", "MAX_EXPONENT"),
    "center filter": ("{{ 'x'|center(50000000) }}", "MAX_RESULT_SIZE"),
    "format filter": ("{{ '%50000000s'|format('x') }}", "MAX_RESULT_SIZE"),
    "format filter star": ("{{ '%*s'|format(50000000, 'x') }}", "MAX_RESULT_SIZE"),
    "format filter precision": ("{{ '%.50000000f'|format(1.5) }}", "MAX_RESULT_SIZE"),
    "percent operator": ("{{ '%50000000s' % 'x' }}", "MAX_RESULT_SIZE"),
    "many percent specs": ("{{ ('%900000s' * 2) % ('x', 'y') }}", "MAX_RESULT_SIZE"),
    "string doubled with ~ through namespace": (
        "{% set ns = namespace(s='x') %}{% for i in range(40) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
        "MAX_RESULT_SIZE",
    ),
    "string doubled with + through namespace": (
        "{% set ns = namespace(s='x') %}{% for i in range(40) %}"
        "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s|length }}",
        "MAX_RESULT_SIZE",
    ),
    "list doubled with +": (
        "{% set ns = namespace(l=[1]) %}{% for i in range(40) %}"
        "{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l|length }}",
        "MAX_RESULT_SIZE",
    ),
    "int squared in a loop": (
        "{% set ns = namespace(n=3) %}{% for i in range(40) %}"
        "{% set ns.n = ns.n * ns.n %}{% endfor %}{{ ns.n > 0 }}",
        "MAX_INT_DIGITS",
    ),
    "string repeated": ("{{ 'x' * 1000001 }}", "MAX_RESULT_SIZE"),
    "list repeated": ("{{ ([1] * 1000001)|length }}", "MAX_RESULT_SIZE"),
    "indent": ("{{ ('a\\n' * 500000)|indent(100) }}", "MAX_RESULT_SIZE"),
    "indent with a string": ("{{ ('a\\n' * 500000)|indent('x' * 100) }}", "MAX_RESULT_SIZE"),
    "wordwrap": ("{{ ('ab ' * 300000)|wordwrap(2, wrapstring='x' * 100) }}", "MAX_RESULT_SIZE"),
    "join": ("{{ range(100000)|join('x' * 100) }}", "MAX_RESULT_SIZE"),
    "join of big strings": ("{{ (['x' * 100000] * 20)|join }}", "MAX_RESULT_SIZE"),
    "replace filter": ("{{ ('x' * 1000)|replace('x', 'y' * 10000) }}", "MAX_RESULT_SIZE"),
    "batch fill": ("{{ [1]|batch(100000000, 'x')|list }}", "MAX_RESULT_SIZE"),
    "slice": ("{{ [1]|slice(100000000)|list }}", "MAX_RESULT_SIZE"),
    "tojson indent": ("{{ [1, 2]|tojson(100000000) }}", "MAX_JSON_INDENT"),
    "range": ("{% for i in range(10**6) %}{% endfor %}", "MAX_RANGE"),
    "lipsum": ("{{ lipsum(1000000) }}", "MAX_LIPSUM"),
    "str.center": ("{{ 'x'.center(50000000) }}", "MAX_RESULT_SIZE"),
    "str.ljust": ("{{ 'x'.ljust(50000000) }}", "MAX_RESULT_SIZE"),
    "str.zfill": ("{{ '1'.zfill(50000000) }}", "MAX_RESULT_SIZE"),
    "str.expandtabs": ("{{ ('\\t' * 1000).expandtabs(100000) }}", "MAX_RESULT_SIZE"),
    "str.replace": ("{{ ('x' * 1000).replace('x', 'y' * 10000) }}", "MAX_RESULT_SIZE"),
    "str.join": ("{{ ','.join(['x' * 1000] * 2000) }}", "MAX_RESULT_SIZE"),
    "str.format width": ("{{ '{:>50000000}'.format('x') }}", "MAX_RESULT_SIZE"),
    "str.format nested width": ("{{ '{:{}}'.format('x', 50000000) }}", "MAX_RESULT_SIZE"),
    "str.format_map": ("{{ '{a:>50000000}'.format_map({'a': 'x'}) }}", "MAX_RESULT_SIZE"),
    "str.translate": ("{{ ('x' * 1000).translate({120: 'y' * 10000}) }}", "MAX_RESULT_SIZE"),
    "str.join of an iterator": (
        "{{ ('x' * 100000).join(range(100)|map('string')) }}",
        "MAX_RESULT_SIZE",
    ),
    "re.sub with an empty pattern": (
        "{{ utils.re.sub('', 'x' * 1000, 'a' * 10000) }}",
        "MAX_RESULT_SIZE",
    ),
    "re.sub repeating the match": (
        r"{{ utils.re.sub('a+', '\\g<0>' * 100, 'a' * 20000) }}",
        "MAX_RESULT_SIZE",
    ),
    "compiled pattern sub": (
        "{{ utils.re.compile('a').sub('y' * 1000, 'a' * 10000) }}",
        "MAX_RESULT_SIZE",
    ),
    "re.subn with a keyword repl": (
        "{{ utils.re.subn('a', repl='y' * 1000, string='a' * 10000) }}",
        "MAX_RESULT_SIZE",
    ),
    "output of a loop": ("{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}", "MAX_OUTPUT"),
    "output of a macro": (
        "{% macro m() %}{% for i in range(100000) %}xxxxxxxxxxxxxxxxxxxxxxxxx{% endfor %}"
        "{% endmacro %}{{ m()|length }}",
        "MAX_OUTPUT",
    ),
    "output of a set block": (
        "{% set s %}{% for i in range(100000) %}xxxxxxxxxxxxxxxxxxxx{% endfor %}{% endset %}"
        "{{ s|length }}",
        "MAX_OUTPUT",
    ),
    "doubling macro": (
        "{% macro d(s, n) %}{% if n %}{{ d(s ~ s, n - 1) }}{% else %}{{ s|length }}{% endif %}"
        "{% endmacro %}{{ d('x', 40) }}",
        "MAX_RESULT_SIZE",
    ),
}


@pytest.mark.parametrize(("template", "limit"), BYPASSES.values(), ids=BYPASSES.keys())
def test_each_bypass_is_refused_naming_its_limit(template: str, limit: str) -> None:
    with pytest.raises(TemplateLimitExceeded) as raised:
        render(template)
    assert raised.value.limit == limit
    assert limit in str(raised.value)
    # A documented template error, as before: callers catching those still do.
    assert isinstance(raised.value, TemplateSecurityError)
    assert isinstance(raised.value, TemplateError)


def test_wall_clock_budget_stops_an_expansion() -> None:
    renderer = Renderer({}, time_budget=0.3)
    busy = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    with pytest.raises(TemplateLimitExceeded) as raised:
        renderer.render_string(busy)
    assert raised.value.limit == "TIME_BUDGET_S"


def test_wall_clock_budget_covers_recursive_macros() -> None:
    renderer = Renderer({}, time_budget=0.3)
    busy = (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}"
    )
    with pytest.raises(TemplateLimitExceeded) as raised:
        renderer.render_string(busy)
    assert raised.value.limit == "TIME_BUDGET_S"


def test_the_budget_is_shared_by_every_string_of_an_expansion() -> None:
    template = "{{ 'x' * 900000 }}"
    strings = [template] * (MAX_TOTAL_OUTPUT // 900000 + 1)
    with pytest.raises(TemplateLimitExceeded) as raised:
        Renderer({}).render({"steps": strings})
    assert raised.value.limit == "MAX_TOTAL_OUTPUT"
    assert raised.value.path.startswith("$.steps[")


def test_values_within_the_limits_render() -> None:
    assert render("{{ 'ab' ~ 'cd' ~ 1 }}") == "abcd1"
    assert render("{{ 2 ** 100 }}") == str(2**100)
    assert render("{{ (10 ** 100) * (10 ** 100) > 0 }}") == "True"
    assert len(render("{{ 'x' * 1000000 }}")) == MAX_RESULT_SIZE
    assert len(render("{% for i in range(10000) %}{{ 'x' * 100 }}{% endfor %}")) == MAX_OUTPUT
    assert render("{{ '%5s|%-3d'|format('x', 7) }}") == "    x|7  "
    assert render("{{ '%(a)s' % {'a': 1} }}") == "1"
    assert render("{{ '{:>5}'.format('x') }}") == "    x"
    assert render("{{ [1, 2, 3]|join(', ') }}") == "1, 2, 3"
    assert render("{{ 'a b'|replace(' ', '-') }}") == "a-b"
    assert render("{{ 'x'|center(5) }}") == "  x  "
    assert render("{{ 'a\\nb'|indent(2) }}") == "a\n  b"
    assert render("{% for x in [1, 2] %}{{ loop.index }}/{{ loop.length }} {% endfor %}") == (
        "1/2 2/2 "
    )
    assert render("{% for i in range(3) recursive %}{{ i }}{% endfor %}") == "012"
    assert render("{{ [1, 2]|map('string')|join }}") == "12"
    assert render("{{ [1, 2] + [3] }}") == "[1, 2, 3]"
    assert render("{{ 7 // 2 }} {{ 7 % 3 }} {{ 1 / 4 }} {{ 3 - 5 }}") == "3 1 0.25 -2"
    assert render("{{ '-'.join(range(3)|map('string')) }}") == "0-1-2"
    assert render(r"{{ utils.re.sub('a(b)', '[\\1]\\n', 'xabx') }}") == "x[b]\nx"
    assert render("{{ utils.re.subn('a', 'b', 'aaa', count=2) }}") == "('bba', 2)"
    assert render(r"{{ utils.re.compile('(a)').sub('<\\g<1>>', 'ab') }}") == "<a>b"


def test_an_expansion_names_the_limit_and_path(client: StateClient) -> None:
    spec = {"state": {}, "steps": [{"cmd": "{{ 'x'|center(50000000) }}"}]}
    with pytest.raises(TemplateLimitExceeded, match=r"\$\.steps\[0\]\.cmd") as raised:
        expand_job_spec(spec, client=client)
    assert raised.value.limit == "MAX_RESULT_SIZE"
