"""The connection to one realm's state store, shared by the publisher and the consumer SDK."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lava_state import aws
from lava_state.naming import kms_alias, table_name
from lava_state.settings import Settings

if TYPE_CHECKING:
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

    def __repr__(self) -> str:
        return f"StateStore(realm={self.realm!r}, table={self.table!r})"
