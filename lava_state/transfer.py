"""The export format, ``lava-state.export/1``: one JSON object per line (JSON Lines).

Pure: no AWS calls. The first line is a header, then one line per state item::

    {"format": "lava-state.export/1", "realm": "dev", "exported_at": "2026-12-01T02:00:00+00:00",
     "prefix": null, "decrypted": false}
    {"state_id": "a", "type": "json", "value": {"n": 1.5}, "timestamp": "...", "ttl": 1790000000,
     "publisher": "job-1", "version": 3}

``value`` by ``type``:

- ``json``: the value itself, as JSON.
- ``raw``: the DynamoDB attribute value in DynamoDB's own JSON (the wire
  format of its API, and of ``aws dynamodb`` and its S3 exports): numbers as
  text (``{"N": "1.50"}``, every digit kept), binary as base64
  (``{"B": "AAE="}``), sets as ``SS``/``NS``/``BS``, ``L``, ``M``, ``BOOL``,
  ``NULL``. Nothing is lost to floats.
- ``secure``: exported encrypted by default, as ``"ciphertext"`` (base64 of
  the stored bytes, which decrypt only with the realm's key and, for items
  with a version, only under their own realm and state_id) and no ``value``;
  exported decrypted (``decrypted: true`` in the header), as ``value``, the
  plaintext JSON value, which an import encrypts again with the destination
  realm's key.

``timestamp`` is ISO 8601 with its offset, ``ttl`` epoch seconds, both null
when the item has none; ``version`` 0 is an item without one (lava 8.x's).
Importing boto3's (de)serializer happens on the first raw value, through
:mod:`lava_state.codec`.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from lava_state.codec import encode_raw, value_as_stored
from lava_state.errors import InvalidInput
from lava_state.model import Encrypted, StateItem, StateType

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

#: The format this version writes and reads.
EXPORT_FORMAT = "lava-state.export/1"
_FIELDS = frozenset(
    {"state_id", "type", "value", "ciphertext", "timestamp", "ttl", "publisher", "version"}
)
_SCALARS = {"S": str, "N": str, "B": str, "BOOL": bool}
_SETS = {"SS": "S", "NS": "N", "BS": "B"}


class ExportFormatError(InvalidInput):
    """A file is not a ``lava-state.export/1`` file: its header is missing or names another
    format. Nothing of it is imported."""


@dataclass(frozen=True, kw_only=True)
class ParsedLine:
    """One item line of an export file: its number (1 is the header) and the item, or
    why the line is not one."""

    line: int
    item: StateItem | None = None
    error: str | None = None


def header(*, realm: str, exported_at: datetime, prefix: str | None, decrypted: bool) -> str:
    """The header line (without its newline)."""
    return json.dumps(
        {
            "format": EXPORT_FORMAT,
            "realm": realm,
            "exported_at": exported_at.isoformat(),
            "prefix": prefix,
            "decrypted": decrypted,
        }
    )


def encode_record(item: StateItem) -> str:
    """An item as one line (without its newline).

    A secure item's value is its ciphertext when it is :class:`Encrypted`,
    else its plaintext value (a decrypted export).

    Raises:
        InvalidStateValue: a raw value that DynamoDB cannot hold (never one read from it).
    """
    record: dict[str, Any] = {"state_id": item.state_id, "type": item.type.value}
    if isinstance(item.value, Encrypted):
        record["ciphertext"] = base64.b64encode(item.value.ciphertext).decode("ascii")
    elif item.type is StateType.RAW:
        record["value"] = to_dynamodb_json(encode_raw(item.value, state_id=item.state_id))
    else:
        record["value"] = item.value
    record["timestamp"] = None if item.timestamp is None else item.timestamp.isoformat()
    record["ttl"] = item.ttl
    record["publisher"] = item.publisher
    record["version"] = item.version
    return json.dumps(record, ensure_ascii=False, allow_nan=False)


def read_header(line: str) -> dict[str, Any]:
    """The header of an export file, from its first line.

    Raises:
        ExportFormatError: not a header, or one of another format (a newer
            version, or another file altogether).
    """
    try:
        document = json.loads(line)
    except ValueError:
        document = None
    found = document.get("format") if isinstance(document, dict) else None
    if found != EXPORT_FORMAT:
        what = f"names format {found!r}" if isinstance(found, str) else "is not a header"
        raise ExportFormatError(
            f"line 1 {what}: a lava-state export starts with a header of format "
            f"{EXPORT_FORMAT!r} (written by `lava-state export`); nothing was imported"
        )
    return document  # type: ignore[no-any-return]  # a dict, checked above


def parse_lines(lines: Iterable[str]) -> Iterator[ParsedLine]:
    """The items of an export file's lines, each with its line number.

    The header is checked first; a line that is not an item is yielded with
    its error (the reading goes on); blank lines are skipped. Ids are not
    validated here: the importer does, with the destination's rules.

    Raises:
        ExportFormatError: the first line is not a ``lava-state.export/1`` header.
    """
    numbered = enumerate(lines, start=1)
    first = next(numbered, None)
    read_header("" if first is None else first[1])
    for number, text in numbered:
        if not text.strip():
            continue
        try:
            yield ParsedLine(line=number, item=decode_record(text))
        except ValueError as exc:
            yield ParsedLine(line=number, error=str(exc))


def decode_record(text: str) -> StateItem:
    """One item line as a StateItem (a secure ciphertext as :class:`Encrypted`).

    Raises:
        ValueError: the line is not an item of this format; the message says why.
    """
    try:
        record = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not valid JSON ({exc})") from None
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    unknown = sorted(set(record) - _FIELDS)
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)}")
    state_id = record.get("state_id")
    if not isinstance(state_id, str) or not state_id:
        raise ValueError("'state_id' must be a non-empty string")
    try:
        state_type = StateType(str(record.get("type")))
    except ValueError:
        raise ValueError("'type' must be one of json, raw, secure") from None
    return StateItem(
        state_id=state_id,
        type=state_type,
        value=_decode_value(state_type, record),
        timestamp=_timestamp(record.get("timestamp")),
        ttl=_whole(record.get("ttl"), "ttl", optional=True),
        publisher=_optional_string(record.get("publisher"), "publisher"),
        version=_whole(record.get("version", 0), "version", optional=False) or 0,
    )


def _decode_value(state_type: StateType, record: Mapping[str, Any]) -> Any:
    has_value, has_ciphertext = "value" in record, "ciphertext" in record
    if state_type is StateType.SECURE:
        if has_value == has_ciphertext:
            raise ValueError("a secure item has exactly one of 'value' and 'ciphertext'")
        if has_ciphertext:
            return Encrypted(_base64(record["ciphertext"], "'ciphertext'"))
        return record["value"]
    if has_ciphertext or not has_value:
        raise ValueError(f"a {state_type.value} item has a 'value' and no 'ciphertext'")
    if state_type is StateType.JSON:
        return record["value"]
    return value_as_stored(StateType.RAW, None, from_dynamodb_json(record["value"]))


def to_dynamodb_json(av: Mapping[str, Any]) -> dict[str, Any]:
    """A botocore attribute value (binary as bytes) in DynamoDB JSON (binary as base64)."""
    ((kind, value),) = av.items()
    if kind == "B":
        return {"B": base64.b64encode(bytes(value)).decode("ascii")}
    if kind == "BS":
        return {"BS": [base64.b64encode(bytes(v)).decode("ascii") for v in value]}
    if kind == "L":
        return {"L": [to_dynamodb_json(v) for v in value]}
    if kind == "M":
        return {"M": {k: to_dynamodb_json(v) for k, v in value.items()}}
    return {kind: value}


def from_dynamodb_json(av: Any, where: str = "'value'") -> dict[str, Any]:
    """DynamoDB JSON as a botocore attribute value (binary as bytes), checked.

    Raises:
        ValueError: not a DynamoDB attribute value; the message says where.
    """
    if not isinstance(av, dict) or len(av) != 1:
        raise ValueError(f'{where} must be a DynamoDB attribute value ({{"N": "1"}}...)')
    ((kind, value),) = av.items()
    if kind in _SCALARS:
        if not isinstance(value, _SCALARS[kind]):
            raise ValueError(f"{where}: {kind} holds a {_SCALARS[kind].__name__}")
        return {kind: _scalar(kind, value, where)}
    if kind == "NULL":
        if value is not True:
            raise ValueError(f"{where}: NULL holds true")
        return {"NULL": True}
    if kind in _SETS:
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{where}: {kind} holds a non-empty list of strings")
        return {kind: [_scalar(_SETS[kind], v, where) for v in value]}
    if kind == "L" and isinstance(value, list):
        return {"L": [from_dynamodb_json(v, f"{where}[{i}]") for i, v in enumerate(value)]}
    if kind == "M" and isinstance(value, dict):
        return {"M": {k: from_dynamodb_json(v, f"{where}.{k}") for k, v in value.items()}}
    raise ValueError(f"{where}: {kind!r} is not a DynamoDB type with that content")


def _scalar(kind: str, value: Any, where: str) -> Any:
    if kind == "B":
        return _base64(value, where)
    if kind == "N":
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"{where}: {value!r} is not a number") from None
        if not number.is_finite():
            raise ValueError(f"{where}: {value!r} is not a finite number")
    return value


def _base64(text: Any, where: str) -> bytes:
    if not isinstance(text, str):
        raise ValueError(f"{where} must be base64 text")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{where} is not valid base64") from None


def _timestamp(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError("'timestamp' must be ISO 8601 text (or null)") from None


def _whole(value: Any, name: str, *, optional: bool) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name!r} must be a whole number{' (or null)' if optional else ''}")
    number = value
    if number < 0:
        raise ValueError(f"{name!r} must be >= 0")
    return number


def _optional_string(value: Any, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name!r} must be a string (or null)")
    return value
