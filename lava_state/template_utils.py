"""lava's ``utils`` template helpers, with the members lava 8.3 has, safe in the sandbox.

lava binds ``utils`` to a map of helpers, four of them whole modules
(``os.path``, ``re``, ``dateutil``, ``dateutil.parser``). A module's
attributes are public names, which Jinja's sandbox lets a template follow:
with lava's map, ``utils.path.os.system`` reaches ``os``. Here every member is
a function, a class or a :class:`Namespace` of functions, classes and
constants chosen one by one, so that no attribute chain from ``utils``
reaches a module:

- ``timedelta``, ``datetime``, ``date``, ``time``: the :mod:`datetime` classes
  (``time`` is ``datetime.time``, as in lava, not the ``time`` module).
- ``dateutil``: ``parser`` (``parse``, ``isoparse``), ``relativedelta``
  (``relativedelta`` and the weekdays ``MO`` ... ``SU``), ``tz`` (``gettz``,
  ``tzutc``, ``tzoffset``, ``tzlocal``, ``UTC``) and ``easter`` (``easter``),
  so lava's ``utils.dateutil.relativedelta.relativedelta(months=6)`` works.
  ``gettz`` takes zone names only (never a file path); ``rrule`` is left out
  (an unbounded rule iterates forever).
- ``parsedate``: lava's older name for ``dateutil.parser``.
- ``s3bucket``, ``s3key``: the bucket and key of ``s3://bucket/key`` (also
  ``s3:bucket/key``, ``/bucket/key``, ``bucket/key``), as lava splits them.
- ``uuid``: a random UUID (``uuid.uuid4()``).
- ``path``: the pure functions of :mod:`os.path` (``join``, ``basename``,
  ``dirname``, ``split``, ``splitext``, ``normpath``...); nothing that reads
  the file system, the working directory or the environment.
- ``re``: ``match``, ``fullmatch``, ``search``, ``sub``, ``subn``, ``split``,
  ``findall``, ``finditer``, ``compile``, ``escape`` and the flags.
- ``tojson``: :func:`json.dumps` with lava's conversions (datetimes as ISO
  8601, Decimals as numbers, anything else as its ``str()``): a function,
  not a filter.

Imported when a template is first rendered (it imports dateutil).
"""

from __future__ import annotations

import json
import os.path
import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from dateutil import easter as _easter
from dateutil import parser as _parser
from dateutil import relativedelta as _relativedelta
from dateutil import tz as _tz

from lava_state import codec

if TYPE_CHECKING:
    from collections.abc import Mapping
    from uuid import UUID

# What ``indent`` and ``separators`` may be: a template must not build a huge
# string through them ('x' * 10**9 is bounded by the sandbox, indent=10**9 is not).
_MAX_JSON_INDENT = 100
_TOJSON_OPTIONS = frozenset(
    {"indent", "sort_keys", "separators", "ensure_ascii", "allow_nan", "skipkeys"}
)
# An IANA zone name ("Australia/Sydney", "UTC", "Etc/GMT+10"): dateutil's gettz
# also reads any file given as a path, which a template must not do.
_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*")


class Namespace:
    """A read-only set of named members (``utils.path.join``), none of them a module."""

    __slots__ = ("_members", "_name")

    def __init__(self, name: str, **members: Any) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_members", MappingProxyType(members))

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):  # also keeps copy/pickle from recursing here
            raise AttributeError(attr)
        try:
            return self._members[attr]
        except KeyError:
            raise AttributeError(f"utils.{self._name} has no member {attr!r}") from None

    def __setattr__(self, attr: str, value: Any) -> None:
        raise AttributeError(f"utils.{self._name} is read-only")

    def __dir__(self) -> list[str]:
        return sorted(self._members)

    def __repr__(self) -> str:
        return f"<utils.{self._name}: {', '.join(sorted(self._members))}>"


def s3_split(name: str) -> tuple[str, str]:
    """``(bucket, key)`` of an S3 object name, as lava splits it.

    ``s3://bucket/a/b``, ``s3:bucket/a/b``, ``/bucket/a/b`` and ``bucket/a/b``
    give ``("bucket", "a/b")``; the key loses its outer slashes and is empty
    when there is none.

    Raises:
        ValueError: there is no bucket.
        TypeError: ``name`` is not a string.
    """
    if not isinstance(name, str):
        raise TypeError(f"an S3 object name is a string, not {type(name).__name__}")
    for prefix in ("s3://", "s3:"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    bucket, _, key = name.strip("/").partition("/")
    if not bucket:
        raise ValueError(f"Invalid S3 object name: {name}")
    return bucket, key.strip("/")


def s3bucket(name: str) -> str:
    """The bucket of an S3 object name (see :func:`s3_split`)."""
    return s3_split(name)[0]


def s3key(name: str) -> str:
    """The key of an S3 object name (see :func:`s3_split`)."""
    return s3_split(name)[1]


def uuid() -> UUID:
    """A random UUID (version 4); renders as its usual text form."""
    return uuid4()


def json_default(obj: Any) -> Any:
    """lava's ``json.dumps`` hook for ``utils.tojson``: it never refuses a value.

    datetimes become ISO 8601, timedeltas as lava-state stores them (seconds
    as a string), Decimals a float when their text has a point, else an int;
    anything else its ``str()``.
    """
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, timedelta):
        return codec.json_default(obj)
    if isinstance(obj, Decimal):
        return float(obj) if "." in str(obj) else int(obj)
    return str(obj)


