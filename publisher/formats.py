"""The item formats a realm writes, as one strategy chosen once from ``settings.item_format``.

:class:`LavaStateFormat` (the default) adds ``version`` and a ``write_token``
to lava 8.x's attributes and sends a single put as one UpdateItem that
increments the version atomically; secure values are bound to their item by
the KMS EncryptionContext and may be envelope-encrypted beyond KMS's 4096
bytes.

:class:`Lava8Format` writes exactly lava 8.x's attributes, which lava 8.x
workers require (their reader rejects unknown attributes): a single put is a
plain PutItem, secure values are encrypted without an EncryptionContext and
keep KMS's 4096-byte limit (lava 8.x cannot read the envelope), and every
feature that needs a version (compare-and-set, ``update()``, conditional
delete) raises UnsupportedInItemFormat.

How a resent put is recognised as our own: :mod:`publisher.idempotency`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from lava_state import aws, crypto
from lava_state.codec import AttributeValue, check_item_size
from lava_state.constants import (
    ATTR_PUBLISHER,
    ATTR_STATE_ID,
    ATTR_TIMESTAMP,
    ATTR_TTL,
    ATTR_TYPE,
    ATTR_VALUE,
    ATTR_VERSION,
    ATTR_WRITE_TOKEN,
)
from lava_state.errors import UnsupportedInItemFormat
from lava_state.settings import ItemFormat
from publisher.idempotency import has_token, holds, is_item, reader, send_once
from publisher.write import ABSENT, UPDATE, Write, expression_attributes, now_value

if TYPE_CHECKING:
    from collections.abc import Mapping

    from lava_state.model import StateItem
    from lava_state.store import StateStore


class WriteFormat(ABC):
    """How one realm's items are written; what differs between the formats is here."""

    #: The format's name in settings.
    item_format: ClassVar[ItemFormat]
    #: Whether secure values may exceed KMS's 4096 bytes (envelope encryption).
    envelope: ClassVar[bool]
    #: Whether a batch reads the stored versions before writing (to write the next one).
    reads_versions: ClassVar[bool]

    def __init__(self, store: StateStore) -> None:
        self.store = store

    @abstractmethod
    def require_versions(self, feature: str) -> None:
        """Raise UnsupportedInItemFormat if the format has no version for ``feature``."""

    @abstractmethod
    def encryption_context(self, state_id: str) -> dict[str, str] | None:
        """The KMS EncryptionContext of a secure value of ``state_id``."""

    @abstractmethod
    def item(self, write: Write, value_av: AttributeValue) -> dict[str, AttributeValue]:
        """The item a single put of ``write`` stores (a version is counted as 1)."""

    @abstractmethod
    def batch_item(
        self, write: Write, value_av: AttributeValue, stored_version: int
    ) -> tuple[dict[str, AttributeValue], int]:
        """The item a batch put of ``write`` stores over ``stored_version``, and its version."""

    @abstractmethod
    def _send(self, write: Write, item: dict[str, AttributeValue]) -> int:
        """Send a single put of ``item``; return the version it got."""

    def encode(self, write: Write) -> AttributeValue:
        """The value attribute: KMS encryption for a secure value.

        Raises:
            EncryptionError: KMS refused.
        """
        if write.encoded is not None:
            return write.encoded
        # validate() sets exactly one of encoded and plaintext.
        assert write.plaintext is not None
        blob = crypto.encrypt(
            self.store.kms,
            write.plaintext,
            key_id=write.kms_key,
            context=self.encryption_context(write.state_id),
            state_id=write.state_id,
        )
        return {"B": blob}

    def put(self, write: Write) -> StateItem:
        """Encode and send one write; return the item as stored.

        Raises:
            VersionConflict, WriteOutcomeUnknown: see :mod:`publisher.idempotency`.
            StateValueTooLarge: the encrypted value makes the item too large.
            EncryptionError, AwsError: encrypting or writing failed.
        """
        value_av = self.encode(write)
        item = self.item(write, value_av)
        check_item_size(item, state_id=write.state_id)
        return write.stored(value_av, self._send(write, item))

    def _what(self, write: Write) -> str:
        return f"put state item {write.state_id!r} in {self.store.table}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(realm={self.store.realm!r})"


