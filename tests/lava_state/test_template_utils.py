"""lava's ``utils`` in templates: lava 8.3's members and results, without lava's modules.

lava 8.3 binds ``utils`` to a map that holds whole modules and renders with a
plain ``jinja2.Template``. ``LAVA_UTILS`` below is that map, rebuilt from
lava's definitions (its S3 split and JSON hook reproduced here), so that each
member's output can be compared with what lava renders for the same template.
"""

from __future__ import annotations

import builtins
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
import warnings
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from functools import partial
from types import ModuleType
from typing import Any

import dateutil
import dateutil.parser
import dateutil.relativedelta
import jinja2
import pytest
from jinja2.sandbox import SandboxedEnvironment

from lava_state.errors import TemplateError, TemplateSecurityError
from lava_state.template_utils import UTILS, s3_split, tojson
from lava_state.templating import Renderer


def lava_s3_split(name: str) -> tuple[str, str]:
    """lava.lib.aws.s3_split, as lava 8.3 defines it."""
    for prefix in ("s3://", "s3:"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    parts = name.strip("/").split("/", 1)
    if not parts[0]:
        raise ValueError(f"Invalid S3 object name: {name}")
    return parts[0], parts[1].strip("/") if len(parts) > 1 else ""


def lava_json_default(obj: Any) -> Any:
    """lava.lib.misc.json_default, as lava 8.3 defines it (timedeltas left out: not compared)."""
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, Decimal):
        return float(obj) if "." in str(obj) else int(obj)
    return str(obj)


#: lava 8.3's JINJA_UTILS (lava/lavacore.py).
LAVA_UTILS = {
    "timedelta": timedelta,
    "datetime": datetime,
    "date": date,
    "dateutil": dateutil,
    "time": time,
    "parsedate": dateutil.parser,
    "s3bucket": lambda s: lava_s3_split(s)[0],
    "s3key": lambda s: lava_s3_split(s)[1],
    "uuid": uuid.uuid4,
    "path": os.path,
    "re": re,
    "tojson": partial(json.dumps, default=lava_json_default),
}

START = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=10)))
CONTEXT = {
    "start": START,
    "ustart": START.astimezone(UTC),
    "globals": {
        "env": "prod",
        "when": START,
        "day": date(2024, 5, 6),
        "at": time(6, 30),
        "rows": Decimal("45"),
        "ratio": Decimal("0.5"),
        "whole": Decimal("1.0"),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "tags": ["a", "b"],
    },
    "realm": {"realm": "dev", "s3_temp": "s3://lava-tmp.example.com/dev/tmp"},
}

