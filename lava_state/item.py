"""The state item: value object, types and the codecs to and from DynamoDB.

Stored attributes (lava 8.x compatible): ``state_id`` (S), ``type``,
``value`` (S for json, B for secure, native for raw), ``timestamp`` (ISO 8601
with offset), ``ttl`` (N, epoch seconds), ``publisher`` (S, optional) and
ours, ``version`` (N; absent on lava-written items, read as 0).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from lava_state import crypto
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
    InvalidStateValue,
    StateValueTooLarge,
    UnknownStateType,
)

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

AttributeValue = Mapping[str, Any]
SECRET_MASK = "********"  # noqa: S105 - the mask, not a secret

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


class StateType(StrEnum):
    """How a value is stored."""

    JSON = "json"
    RAW = "raw"
    SECURE = "secure"

    @classmethod
    def parse(cls, state_type: str) -> StateType:
        """The type named ``state_type``.

        Raises:
            UnknownStateType: with lava's wording, "<type>: No such state type".
        """
        try:
            return cls(state_type)
        except ValueError:
            choices = ", ".join(t.value for t in cls)
            raise UnknownStateType(
                f"{state_type}: No such state type (use one of {choices})"
            ) from None


@dataclass(frozen=True, slots=True)
class Encrypted:
    """A secure value that was read without decrypting it."""

    ciphertext: bytes = field(repr=False)

    def __repr__(self) -> str:
        return f"Encrypted({len(self.ciphertext)} bytes)"


@dataclass(frozen=True, kw_only=True)
class StateItem:
    """One state item as stored. Immutable; a secure value never appears in repr()."""

    state_id: str
    type: StateType
    value: Any
    timestamp: datetime | None = None
    ttl: int | None = None
    publisher: str | None = None
    version: int = 0

    @property
    def expires_at(self) -> datetime | None:
        """When the item expires (UTC), or None if it has no TTL."""
        return None if self.ttl is None else datetime.fromtimestamp(self.ttl, UTC)

    def is_expired(self, now: float | None = None) -> bool:
        """True if the TTL has passed: DynamoDB deletes expired items only lazily."""
        return self.ttl is not None and self.ttl < (time.time() if now is None else now)

    @property
    def display_value(self) -> Any:
        """The value, masked for secure items: safe for logs and output."""
        return SECRET_MASK if self.type is StateType.SECURE else self.value

    def __repr__(self) -> str:
        return (
            f"StateItem(state_id={self.state_id!r}, type={self.type.value!r}, "
            f"value={self.display_value!r}, version={self.version}, "
            f"timestamp={self.timestamp.isoformat() if self.timestamp else None!r}, "
            f"ttl={self.ttl}, publisher={self.publisher!r})"
        )

    __str__ = __repr__


# ----------------------------------------------------------------------------- encoding


def _json_default(obj: Any) -> Any:
    """Convert what lava's encoder converts, exactly as lava does; refuse the rest."""
    if isinstance(obj, datetime | date | dtime):
        return obj.isoformat()
    if isinstance(obj, timedelta):
        return str(obj.total_seconds())
    if isinstance(obj, Decimal):
        return decimal_number(obj)
    raise TypeError(f"values of type {type(obj).__name__} cannot be stored as JSON")


def decimal_number(number: Decimal) -> int | float:
    """A DynamoDB number as Python's: int when whole, else float (as lava converts it)."""
    return int(number) if number == number.to_integral_value() else float(number)


