"""Writes: :class:`StatePublisher`, the retrying writer behind every posting path."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lava_state import aws
from lava_state.constants import (
    ATTR_PUBLISHER,
    ATTR_STATE_ID,
    ATTR_TIMESTAMP,
    ATTR_TTL,
    ATTR_TYPE,
    ATTR_VALUE,
    ATTR_VERSION,
    PUBLISHER_API,
)
from lava_state.item import (
    AttributeValue,
    StateItem,
    StateType,
    check_item_size,
    encode_value,
    value_as_stored,
)
from lava_state.naming import validate_posted_state_id
from lava_state.settings import ItemFormat, Settings
from lava_state.store import StateStore
from lava_state.ttl import Duration, ttl_seconds

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kms import KMSClient

# Expression placeholders for every attribute: several are DynamoDB reserved words.
_NAMES = {
    "#type": ATTR_TYPE,
    "#value": ATTR_VALUE,
    "#ts": ATTR_TIMESTAMP,
    "#ttl": ATTR_TTL,
    "#pub": ATTR_PUBLISHER,
    "#ver": ATTR_VERSION,
}
_SET = "SET #type = :type, #value = :value, #ts = :ts, #ttl = :ttl"
_BUMP_VERSION = "#ver = if_not_exists(#ver, :zero) + :one"


class StatePublisher:
    """Publishes state items to a realm's table.

    Every write increments the item's ``version`` atomically (one UpdateItem,
    no read first) unless the realm writes the lava8 item format.
    """

    def __init__(
        self,
        realm: str | None = None,
        *,
        session: boto3.session.Session | None = None,
        dynamodb: DynamoDBClient | None = None,
        kms: KMSClient | None = None,
        publisher: str | None = None,
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
        self.publisher = publisher or self.store.settings.job_id or PUBLISHER_API

    @property
    def realm(self) -> str:
        """The realm written to."""
        return self.store.realm

    def put(
        self,
        state_id: str,
        value: Any,
        *,
        type: StateType | str = StateType.JSON,
        ttl: Duration | None = None,
        kms_key: str | None = None,
        publisher: str | None = None,
    ) -> StateItem:
        """Store a state item and return it as stored (with its new version).

        Everything is validated before the first AWS call; a rejected put writes nothing.

        Raises:
            InvalidStateId, ReservedStateId, UnknownStateType, InvalidStateValue,
            StateValueTooLarge, InvalidTTL: bad input (nothing written).
            EncryptionError: KMS refused a secure value.
            AwsError: the write failed after retries.
        """
        state_id = validate_posted_state_id(state_id)
        state_type = StateType.parse(type)
        settings = self.store.settings
        ttl_s = ttl_seconds(ttl, default=settings.default_ttl, maximum=settings.max_ttl)
        lava8 = settings.item_format is ItemFormat.LAVA8
        publisher = publisher or self.publisher
        now = datetime.now(UTC).replace(microsecond=0)
        expires = int(now.timestamp()) + ttl_s
        value_av = encode_value(
            state_type,
            value,
            state_id=state_id,
            realm=self.realm,
            kms=self.store.kms if state_type is StateType.SECURE else None,
            kms_key=kms_key or self.store.default_kms_key,
            bind_context=not lava8,
        )
        attributes: dict[str, AttributeValue] = {
            ATTR_STATE_ID: {"S": state_id},
            ATTR_TYPE: {"S": state_type.value},
            ATTR_VALUE: value_av,
            ATTR_TIMESTAMP: {"S": now.isoformat()},
            ATTR_TTL: {"N": str(expires)},
            ATTR_PUBLISHER: {"S": publisher},
        }
        check_item_size({**attributes, ATTR_VERSION: {"N": "1"}}, state_id=state_id)
        what = f"put state item {state_id!r} in {self.store.table}"
        if lava8:
            aws.call(
                self.store.dynamodb.put_item, what=what, TableName=self.store.table, Item=attributes
            )
            version = 0
        else:
            response = aws.call(
                self.store.dynamodb.update_item,
                what=what,
                TableName=self.store.table,
                Key={ATTR_STATE_ID: attributes[ATTR_STATE_ID]},
                UpdateExpression=f"{_SET}, #pub = :pub, {_BUMP_VERSION}",
                ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues={
                    ":type": attributes[ATTR_TYPE],
                    ":value": value_av,
                    ":ts": attributes[ATTR_TIMESTAMP],
                    ":ttl": attributes[ATTR_TTL],
                    ":pub": attributes[ATTR_PUBLISHER],
                    ":zero": {"N": "0"},
                    ":one": {"N": "1"},
                },
                ReturnValues="UPDATED_NEW",
            )
            version = int(response["Attributes"][ATTR_VERSION]["N"])
        return StateItem(
            state_id=state_id,
            type=state_type,
            value=value_as_stored(state_type, value, value_av, state_id=state_id),
            timestamp=now,
            ttl=expires,
            publisher=publisher,
            version=version,
        )

    def delete(self, state_id: str) -> None:
        """Delete a state item (absent is fine: deleting is idempotent).

        Raises:
            InvalidStateId, ReservedStateId: bad id (nothing deleted).
            AwsError: the delete failed after retries.
        """
        state_id = validate_posted_state_id(state_id)
        aws.call(
            self.store.dynamodb.delete_item,
            what=f"delete state item {state_id!r} from {self.store.table}",
            TableName=self.store.table,
            Key={ATTR_STATE_ID: {"S": state_id}},
        )

    def __repr__(self) -> str:
        return f"StatePublisher(realm={self.realm!r}, publisher={self.publisher!r})"