# Templates from lava's guide ("Jinja Rendering in Lava") and more, one or more per member.
LAVA_EXAMPLES = [
    "{{ utils.date(year=1970, month=1, day=1) }}",
    "{{ utils.date(year=ustart.year + 1, month=4, day=25).strftime('%A') }}",
    "{{ utils.date.fromisoformat('2024-02-29') + utils.timedelta(days=1) }}",
    "{{ utils.datetime(year=ustart.year + 1, month=1, day=1) }}",
    "{{ utils.datetime(year=ustart.year + 1, month=1, day=1).strftime('%A') }}",
    "{{ utils.datetime.combine(start.date(), utils.time(6)) }}",
    "{{ utils.datetime.fromtimestamp(0, utils.dateutil.tz.UTC) }}",
    "{{ ustart + utils.dateutil.relativedelta.relativedelta(months=6) }}",
    "{% set relativedelta = utils.dateutil.relativedelta.relativedelta %}"
    "{{ ustart + relativedelta(months=6) }}",
    "{% set rd = utils.dateutil.relativedelta %}"
    "{{ (start + rd.relativedelta(weekday=rd.FR(+1))).date() }}",
    "{{ utils.dateutil.parser.parse('2020-02-11 09:30') }}",
    "{{ utils.dateutil.parser.isoparse('2020-02-11T09:30:00+11:00') }}",
    "{{ ustart.astimezone(utils.dateutil.tz.gettz('Australia/Sydney')).isoformat() }}",
    "{{ utils.dateutil.tz.tzoffset('X', 3600).utcoffset(none) }}",
    "{{ utils.dateutil.easter.easter(2027) }}",
    "{{ utils.parsedate.isoparse('2020-02-11T09:30:00+11:00') }}",
    "{{ utils.parsedate.parse('11 Feb 2020 09:30').isoformat() }}",
    "{{ utils.path.basename('s3://bucket.xyzzy.com/an/s3/key') }}",
    "{{ utils.path.basename(realm.s3_temp) }}",
    "{{ utils.path.join('a', 'b', 'c.csv') }} {{ utils.path.dirname('a/b/c.csv') }}",
    "{{ utils.path.splitext('x/y.tar.gz') }} {{ utils.path.split('x/y') }}",
    "{{ utils.path.normpath('a//b/../c') }} {{ utils.path.isabs('/a') }} {{ utils.path.sep }}",
    "{{ utils.re.search('s3://([^.]*)', 's3://bucket.xyzzy.com/an/s3/key').group(1) }}",
    "{{ utils.re.sub('[^a-z]', '-', 'A b.c') }} {{ utils.re.findall('[0-9]+', 'a1b22') }}",
    "{{ utils.re.split(',\\\\s*', 'a, b,c') }} {{ utils.re.escape('a.b') }}",
    "{{ utils.re.match('abc', 'ABC', utils.re.I) is not none }}",
    "{{ utils.re.fullmatch('a+', 'aa') is not none }} {{ utils.re.fullmatch('a+', 'ab') }}",
    "{{ utils.re.compile('(?P<y>[0-9]{4})').search('in 2024').group('y') }}",
    "{{ utils.s3bucket('s3://bucket.xyzzy.com/an/s3/key') }}",
    "{{ utils.s3key('s3://bucket.xyzzy.com/an/s3/key') }}",
    "{{ utils.s3bucket(realm.s3_temp) }} {{ utils.s3key(realm.s3_temp) }}",
    "{{ utils.s3key('s3:b/k/') }} {{ utils.s3bucket('/b/k') }} [{{ utils.s3key('b') }}]",
    "{{ utils.time(12, 30) }} {{ utils.time.fromisoformat('06:30').hour }}",
    "{{ (start - utils.timedelta(days=1)).date() }}",
    "{{ utils.timedelta(hours=36) }} {{ utils.timedelta(minutes=90).total_seconds() }}",
    "{{ utils.tojson(globals) }}",
    "{{ utils.tojson(globals, indent=2, sort_keys=true) }}",
    "{{ utils.tojson([1, 'a', none, true]) }} {{ utils.tojson(start) }}",
    "{{ utils['path'].basename('x/y') }} {{ utils['tojson'](globals.tags) }}",
    "{{ utils.uuid() | string | length }} {{ utils.uuid().version }}",
]


@pytest.mark.parametrize("template", LAVA_EXAMPLES)
def test_each_member_renders_what_lava_renders(template: str) -> None:
    lava = jinja2.Template(template).render(**CONTEXT, utils=LAVA_UTILS)

    ours = Renderer(CONTEXT).render_string(template)

    assert ours == lava


def test_uuid_is_random_and_version_4() -> None:
    first, second = (Renderer({}).render_string("{{ utils.uuid() }}") for _ in range(2))
    assert uuid.UUID(first).version == 4
    assert first != second


@pytest.mark.parametrize(
    "name",
    ["s3://b/k", "s3:b/k", "/b/k/", "b/k", "b", "s3://b", "s3://b//k//", "s3:///b/k", "b/a/b/c"],
)
def test_s3_split_is_lavas(name: str) -> None:
    assert s3_split(name) == lava_s3_split(name)


@pytest.mark.parametrize("name", ["", "/", "s3://", "s3:/"])
def test_an_s3_name_without_a_bucket_is_refused_as_lava_does(name: str) -> None:
    with pytest.raises(ValueError, match="Invalid S3 object name"):
        lava_s3_split(name)
    with pytest.raises(ValueError, match="Invalid S3 object name"):
        s3_split(name)


