"""The state item as a value: its type, the item itself, and the mask for secure values.

Pure: no AWS, no I/O. Encoding to and from DynamoDB is :mod:`lava_state.codec`;
encryption is :mod:`lava_state.crypto`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from lava_state.errors import UnknownStateType

#: What every output shows in place of a secure value.
SECRET_MASK = "********"  # noqa: S105 - the mask, not a secret


def expiry(ttl: int | None) -> datetime | None:
    """When an item with this ``ttl`` (epoch seconds) expires, in UTC; None without a TTL."""
    return None if ttl is None else datetime.fromtimestamp(ttl, UTC)


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
        return expiry(self.ttl)

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
