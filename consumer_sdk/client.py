"""Reads: :class:`StateClient`, strongly consistent and expiry-aware."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lava_state import aws
from lava_state.constants import ATTR_STATE_ID, ATTR_TYPE
from lava_state.errors import StateNotFound
from lava_state.item import StateItem, StateType, attributes_expired, decode_item
from lava_state.naming import validate_state_id
from lava_state.store import StateStore

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kms import KMSClient

    from lava_state.settings import Settings

_MISSING: Any = object()


class StateClient:
    """Reads state items of one realm.

    Every read is strongly consistent, and an item whose TTL has passed is
    treated as absent (DynamoDB deletes expired items only lazily, up to days late).
    """

    def __init__(
        self,
        realm: str | None = None,
        *,
        session: boto3.session.Session | None = None,
        dynamodb: DynamoDBClient | None = None,
        kms: KMSClient | None = None,
        settings: Settings | None = None,
        endpoint_url: str | None = None,
        region: str | None = None,
    ) -> None:
        """Raises ConfigurationError when no realm is given or configured."""
        self.store = StateStore(
            realm,
            session=session,
            dynamodb=dynamodb,
            kms=kms,
            settings=settings,
            endpoint_url=endpoint_url,
            region=region,
        )

    @property
    def realm(self) -> str:
        """The realm read from."""
        return self.store.realm

    def get(self, state_id: str, *, decrypt: bool = True) -> StateItem | None:
        """The current item, or None when absent or expired.

        Reading ids with the reserved ``lava`` prefix is allowed.

        Raises:
            InvalidStateId: not a valid id.
            CorruptStateItem: the stored item cannot be decoded.
            EncryptionError: a secure value could not be decrypted.
            AwsError: the read failed after retries.
        """
        state_id = validate_state_id(state_id)
        response = aws.call(
            self.store.dynamodb.get_item,
            what=f"read state item {state_id!r} from {self.store.table}",
            TableName=self.store.table,
            Key={ATTR_STATE_ID: {"S": state_id}},
            ConsistentRead=True,
        )
        attributes = response.get("Item")
        if attributes is None or attributes_expired(attributes):
            return None
        secure = attributes.get(ATTR_TYPE, {}).get("S") == StateType.SECURE
        return decode_item(
            attributes,
            realm=self.realm,
            kms=self.store.kms if decrypt and secure else None,
            decrypt=decrypt,
        )

    def get_value(self, state_id: str, default: Any = _MISSING, *, decrypt: bool = True) -> Any:
        """The current value; ``default`` when absent or expired.

        Raises:
            StateNotFound: absent or expired and no default was given.
            (and what :meth:`get` raises)
        """
        item = self.get(state_id, decrypt=decrypt)
        if item is not None:
            return item.value
        if default is _MISSING:
            raise StateNotFound(state_id, self.realm)
        return default

    def __repr__(self) -> str:
        return f"StateClient(realm={self.realm!r})"