def test_tojson_converts_as_lava_and_never_refuses_a_value() -> None:
    value = {"when": START, "n": Decimal("2"), "x": Decimal("2.50"), "o": object}

    assert tojson(value, sort_keys=True) == json.dumps(
        value, default=lava_json_default, sort_keys=True
    )
    assert json.loads(tojson({"d": timedelta(minutes=2)})) == {"d": "120.0"}


def test_tojson_refuses_options_that_reach_code_or_memory() -> None:
    with pytest.raises(TypeError, match="no option 'cls'"):
        tojson({}, cls=json.JSONEncoder)
    with pytest.raises(TypeError, match="no option 'default'"):
        tojson({}, default=str)
    with pytest.raises(ValueError, match="limited to 100"):
        tojson([1], indent=10**9)
    with pytest.raises(ValueError, match="limited to 100"):
        tojson([1, 2], separators=("," * 1000, ":"))


@pytest.mark.parametrize("name", ["/etc/passwd", "../../etc/passwd", "a/../b", "", "C:\\x"])
def test_gettz_takes_zone_names_never_paths(name: str) -> None:
    with pytest.raises(TemplateError, match="not a time zone name"):
        Renderer({"name": name}).render_string("{{ utils.dateutil.tz.gettz(name) }}")


# ----------------------------------------------------------------------------- the sandbox

#: Objects no attribute chain from ``utils`` may reach (besides any module).
FORBIDDEN = {
    id(obj)
    for obj in (
        *(getattr(builtins, name) for name in ("eval", "exec", "open", "__import__", "compile")),
        *(getattr(builtins, name) for name in ("getattr", "setattr", "globals", "vars", "input")),
        *(getattr(os, name) for name in ("system", "popen", "remove", "environ", "getenv")),
        *(os.execv, os.fork, os.kill, os.open, os.listdir),
        *(subprocess.Popen, subprocess.run, subprocess.check_output),
        *(sys.exit, sys.modules, sys.path, shutil.rmtree),
    )
}


def samples() -> Iterator[tuple[str, Any]]:
    """Every member of ``utils``, and what calling them gives: the roots of the walk."""
    utils: Any = UTILS
    yield "utils", UTILS
    yield "utils.datetime.now()", utils["datetime"].now()
    yield "utils.date.today()", utils["date"].today()
    yield "utils.timedelta(1)", utils["timedelta"](1)
    yield "utils.time(1)", utils["time"](1)
    yield "utils.re.compile('(a)')", utils["re"].compile("(a)")
    yield "utils.re.search('(a)', 'a')", utils["re"].search("(a)", "a")
    yield "utils.re.finditer('a', 'a')", utils["re"].finditer("a", "a")
    yield "utils.re.I", utils["re"].I
    relativedelta = utils["dateutil"].relativedelta
    yield "relativedelta(months=1)", relativedelta.relativedelta(months=1)
    yield "relativedelta.MO(+1)", relativedelta.MO(+1)
    yield "utils.parsedate.parse(...)", utils["parsedate"].parse("2020-01-01T00:00:00+10:00")
    tz = utils["dateutil"].tz
    yield "gettz('UTC')", tz.gettz("UTC")
    yield "gettz('Australia/Sydney')", tz.gettz("Australia/Sydney")
    yield "gettz()", tz.gettz()
    yield "tzlocal()", tz.tzlocal()
    yield "tzoffset('X', 3600)", tz.tzoffset("X", 3600)
    yield "utils.uuid()", utils["uuid"]()
    yield "utils.s3bucket('b/k')", utils["s3bucket"]("b/k")
    yield "utils.tojson({})", utils["tojson"]({})


def reachable(env: SandboxedEnvironment, root: Any, depth: int) -> Iterator[tuple[str, Any]]:
    """(chain, object) for every attribute and item the sandbox lets a template reach."""
    seen: set[int] = set()
    frontier: list[tuple[str, Any]] = [("", root)]
    for _ in range(depth):
        following: list[tuple[str, Any]] = []
        for chain, obj in frontier:
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            steps: list[tuple[str, Any]] = []
            if isinstance(obj, Mapping):
                steps += [(f"[{key!r}]", obj[key]) for key in list(obj)]
            for name in dir(obj):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # deprecated aliases (enum members...)
                    try:
                        value = getattr(obj, name)
                    except Exception:  # a property that raises is reached as an error
                        continue
                if env.is_safe_attribute(obj, name, value):
                    steps.append((f".{name}", value))
            for step, value in steps:
                yield chain + step, value
                following.append((chain + step, value))
        frontier = following


