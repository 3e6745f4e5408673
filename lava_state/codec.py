"""The pure codec: state values to and from DynamoDB attribute values, sizes and expiry.

Stored attributes (lava 8.x compatible): ``state_id`` (S), ``type``,
``value`` (S for json, B for secure, native for raw), ``timestamp`` (ISO 8601
with offset), ``ttl`` (N, epoch seconds), ``publisher`` (S, optional) and
ours, ``version`` (N; absent on lava-written items, read as 0).

No AWS calls and no encryption happen here: a secure value is decoded as
:class:`~lava_state.model.Encrypted`, which :mod:`lava_state.crypto`
decrypts. boto3's type (de)serializer is imported on first use of a raw
value, so importing this module stays cheap.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any

from lava_state.constants import (
    ATTR_PUBLISHER,
    ATTR_STATE_ID,
    ATTR_TIMESTAMP,
    ATTR_TTL,
    ATTR_TYPE,
    ATTR_VALUE,
    ATTR_VERSION,
    KMS_MAX_PLAINTEXT_BYTES,
    MAX_ITEM_BYTES,
)
from lava_state.errors import (
    CorruptStateItem,
    InvalidInput,
    InvalidStateValue,
    StateValueTooLarge,
)
from lava_state.model import Encrypted, StateItem, StateType

if TYPE_CHECKING:
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

AttributeValue = Mapping[str, Any]

# Python's default limit on int <-> str conversions (sys.int_info.default_max_str_digits).
_MAX_INT_DIGITS = 4300
#: DynamoDB's limit on nested attributes: a raw value's maps and lists nest at most this deep.
MAX_RAW_NESTING = 32


@cache
def _serializer() -> TypeSerializer:
    from boto3.dynamodb.types import TypeSerializer

    return TypeSerializer()


@cache
def _deserializer() -> TypeDeserializer:
    from boto3.dynamodb.types import TypeDeserializer

    return TypeDeserializer()


# ----------------------------------------------------------------------------- numbers


def as_number(number: Decimal | str) -> int | float:
    """A DynamoDB number as Python's: int when whole (exactly, ``1E+2`` is 100), else float.

    This is how lava converts numbers for JSON. Floats keep about 17
    significant digits; DynamoDB keeps 38.

    Raises:
        ArithmeticError: ``number`` is text that is not a number.
    """
    value = number if isinstance(number, Decimal) else Decimal(number)
    # A whole number too long to print as an int (Python's 4300 digits) would
    # also cost time and memory to build: such a number is kept a float.
    if (
        value.is_finite()
        and value.adjusted() < _MAX_INT_DIGITS
        and value == value.to_integral_value()
    ):
        return int(value)
    return float(value)


def whole_number(av: AttributeValue | None, name: str, state_id: str) -> int | None:
    """The whole number in a stored ``N`` attribute; None when the attribute is absent.

    Raises:
        CorruptStateItem: the attribute is not a whole number.
    """
    if av is None:
        return None
    text = av.get("N") if isinstance(av, Mapping) else None
    try:
        number = Decimal(text)  # type: ignore[arg-type]  # None raises TypeError
    except (TypeError, ArithmeticError, ValueError):
        raise CorruptStateItem(state_id, f"attribute {name!r} is not a number") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise CorruptStateItem(state_id, f"attribute {name!r} is not a whole number")
    return int(number)


# ----------------------------------------------------------------------------- JSON


def json_default(obj: Any) -> Any:
    """``json.dumps``' hook for stored values: what lava's encoder converts, as lava does.

    datetime, date and time become ISO 8601, timedelta its seconds as a
    string, Decimal an int or float; anything else is refused.
    """
    if isinstance(obj, datetime | date | dtime):
        return obj.isoformat()
    if isinstance(obj, timedelta):
        return str(obj.total_seconds())
    if isinstance(obj, Decimal):
        return as_number(obj)
    raise TypeError(f"values of type {type(obj).__name__} cannot be stored as JSON")


def display_default(obj: Any) -> Any:
    """``json.dumps``' hook for printing values as read: :func:`json_default`, plus
    binary (DynamoDB B) as base64 text and sets as sorted lists."""
    from boto3.dynamodb.types import Binary

    if isinstance(obj, Binary):
        obj = obj.__bytes__()
    if isinstance(obj, bytes | bytearray):
        import base64

        return base64.b64encode(bytes(obj)).decode("ascii")
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=str)
    return json_default(obj)


def json_encode(value: Any, *, state_id: str) -> str:
    """JSON-encode a value for a json or secure item.

    Raises:
        InvalidStateValue: not JSON-serialisable (after lava's conversions), NaN or Infinity.
    """
    try:
        return json.dumps(value, default=json_default, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidStateValue(
            f"value for state item {state_id!r} cannot be JSON-encoded: {exc}; "
            "convert it to JSON types (str, number, bool, None, list, dict) first"
        ) from None


def json_decode(text: str, state_id: str, *, secure: bool = False) -> Any:
    """Decode a stored JSON value.

    Raises:
        CorruptStateItem: not valid JSON (a secure plaintext is never quoted).
    """
    try:
        return json.loads(text)
    except ValueError as exc:
        where = "" if secure else f" ({exc})"
    # Raised here, not in the except clause: the JSONDecodeError (which holds the
    # whole text, a secure plaintext even) is not kept as the error's __context__.
    raise CorruptStateItem(state_id, f"the stored value is not valid JSON{where}") from None


# ----------------------------------------------------------------------------- encoding


def nested_deeper_than(value: Any, limit: int) -> bool:
    """True when maps and lists nest in ``value`` more than ``limit`` levels (an
    iterative walk: it never raises RecursionError)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Mapping):
            children: Any = node.values()
        elif isinstance(node, list | tuple):
            children = node
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def check_raw_value(value: Any, *, state_id: str) -> None:
    """Check what DynamoDB would refuse in a raw value, before any AWS call.

    Maps and lists nest at most :data:`MAX_RAW_NESTING` levels (DynamoDB's
    32); map keys are non-empty strings; sets are not empty; strings (keys included) are
    valid Unicode (no lone surrogate, which UTF-8 cannot encode). Numbers are
    checked when encoded (:func:`encode_raw`). The walk is iterative: a value
    nested thousands deep is refused, not a RecursionError.

    Raises:
        InvalidStateValue: naming the rule broken and where.
    """
    stack: list[tuple[Any, int, str]] = [(value, 0, "value")]
    while stack:
        node, depth, where = stack.pop()
        if isinstance(node, str):
            _check_text(node, state_id=state_id, where=where)
        elif isinstance(node, Mapping | list | tuple):
            if depth >= MAX_RAW_NESTING:
                raise InvalidStateValue(
                    f"raw value for state item {state_id!r} nests maps and lists more than "
                    f"{MAX_RAW_NESTING} levels deep (at {where}), over DynamoDB's limit: "
                    "flatten it or store it as json"
                )
            if isinstance(node, Mapping):
                for key, item in node.items():
                    if not isinstance(key, str):
                        raise InvalidStateValue(
                            f"raw value for state item {state_id!r} has a map key of type "
                            f"{type(key).__name__} at {where}: DynamoDB map keys are strings"
                        )
                    if not key:
                        raise InvalidStateValue(
                            f"raw value for state item {state_id!r} has an empty map key at "
                            f"{where}: DynamoDB refuses empty attribute names; name the key"
                        )
                    _check_text(key, state_id=state_id, where=f"a key of {where}")
                    stack.append((item, depth + 1, f"{where}[{key[:40]!r}]"))
            else:
                stack.extend((item, depth + 1, f"{where}[{i}]") for i, item in enumerate(node))
        elif isinstance(node, set | frozenset):
            if not node:
                raise InvalidStateValue(
                    f"raw value for state item {state_id!r} holds an empty set at {where}: "
                    "DynamoDB cannot store one; use an empty list or leave it out"
                )
            stack.extend((item, depth + 1, f"an element of {where}") for item in node)


