"""Names derived from a realm and a state_id, and the rules state_ids obey."""

from __future__ import annotations

from lava_state.constants import MAX_STATE_ID_BYTES, RESERVED_PREFIX
from lava_state.errors import ConfigurationError, InvalidStateId, ReservedStateId


def table_name(realm: str) -> str:
    """The realm's state table, as lava 8.x names it."""
    return f"lava.{realm}.state"


def kms_alias(realm: str) -> str:
    """The realm's system KMS key alias, lava's default key for secure items."""
    return f"alias/lava-{realm}-sys"


def validate_realm(realm: object) -> str:
    """Return the realm, or raise a ConfigurationError saying how to set it."""
    if not isinstance(realm, str) or not realm.strip():
        raise ConfigurationError(
            "no realm given: pass realm=... (CLI: -r/--realm) or set LAVA_REALM"
        )
    return realm


def validate_state_id(state_id: object) -> str:
    """Check a state_id for reading: a non-empty string of at most 1024 UTF-8 bytes.

    Raises:
        InvalidStateId: with the rule that was broken.
    """
    if not isinstance(state_id, str):
        raise InvalidStateId(f"state_id must be a string, not {type(state_id).__name__}")
    if not state_id:
        raise InvalidStateId("state_id must not be empty")
    size = len(state_id.encode("utf-8", "surrogatepass"))
    if size > MAX_STATE_ID_BYTES:
        raise InvalidStateId(
            f"state_id is {size} UTF-8 bytes long: at most {MAX_STATE_ID_BYTES} are allowed"
        )
    return state_id


def validate_posted_state_id(state_id: object) -> str:
    """Check a state_id for writing: as for reading, and not reserved.

    Raises:
        InvalidStateId: not a valid id.
        ReservedStateId: the id starts with "lava" (any case), which lava reserves.
    """
    checked = validate_state_id(state_id)
    if checked.lower().startswith(RESERVED_PREFIX):
        raise ReservedStateId(
            f"state_id {checked!r} is reserved: ids starting with {RESERVED_PREFIX!r} "
            "(in any case) belong to lava itself; choose another id"
        )
    return checked