@pytest.mark.parametrize(("root_name", "root"), list(samples()), ids=[n for n, _ in samples()])
def test_no_attribute_chain_reaches_a_module_or_a_dangerous_callable(
    root_name: str, root: Any
) -> None:
    env = SandboxedEnvironment()

    reached = list(reachable(env, root, depth=4))

    assert reached or not isinstance(root, dict | Mapping)
    modules = [chain for chain, obj in reached if isinstance(obj, ModuleType)]
    dangerous = [chain for chain, obj in reached if id(obj) in FORBIDDEN]
    assert modules == [], f"{root_name} reaches modules"
    assert dangerous == [], f"{root_name} reaches dangerous callables"


def test_lavas_own_utils_reach_os_in_the_sandbox() -> None:
    """Why the members are rebuilt: Jinja's sandbox follows a module's public names."""
    env = SandboxedEnvironment()
    reached = dict(reachable(env, LAVA_UTILS, depth=2))
    assert reached["['path'].os"] is os


ESCAPES = [
    "{{ utils.path.os }}",
    "{{ utils.path.os.system('true') }}",
    "{{ utils.path.genericpath }}",
    "{{ utils.path.expandvars('$HOME') }}",
    "{{ utils.path.exists('/etc/passwd') }}",
    "{{ utils.path.join.__globals__ }}",
    "{{ utils.path.join.__globals__['os'] }}",
    "{{ utils.re.__builtins__ }}",
    "{{ utils.re._compiler }}",
    "{{ utils.re.functools }}",
    "{{ utils.re.enum }}",
    "{{ utils.re.compile('x').__class__ }}",
    "{{ utils.re.match.__globals__ }}",
    "{{ utils.datetime.__class__.__mro__ }}",
    "{{ utils.datetime.mro() }}",
    "{{ utils.datetime.__subclasses__() }}",
    "{{ utils.date.__module__ }}",
    "{{ utils.time.__init__ }}",
    "{{ utils.tojson.__globals__ }}",
    "{{ utils.tojson.__globals__['json'] }}",
    "{{ utils.tojson.__module__ }}",
    "{{ utils.tojson.__code__ }}",
    "{{ utils.uuid.__module__ }}",
    "{{ utils.uuid.__globals__ }}",
    "{{ utils.s3bucket.__closure__ }}",
    "{{ utils.dateutil.parser._parser }}",
    "{{ utils.dateutil.tz.tz }}",
    "{{ utils.dateutil.tz.tzfile }}",
    "{{ utils.dateutil.relativedelta.calendar }}",
    "{{ utils.dateutil.rrule }}",
    "{{ utils.dateutil.__path__ }}",
    "{{ utils.parsedate.isoparse.__self__ }}",
    "{{ utils.parsedate.parse.__globals__ }}",
    "{{ utils.path._members }}",
    "{{ utils.path.__dict__ }}",
    "{{ utils.__class__ }}",
    "{{ utils.copy().__class__ }}",
    "{% set d = utils.copy() %}{{ d.update({'x': 1}) }}",
    "{{ utils.path.__setattr__('join', 1) }}",
]


@pytest.mark.parametrize("template", ESCAPES)
@pytest.mark.parametrize("strict", [True, False], ids=["strict", "lenient"])
def test_the_sandbox_refuses_every_escape_through_utils(template: str, strict: bool) -> None:
    renderer = Renderer({}, strict=strict)
    try:
        rendered = renderer.render_string(template)
    except (TemplateSecurityError, TemplateError):
        return
    # Lenient mode renders a missing member as "" (lava's behaviour): nothing was reached.
    assert not strict
    assert rendered == ""


def test_lava_reaches_os_with_the_same_template() -> None:
    """The first escape above works in lava: its ``utils.path`` is the module."""
    rendered = jinja2.Template("{{ utils.path.os.sep }}").render(utils=LAVA_UTILS)
    assert rendered == os.sep
