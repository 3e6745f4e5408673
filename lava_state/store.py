"""The connection to one realm's state store, shared by the publisher and the consumer SDK."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Unpack

from lava_state import aws, codec, crypto
from lava_state.constants import ATTR_STATE_ID
from lava_state.naming import kms_alias, table_name, validate_realm
from lava_state.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kms import KMSClient

    from lava_state.model import StateItem


class StateStore:
    """A realm's table, its settings, and the (injected or shared) clients that reach it.

    ``**aws`` are :class:`~lava_state.aws.AwsOptions`: injected clients, or the
    session, endpoint and region to build them from. Clients that are not
    injected come from :func:`lava_state.aws.get_client`, built once per
    process and reused; the KMS client is built only when a secure item needs it.
    """

    def __init__(
        self,
        realm: str | None = None,
        *,
        settings: Settings | None = None,
        **aws_options: Unpack[aws.AwsOptions],
    ) -> None:
        """Raises ConfigurationError when no realm is given or configured."""
        self.settings = (settings or Settings.from_env()).with_realm(realm)
        self.realm = validate_realm(self.settings.realm)
        self.table = table_name(self.realm)
        self.default_kms_key = kms_alias(self.realm)
        self.aws = aws.AwsClients(**aws_options)

    @property
    def dynamodb(self) -> DynamoDBClient:
        """The DynamoDB client."""
        return self.aws.dynamodb

    @property
    def kms(self) -> KMSClient:
        """The KMS client, built on first use."""
        return self.aws.kms

    def decrypt(self, item: StateItem) -> StateItem:
        """The item with a secure value decrypted (others as they are).

        Raises:
            EncryptionError: KMS refused, or the ciphertext was altered or moved.
            CorruptStateItem: the plaintext is not JSON.
        """
        return crypto.decrypt_item(self.kms, item, realm=self.realm)

    def decode_live(self, attributes: Mapping[str, Any], *, decrypt: bool) -> StateItem | None:
        """A stored item as a StateItem; None when its TTL has passed.

        The expiry is checked before anything is decoded or decrypted; the KMS
        client is built only for a secure item that is decrypted.

        Raises:
            CorruptStateItem: the item cannot be decoded.
            EncryptionError: a secure value could not be decrypted.
        """
        if codec.attributes_expired(attributes):
            return None
        item = codec.decode_item(attributes)
        return self.decrypt(item) if decrypt else item

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