class LavaStateFormat(WriteFormat):
    """lava 8.x's attributes plus ``version`` and ``write_token``; versioned UpdateItem."""

    item_format = ItemFormat.LAVA_STATE
    envelope = True
    reads_versions = True

    def require_versions(self, feature: str) -> None:
        """Every feature is supported: nothing to refuse."""

    def encryption_context(self, state_id: str) -> dict[str, str]:
        return crypto.encryption_context(self.store.realm, state_id)

    def item(self, write: Write, value_av: AttributeValue) -> dict[str, AttributeValue]:
        return {
            **write.attributes(value_av),
            ATTR_WRITE_TOKEN: {"S": write.token},
            ATTR_VERSION: {"N": "1"},
        }

    def batch_item(
        self, write: Write, value_av: AttributeValue, stored_version: int
    ) -> tuple[dict[str, AttributeValue], int]:
        version = stored_version + 1
        # No write token: a batch put is idempotent as it is (a resend writes the same item).
        return {**write.attributes(value_av), ATTR_VERSION: {"N": str(version)}}, version

    def _send(self, write: Write, item: dict[str, AttributeValue]) -> int:
        condition = write.condition
        values = {
            ":type": item[ATTR_TYPE],
            ":value": item[ATTR_VALUE],
            ":ts": item[ATTR_TIMESTAMP],
            ":ttl": item[ATTR_TTL],
            ":pub": item[ATTR_PUBLISHER],
            ":tok": item[ATTR_WRITE_TOKEN],
            ":zero": {"N": "0"},
            ":one": {"N": "1"},
            ":expected": {"N": str(write.if_version or 0)},
            ":now": now_value(),
        }
        what = self._what(write)

        def send() -> Mapping[str, Any]:
            return aws.call(
                self.store.dynamodb.update_item,
                what=what,
                state_id=write.state_id,
                TableName=self.store.table,
                Key={ATTR_STATE_ID: item[ATTR_STATE_ID]},
                UpdateExpression=UPDATE,
                ConditionExpression=condition,
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **expression_attributes(f"{UPDATE} {condition}", values),
            )["Attributes"]

        written = send_once(
            send,
            ours=has_token(write.token),
            expected=holds(if_version=write.if_version, if_absent=write.if_absent),
            read=reader(self.store, write.state_id),
            state_id=write.state_id,
            what=what,
        )
        # UPDATED_NEW, or our own committed write returned with the conflict.
        assert written is not None
        return int(written[ATTR_VERSION]["N"])


class Lava8Format(WriteFormat):
    """Exactly lava 8.x's attributes; plain PutItem; no version, token or EncryptionContext."""

    item_format = ItemFormat.LAVA8
    envelope = False
    reads_versions = False

    def require_versions(self, feature: str) -> None:
        raise UnsupportedInItemFormat(
            f"{feature} needs the version attribute, which realm {self.store.realm!r} does not "
            f"write (item format {ItemFormat.LAVA8.value}); use item format "
            f"{ItemFormat.LAVA_STATE.value} once no lava 8.x worker reads this realm"
        )

    def encryption_context(self, state_id: str) -> None:
        # lava 8.x decrypts without an EncryptionContext.
        return None

    def item(self, write: Write, value_av: AttributeValue) -> dict[str, AttributeValue]:
        return write.attributes(value_av)

    def batch_item(
        self, write: Write, value_av: AttributeValue, stored_version: int
    ) -> tuple[dict[str, AttributeValue], int]:
        return write.attributes(value_av), 0

    def _send(self, write: Write, item: dict[str, AttributeValue]) -> int:
        # if_version was refused by validation; if_absent is the one condition.
        condition = (
            {
                "ConditionExpression": ABSENT,
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                **expression_attributes(ABSENT, {":now": now_value()}),
            }
            if write.if_absent
            else {}
        )
        what = self._what(write)

        def send() -> None:
            aws.call(  # PutItem returns nothing that the result needs
                self.store.dynamodb.put_item,
                what=what,
                state_id=write.state_id,
                TableName=self.store.table,
                Item=item,
                **condition,
            )

        send_once(
            send,
            ours=is_item(item),
            expected=holds(if_version=None, if_absent=write.if_absent),
            read=reader(self.store, write.state_id),
            state_id=write.state_id,
            what=what,
        )
        return 0


_FORMATS: dict[ItemFormat, type[WriteFormat]] = {
    ItemFormat.LAVA_STATE: LavaStateFormat,
    ItemFormat.LAVA8: Lava8Format,
}


def write_format(store: StateStore) -> WriteFormat:
    """The format ``store``'s settings say the realm writes."""
    return _FORMATS[store.settings.item_format](store)
