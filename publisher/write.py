"""The write: a validated :class:`Write`, its item's attributes and its condition expressions.

Everything here is checked or built without an AWS call: a write that
:func:`validate` rejects has touched nothing. What the realm's item format
adds (version, write token) and how a write is sent are
:mod:`publisher.formats`' job; why a write carries a token is
:mod:`publisher.idempotency`'s.
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from lava_state.codec import (
    AttributeValue,
    check_item_size,
    encode_plain_value,
    secure_plaintext,
    value_as_stored,
)
from lava_state.constants import (
    ATTR_PUBLISHER,
    ATTR_STATE_ID,
    ATTR_TIMESTAMP,
    ATTR_TTL,
    ATTR_TYPE,
    ATTR_VALUE,
    ATTR_VERSION,
    ATTR_WRITE_TOKEN,
    ENVELOPE_MAX_OVERHEAD_BYTES,
)
from lava_state.errors import InvalidInput
from lava_state.model import StateItem, StateType
from lava_state.naming import validate_kms_key, validate_posted_state_id
from lava_state.ttl import Duration, parse_duration, ttl_seconds

if TYPE_CHECKING:
    from collections.abc import Mapping

    from lava_state.settings import Settings

# Expression placeholders for every attribute: several are DynamoDB reserved words.
_NAMES = {
    "#sid": ATTR_STATE_ID,
    "#type": ATTR_TYPE,
    "#value": ATTR_VALUE,
    "#ts": ATTR_TIMESTAMP,
    "#ttl": ATTR_TTL,
    "#pub": ATTR_PUBLISHER,
    "#ver": ATTR_VERSION,
    "#tok": ATTR_WRITE_TOKEN,
}
_PLACEHOLDER = re.compile(r"[#:][A-Za-z_]+")

#: The versioned write: every attribute set, the version incremented atomically.
UPDATE = (
    "SET #type = :type, #value = :value, #ts = :ts, #ttl = :ttl, #pub = :pub, #tok = :tok, "
    "#ver = if_not_exists(#ver, :zero) + :one"
)
# Conditions. ":now" is the current time rounded up, so that "ttl < :now"
# agrees with the read path, which treats ttl < time.time() as expired.
#: An unconditional versioned write: anything but a resend of itself (see publisher.idempotency).
NOT_OUR_RETRY = "attribute_not_exists(#tok) OR #tok <> :tok"
#: ``if_absent``: no unexpired item.
ABSENT = "attribute_not_exists(#sid) OR #ttl < :now"
_UNVERSIONED = "attribute_not_exists(#sid) OR attribute_not_exists(#ver) OR #ttl < :now"
_AT_VERSION = "#ver = :expected AND (attribute_not_exists(#ttl) OR #ttl >= :now)"


def version_condition(if_version: int) -> str:
    """The condition of ``if_version``: 0 is "no version" (absent, expired or lava 8.x's)."""
    return _UNVERSIONED if if_version == 0 else _AT_VERSION


@dataclass(frozen=True, kw_only=True)
class Write:
    """A validated write, ready to encode and send.

    Exactly one of ``plaintext`` (secure values, to encrypt) and ``encoded``
    (json and raw values, encoded once) is set.
    """

    state_id: str
    type: StateType
    value: Any = field(repr=False)  # may be a secret
    plaintext: bytes | None = field(default=None, repr=False)
    encoded: AttributeValue | None = None
    kms_key: str
    publisher: str
    timestamp: datetime
    expires: int
    ttl: Duration | None = None  # as asked for (None: the realm's default)
    if_version: int | None
    if_absent: bool
    token: str

    @property
    def conditional(self) -> bool:
        """True when the caller asked for a condition (``if_version``/``if_absent``)."""
        return self.if_version is not None or self.if_absent

    @property
    def condition(self) -> str:
        """The ConditionExpression of this write as a versioned UpdateItem."""
        if self.if_absent:
            return ABSENT
        if self.if_version is not None:
            return version_condition(self.if_version)
        return NOT_OUR_RETRY

    def attributes(self, value_av: AttributeValue) -> dict[str, AttributeValue]:
        """lava 8.x's attributes of the item (the format may add its own)."""
        return {
            ATTR_STATE_ID: {"S": self.state_id},
            ATTR_TYPE: {"S": self.type.value},
            ATTR_VALUE: value_av,
            ATTR_TIMESTAMP: {"S": self.timestamp.isoformat()},
            ATTR_TTL: {"N": str(self.expires)},
            ATTR_PUBLISHER: {"S": self.publisher},
        }

    def stored(self, value_av: AttributeValue, version: int) -> StateItem:
        """The item as a read will return it, at ``version``."""
        if self.plaintext is not None:
            # A secure value as a read returns it: its JSON plaintext, decoded.
            value = json.loads(self.plaintext)
        else:
            value = value_as_stored(self.type, self.value, value_av)
        return StateItem(
            state_id=self.state_id,
            type=self.type,
            value=value,
            timestamp=self.timestamp,
            ttl=self.expires,
            publisher=self.publisher,
            version=version,
        )


class FormatRules(Protocol):
    """What validation needs to know of the realm's item format (:mod:`publisher.formats`)."""

    @property
    def envelope(self) -> bool:
        """True when secure values may exceed KMS's 4096 bytes (envelope encryption)."""
        ...

    def require_versions(self, feature: str) -> None:
        """Raise UnsupportedInItemFormat when the format has no version attribute."""
        ...

    def item(self, write: Write, value_av: AttributeValue) -> dict[str, AttributeValue]:
        """The item a single put stores (for its size)."""
        ...


def validate(
    state_id: str,
    value: Any,
    *,
    type: StateType | str,
    ttl: Duration | None,
    kms_key: str,
    publisher: str,
    if_version: int | None,
    if_absent: bool,
    settings: Settings | None,
    rules: FormatRules,
    now: datetime | None = None,
) -> Write:
    """Check everything that needs no AWS call (KMS included) and build the write;
    with ``settings``, its expiry too (:func:`with_expiry`), else it is left to the caller.

    Raises:
        InvalidStateId, ReservedStateId, UnknownStateType, InvalidStateValue,
        StateValueTooLarge, InvalidTTL, InvalidInput: bad input.
        UnsupportedInItemFormat: ``if_version`` in a format without versions.
    """
    state_id = validate_posted_state_id(state_id)
    state_type = StateType.parse(type)
    validate_kms_key(kms_key)
    check_conditions(state_id, if_version, if_absent=if_absent, rules=rules)
    if ttl is not None:
        parse_duration(ttl)
    if not isinstance(publisher, str):
        raise InvalidInput(
            f"state item {state_id!r}: publisher must be a string, "
            f"not {publisher.__class__.__name__}"
        )
    now = now or timestamp()
    write = Write(
        state_id=state_id,
        type=state_type,
        value=value,
        kms_key=kms_key,
        publisher=publisher,
        timestamp=now,
        # Until with_expiry(): the expiry's digits (its size) without the realm's TTLs.
        expires=int(now.timestamp()),
        ttl=ttl,
        if_version=if_version,
        if_absent=if_absent,
        token=uuid.uuid4().hex,
    )
    if state_type is StateType.SECURE:
        plaintext = secure_plaintext(value, state_id=state_id, envelope=rules.envelope)
        # The ciphertext is at most this much larger than the plaintext:
        # check the size now rather than after a KMS call.
        placeholder = {"B": b"\0" * (len(plaintext) + ENVELOPE_MAX_OVERHEAD_BYTES)}
        check_item_size(rules.item(write, placeholder), state_id=state_id)
        write = replace(write, plaintext=plaintext)
    else:
        encoded = encode_plain_value(state_type, value, state_id=state_id)
        check_item_size(rules.item(write, encoded), state_id=state_id)
        write = replace(write, encoded=encoded)
    return write if settings is None else with_expiry(write, settings)


def with_expiry(write: Write, settings: Settings) -> Write:
    """``write`` expiring after its TTL, or the realm's default TTL, checked against the
    realm's maximum: the one check that may read the realm's configuration (lava.realms),
    so it comes after every other.

    Raises:
        InvalidTTL: the TTL is over the maximum, or the realm's TTLs are invalid.
        AwsError: the realm's configuration could not be read.
    """
    ttl_s = ttl_seconds(write.ttl, default=settings.default_ttl, maximum=settings.max_ttl)
    return replace(write, expires=int(write.timestamp.timestamp()) + ttl_s)


def check_conditions(
    state_id: str, if_version: int | None, *, if_absent: bool, rules: FormatRules
) -> None:
    """Check ``if_version``/``if_absent`` (put, and ``if_version`` of delete).

    Raises:
        InvalidInput: a bad version, a bad flag, or both given.
        UnsupportedInItemFormat: ``if_version`` in a format without versions.
    """
    if if_version is not None:
        if isinstance(if_version, bool) or not isinstance(if_version, int) or if_version < 0:
            raise InvalidInput(
                f"if_version for state item {state_id!r} must be a whole number >= 0 "
                f"(0: no version stored), not {if_version!r}"
            )
        if if_absent:
            raise InvalidInput(f"state item {state_id!r}: pass if_version or if_absent, not both")
        rules.require_versions("if_version (compare-and-set)")
    elif not isinstance(if_absent, bool):
        raise InvalidInput(f"if_absent must be True or False, not {if_absent!r}")


def timestamp() -> datetime:
    """The item timestamp: UTC, whole seconds (as lava writes it)."""
    return datetime.now(UTC).replace(microsecond=0)


def now_value() -> AttributeValue:
    """``:now`` of the conditions: the current epoch second, rounded up."""
    return {"N": str(math.ceil(time.time()))}


def expression_attributes(expression: str, values: Mapping[str, AttributeValue]) -> dict[str, Any]:
    """The names and values an expression uses: DynamoDB rejects unused ones."""
    used = set(_PLACEHOLDER.findall(expression))
    result: dict[str, Any] = {
        "ExpressionAttributeNames": {k: v for k, v in _NAMES.items() if k in used}
    }
    used_values = {k: v for k, v in values.items() if k in used}
    if used_values:
        result["ExpressionAttributeValues"] = used_values
    return result
