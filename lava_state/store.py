"""The connection to one realm's state store, shared by the publisher and the consumer SDK."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lava_state import aws
from lava_state.constants import ATTR_STATE_ID, ATTR_TYPE
from lava_state.item import StateItem, StateType, attributes_expired, decode_item
from lava_state.naming import kms_alias, table_name
from lava_state.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Mapping

    import boto3
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kms import KMSClient


class StateStore:
    """A realm's table, its settings, and the (injected or shared) clients that reach it.

    Clients that are not injected come from :func:`lava_state.aws.get_client`,
    built once per process and reused; the KMS client is built only when a
    secure item needs it.
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
        self.settings = (settings or Settings.from_env()).with_realm(realm)
        self.realm: str = self.settings.realm  # type: ignore[assignment]  # with_realm checked it
        self.table = table_name(self.realm)
        self.default_kms_key = kms_alias(self.realm)
        self._session = session
        self._endpoint_url = endpoint_url
        self._region = region
        self._dynamodb = dynamodb
        self._kms = kms

    def _client(self, service: str) -> object:
        return aws.get_client(
            service, session=self._session, endpoint_url=self._endpoint_url, region=self._region
        )

    @property
    def dynamodb(self) -> DynamoDBClient:
        """The DynamoDB client."""
        if self._dynamodb is None:
            self._dynamodb = self._client("dynamodb")  # type: ignore[assignment]
        return self._dynamodb  # type: ignore[return-value]

    @property
    def kms(self) -> KMSClient:
        """The KMS client, built on first use."""
        if self._kms is None:
            self._kms = self._client("kms")  # type: ignore[assignment]
        return self._kms  # type: ignore[return-value]

    def decode_live(self, attributes: Mapping[str, Any], *, decrypt: bool) -> StateItem | None:
        """A stored item as a StateItem; None when its TTL has passed.

        The expiry is checked before anything is decoded or decrypted; the KMS
        client is built only for a secure item that is decrypted.

        Raises:
            CorruptStateItem: the item cannot be decoded.
            EncryptionError: a secure value could not be decrypted.
        """
        if attributes_expired(attributes):
            return None
        secure = attributes.get(ATTR_TYPE, {}).get("S") == StateType.SECURE
        return decode_item(
            attributes,
            realm=self.realm,
            kms=self.kms if decrypt and secure else None,
            decrypt=decrypt,
        )

    def read(self, state_id: str, *, decrypt: bool) -> StateItem | None:
        """One item, strongly consistent; None when absent or expired.

        Raises:
            CorruptStateItem, EncryptionError: as :meth:`decode_live`.
            AwsError: the read failed after retries.
        """
        response = aws.call(
            self.dynamodb.get_item,
            what=f"read state item {state_id!r} from {self.table}",
            TableName=self.table,
            Key={ATTR_STATE_ID: {"S": state_id}},
            ConsistentRead=True,
        )
        attributes = response.get("Item")
        return None if attributes is None else self.decode_live(attributes, decrypt=decrypt)

    def __repr__(self) -> str:
        return f"StateStore(realm={self.realm!r}, table={self.table!r})"