def tojson(obj: Any, **options: Any) -> str:
    """``json.dumps(obj, default=lava's hook, **options)``, as lava's ``utils.tojson``.

    ``options`` are json.dumps' ``indent`` (at most 100), ``sort_keys``,
    ``separators``, ``ensure_ascii``, ``allow_nan`` and ``skipkeys``.

    Raises:
        TypeError: another option.
        ValueError: a too large ``indent`` or ``separators``; a value json
            cannot encode (NaN with ``allow_nan=False``, a circular structure).
    """
    unknown = sorted(set(options) - _TOJSON_OPTIONS)
    if unknown:
        raise TypeError(
            f"utils.tojson() takes no option {', '.join(map(repr, unknown))}: "
            f"use {', '.join(sorted(_TOJSON_OPTIONS))}"
        )
    indent = options.get("indent")
    separators = options.get("separators") or ()
    if (isinstance(indent, int) and indent > _MAX_JSON_INDENT) or any(
        len(str(part)) > _MAX_JSON_INDENT for part in [*separators, indent or ""]
    ):
        raise ValueError(f"utils.tojson(): indent and separators are limited to {_MAX_JSON_INDENT}")
    return json.dumps(obj, default=json_default, **options)


def gettz(name: str | None = None) -> Any:
    """dateutil's ``tz.gettz`` for a zone name (None: the local zone); None when unknown.

    Raises:
        ValueError: ``name`` is not a zone name (a path, say).
    """
    if name is not None and (not isinstance(name, str) or not _ZONE_NAME.fullmatch(name)):
        raise ValueError(
            f"not a time zone name: {name!r} (use a name such as 'Australia/Sydney' or 'UTC')"
        )
    return _tz.gettz(name)


PARSER = Namespace("parsedate", parse=_parser.parse, isoparse=_parser.isoparse)
PATH = Namespace(
    "path",
    **{
        name: getattr(os.path, name)
        for name in (
            "basename",
            "commonpath",
            "commonprefix",
            "dirname",
            "isabs",
            "join",
            "normcase",
            "normpath",
            "split",
            "splitdrive",
            "splitext",
        )
    },
    sep=os.path.sep,
    extsep=os.path.extsep,
)
RE = Namespace(
    "re",
    **{
        name: getattr(re, name)
        for name in (
            "compile",
            "escape",
            "findall",
            "finditer",
            "fullmatch",
            "match",
            "search",
            "split",
            "sub",
            "subn",
            *("A", "ASCII", "I", "IGNORECASE", "M", "MULTILINE", "S", "DOTALL", "X", "VERBOSE"),
        )
    },
)
DATEUTIL = Namespace(
    "dateutil",
    parser=PARSER,
    relativedelta=Namespace(
        "dateutil.relativedelta",
        relativedelta=_relativedelta.relativedelta,
        **{day: getattr(_relativedelta, day) for day in ("MO", "TU", "WE", "TH", "FR", "SA", "SU")},
    ),
    tz=Namespace(
        "dateutil.tz",
        gettz=gettz,
        tzutc=_tz.tzutc,
        tzoffset=_tz.tzoffset,
        tzlocal=_tz.tzlocal,
        UTC=_tz.UTC,
    ),
    easter=Namespace("dateutil.easter", easter=_easter.easter),
)

#: What templates see as ``utils``: lava 8.3's members (a read-only map, as
#: lava's is a map: ``utils.path`` and ``utils['path']`` both work).
UTILS: Mapping[str, Any] = MappingProxyType(
    {
        "timedelta": timedelta,
        "datetime": datetime,
        "date": date,
        "time": time,
        "dateutil": DATEUTIL,
        "parsedate": PARSER,
        "s3bucket": s3bucket,
        "s3key": s3key,
        "uuid": uuid,
        "path": PATH,
        "re": RE,
        "tojson": tojson,
    }
)