def _check_text(text: str, *, state_id: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidStateValue(
            f"raw value for state item {state_id!r} has a string at {where} with a lone "
            f"surrogate at position {exc.start}, which UTF-8 cannot encode: fix the text"
        ) from None


def _to_dynamodb_native(value: Any, *, state_id: str) -> Any:
    """Floats become Decimal (via repr, exact round trip); NaN and Infinity are refused."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidStateValue(
                f"raw value for state item {state_id!r} contains {value!r}, which DynamoDB "
                "cannot store"
            )
        return Decimal(repr(value))
    if isinstance(value, Mapping):
        return {k: _to_dynamodb_native(v, state_id=state_id) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_dynamodb_native(v, state_id=state_id) for v in value]
    return value


def encode_raw(value: Any, *, state_id: str) -> AttributeValue:
    """Encode a raw value as a native DynamoDB attribute value.

    Floats are converted to Decimal (exactly, through their repr); NaN and
    Infinity are refused, as are numbers DynamoDB cannot hold exactly (over
    38 significant digits, magnitude outside 1E-130 to 1E+126), types it
    cannot hold, and what :func:`check_raw_value` refuses.

    Raises:
        InvalidStateValue: the value cannot be stored natively.
    """
    check_raw_value(value, state_id=state_id)
    try:
        return dict(_serializer().serialize(_to_dynamodb_native(value, state_id=state_id)))
    except ArithmeticError as exc:
        # boto3 converts numbers in DynamoDB's context, which traps any rounding,
        # overflow or underflow (decimal.Rounded, Inexact... are ArithmeticErrors).
        raise InvalidStateValue(
            f"raw value for state item {state_id!r} holds a number DynamoDB cannot store "
            f"exactly ({_decimal_reason(exc)}): numbers have at most 38 significant digits "
            "and a magnitude from 1E-130 to under 1E+126; store it as json or as a string"
        ) from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise InvalidStateValue(
            f"raw value for state item {state_id!r} cannot be stored in DynamoDB: {exc}"
        ) from None


def _decimal_reason(exc: ArithmeticError) -> str:
    # decimal's signals carry the list of conditions raised, e.g. [Overflow, Inexact, Rounded].
    kinds = exc.args[0] if exc.args and isinstance(exc.args[0], list) else [type(exc)]
    return ", ".join(getattr(kind, "__name__", str(kind)) for kind in kinds)


def encode_plain_value(state_type: StateType, value: Any, *, state_id: str) -> AttributeValue:
    """The ``value`` attribute of a json or raw item (secure values: :mod:`lava_state.crypto`).

    Raises:
        InvalidStateValue: the value cannot be stored with this type.
    """
    if state_type is StateType.JSON:
        return {"S": json_encode(value, state_id=state_id)}
    if state_type is StateType.RAW:
        return encode_raw(value, state_id=state_id)
    raise ValueError("secure values are encrypted, not encoded: see lava_state.crypto")


def secure_plaintext(value: Any, *, state_id: str, envelope: bool = False) -> bytes:
    """The plaintext of a secure value, checked against the KMS limit.

    With ``envelope`` (the lava-state item format), larger plaintexts are
    allowed: they are envelope-encrypted and bounded by the item size limit.

    Raises:
        InvalidStateValue: not JSON-serialisable.
        StateValueTooLarge: over 4096 bytes of plaintext without ``envelope``.
    """
    plaintext = json_encode(value, state_id=state_id).encode("utf-8")
    if not envelope and len(plaintext) > KMS_MAX_PLAINTEXT_BYTES:
        raise StateValueTooLarge(
            f"secure value for state item {state_id!r} is {len(plaintext)} bytes once "
            f"JSON-encoded: KMS encrypts at most {KMS_MAX_PLAINTEXT_BYTES}, and lava 8.x "
            "cannot read the envelope format larger values need (item format lava8); "
            "store less"
        )
    return plaintext


def check_item_size(attributes: Mapping[str, AttributeValue], *, state_id: str) -> int:
    """Return the item's size as DynamoDB counts it.

    Raises:
        StateValueTooLarge: over the 400 KB DynamoDB item limit.
    """
    for name, av in attributes.items():
        text = av.get("S") if isinstance(av, Mapping) else None
        if "S" in av and not isinstance(text, str):
            raise InvalidInput(
                f"state item {state_id!r}: {name} must be a string, not {type(text).__name__}"
            )
    size = sum(len(name.encode()) + _attribute_size(av) for name, av in attributes.items())
    if size > MAX_ITEM_BYTES:
        raise StateValueTooLarge(
            f"state item {state_id!r} would be {size} bytes: DynamoDB items hold at most "
            f"{MAX_ITEM_BYTES} bytes; store a smaller value (or a pointer to S3)"
        )
    return size


def _attribute_size(av: AttributeValue) -> int:
    """The size DynamoDB charges for one attribute value (documented item-size rules)."""
    ((kind, val),) = av.items()
    if kind == "S":
        return len(val.encode("utf-8"))
    if kind == "B":
        return len(val)
    if kind == "N":
        return len(str(val).lstrip("-").replace(".", "")) // 2 + 2
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(_attribute_size({kind[0]: v}) for v in val)
    if kind == "L":
        return 3 + sum(1 + _attribute_size(v) for v in val)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _attribute_size(v) for k, v in val.items())
    raise ValueError(f"unknown DynamoDB attribute type {kind}")


# ----------------------------------------------------------------------------- decoding


def attributes_expired(attributes: Mapping[str, AttributeValue], now: float | None = None) -> bool:
    """True if a raw item's ``ttl`` has passed (checked before any decoding or decryption)."""
    ttl = attributes.get(ATTR_TTL, {}).get("N")
    try:
        return ttl is not None and Decimal(ttl) < Decimal(time.time() if now is None else now)
    except ArithmeticError:
        return False  # a corrupt ttl is reported by decode_item


def value_as_stored(state_type: StateType, value: Any, value_av: AttributeValue) -> Any:
    """A json or raw value as a later read returns it: lava's JSON conversions, raw
    numbers as Decimal."""
    if state_type is StateType.RAW:
        return _deserializer().deserialize(value_av)  # type: ignore[arg-type]
    return json.loads(value_av["S"])


def decode_item(attributes: Mapping[str, AttributeValue]) -> StateItem:
    """Build a StateItem from a low-level DynamoDB item; a secure value stays :class:`Encrypted`.

    Raises:
        CorruptStateItem: a required attribute is missing or cannot be decoded.
    """
    state_id = _string(attributes, ATTR_STATE_ID, "?")
    try:
        state_type = StateType(_string(attributes, ATTR_TYPE, state_id))
    except ValueError:
        raise CorruptStateItem(
            state_id, f"stored type {attributes[ATTR_TYPE]!r} is not one of json, raw, secure"
        ) from None
    if ATTR_VALUE not in attributes:
        raise CorruptStateItem(state_id, "it has no value attribute")
    return StateItem(
        state_id=state_id,
        type=state_type,
        value=_decode_value(state_type, attributes[ATTR_VALUE], state_id),
        timestamp=_timestamp(attributes, state_id),
        ttl=whole_number(attributes.get(ATTR_TTL), ATTR_TTL, state_id),
        publisher=attributes.get(ATTR_PUBLISHER, {}).get("S"),
        version=whole_number(attributes.get(ATTR_VERSION), ATTR_VERSION, state_id) or 0,
    )


def _decode_value(state_type: StateType, av: AttributeValue, state_id: str) -> Any:
    if state_type is StateType.RAW:
        return _deserializer().deserialize(av)  # type: ignore[arg-type]
    if state_type is StateType.JSON:
        if "S" not in av:
            raise CorruptStateItem(state_id, "a json item's value must be a string (S)")
        return json_decode(av["S"], state_id)
    if "B" not in av:
        raise CorruptStateItem(state_id, "a secure item's value must be binary (B)")
    return Encrypted(bytes(av["B"]))


def _string(attributes: Mapping[str, AttributeValue], name: str, state_id: str) -> str:
    av = attributes.get(name)
    if av is None or "S" not in av:
        raise CorruptStateItem(state_id, f"attribute {name!r} is missing or not a string")
    return str(av["S"])


def _timestamp(attributes: Mapping[str, AttributeValue], state_id: str) -> datetime | None:
    av = attributes.get(ATTR_TIMESTAMP)
    if av is None:
        return None
    try:
        return datetime.fromisoformat(av["S"])
    except (KeyError, ValueError):
        raise CorruptStateItem(
            state_id, "attribute 'timestamp' is not an ISO 8601 string"
        ) from None