def json_encode(value: Any, *, state_id: str) -> str:
    """JSON-encode a value for a json or secure item.

    Raises:
        InvalidStateValue: not JSON-serialisable (after lava's conversions), NaN or Infinity.
    """
    try:
        return json.dumps(value, default=_json_default, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidStateValue(
            f"value for state item {state_id!r} cannot be JSON-encoded: {exc}; "
            "convert it to JSON types (str, number, bool, None, list, dict) first"
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
    Infinity are refused, as are types DynamoDB cannot hold.

    Raises:
        InvalidStateValue: the value cannot be stored natively.
    """
    try:
        return dict(_SERIALIZER.serialize(_to_dynamodb_native(value, state_id=state_id)))
    except (TypeError, ValueError) as exc:
        raise InvalidStateValue(
            f"raw value for state item {state_id!r} cannot be stored in DynamoDB: {exc}"
        ) from None


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


def encode_value(
    state_type: StateType,
    value: Any,
    *,
    state_id: str,
    realm: str,
    kms: KMSClient | None = None,
    kms_key: str | None = None,
    bind_context: bool = True,
) -> AttributeValue:
    """The DynamoDB ``value`` attribute for a value of the given type.

    Secure values are encrypted with ``kms_key`` under an EncryptionContext
    naming the realm and state_id (``bind_context=False`` writes lava 8.x's
    context-free ciphertext, limited to 4096 bytes; bound values over it are
    envelope-encrypted). Validation happens before the KMS call.

    Raises:
        InvalidStateValue, StateValueTooLarge: the value cannot be stored.
        EncryptionError: KMS refused.
    """
    if state_type is StateType.JSON:
        return {"S": json_encode(value, state_id=state_id)}
    if state_type is StateType.RAW:
        return encode_raw(value, state_id=state_id)
    plaintext = secure_plaintext(value, state_id=state_id, envelope=bind_context)
    if kms is None or kms_key is None:
        raise ValueError("a KMS client and key are needed to encode a secure value")
    context = crypto.encryption_context(realm, state_id) if bind_context else None
    return {"B": crypto.encrypt(kms, plaintext, key_id=kms_key, context=context, state_id=state_id)}


def check_item_size(attributes: Mapping[str, AttributeValue], *, state_id: str) -> int:
    """Return the item's size as DynamoDB counts it.

    Raises:
        StateValueTooLarge: over the 400 KB DynamoDB item limit.
    """
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


def value_as_stored(
    state_type: StateType, value: Any, value_av: AttributeValue, *, state_id: str
) -> Any:
    """The value as a later read returns it: lava's JSON conversions, raw numbers as Decimal."""
    if state_type is StateType.SECURE:
        return json.loads(json_encode(value, state_id=state_id))
    return _decode_value(
        state_type, value_av, state_id=state_id, realm="", kms=None, decrypt=False, bound=False
    )


def decode_item(
    attributes: Mapping[str, AttributeValue],
    *,
    realm: str,
    kms: KMSClient | None = None,
    decrypt: bool = True,
) -> StateItem:
    """Build a StateItem from a low-level DynamoDB item.

    Secure values are decrypted unless ``decrypt`` is False (then the value is
    an :class:`Encrypted`). Items with a ``version`` were written bound to an
    EncryptionContext; items without one (lava 8.x format) were not.

    Raises:
        CorruptStateItem: a required attribute is missing or cannot be decoded.
        EncryptionError: KMS refused to decrypt.
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
    version_av = attributes.get(ATTR_VERSION)
    item = StateItem(
        state_id=state_id,
        type=state_type,
        value=_decode_value(
            state_type,
            attributes[ATTR_VALUE],
            state_id=state_id,
            realm=realm,
            kms=kms,
            decrypt=decrypt,
            bound=version_av is not None,
        ),
        timestamp=_timestamp(attributes, state_id),
        ttl=_integer(attributes.get(ATTR_TTL), ATTR_TTL, state_id),
        publisher=attributes.get(ATTR_PUBLISHER, {}).get("S"),
        version=_integer(version_av, ATTR_VERSION, state_id) or 0,
    )
    return item


def _decode_value(
    state_type: StateType,
    av: AttributeValue,
    *,
    state_id: str,
    realm: str,
    kms: KMSClient | None,
    decrypt: bool,
    bound: bool,
) -> Any:
    if state_type is StateType.RAW:
        return _DESERIALIZER.deserialize(av)  # type: ignore[arg-type]
    if state_type is StateType.JSON:
        if "S" not in av:
            raise CorruptStateItem(state_id, "a json item's value must be a string (S)")
        return _json_decode(av["S"], state_id)
    if "B" not in av:
        raise CorruptStateItem(state_id, "a secure item's value must be binary (B)")
    ciphertext = bytes(av["B"])
    if not decrypt:
        return Encrypted(ciphertext)
    if kms is None:
        raise ValueError("a KMS client is needed to decrypt a secure value")
    context = crypto.encryption_context(realm, state_id) if bound else None
    plaintext = crypto.decrypt(kms, ciphertext, context=context, state_id=state_id)
    return _json_decode(plaintext.decode("utf-8", "replace"), state_id, secure=True)


def _json_decode(text: str, state_id: str, *, secure: bool = False) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        # Never echo a secure plaintext in the message.
        where = "" if secure else f" ({exc})"
        raise CorruptStateItem(state_id, f"the stored value is not valid JSON{where}") from None


def _string(attributes: Mapping[str, AttributeValue], name: str, state_id: str) -> str:
    av = attributes.get(name)
    if av is None or "S" not in av:
        raise CorruptStateItem(state_id, f"attribute {name!r} is missing or not a string")
    return str(av["S"])


def _integer(av: AttributeValue | None, name: str, state_id: str) -> int | None:
    if av is None:
        return None
    try:
        return int(Decimal(av["N"]))
    except (KeyError, ArithmeticError, ValueError):
        raise CorruptStateItem(state_id, f"attribute {name!r} is not a number") from None


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
