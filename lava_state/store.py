"""The connection to one realm's state store, shared by the publisher and the consumer SDK,
and the realm's lava configuration (``lava.realms``) that its settings may need."""

from __future__ import annotations

import functools
import logging
import threading
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Unpack

from lava_state import aws, codec, crypto
from lava_state.constants import ATTR_STATE_ID
from lava_state.errors import AccessDenied, TableNotFound
from lava_state.model import Encrypted
from lava_state.naming import kms_alias, table_name, validate_aws_location, validate_realm
from lava_state.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kms import KMSClient

    from lava_state.model import StateItem

LOG = logging.getLogger(__name__)

#: lava's table of realms: hash key ``realm`` (S); a realm's optional ``config``
#: map holds its worker configuration, ``STATE_TTL`` and ``STATE_MAX_TTL`` among it.
REALMS_TABLE = "lava.realms"
# Realm configurations read, per endpoint, region and realm: once per process.
_realm_configs: dict[tuple[str, str | None, str], Mapping[str, Any]] = {}
_realm_configs_lock = threading.Lock()


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
        """Raises ConfigurationError when no realm is given or configured.

        Unless ``settings`` bring their own ``realm_config``, the realm's
        configuration is read from ``lava.realms`` with this store's DynamoDB
        client (see :func:`read_realm_config`), when a write first needs a TTL
        that was not given.
        """
        validate_aws_location(
            endpoint_url=aws_options.get("endpoint_url"), region=aws_options.get("region")
        )
        self.aws = aws.AwsClients(**aws_options)
        self.settings = (
            (settings or Settings.from_env())
            .with_realm(realm)
            .with_realm_config(functools.partial(read_realm_config, self.aws))
        )
        self.realm = validate_realm(self.settings.realm)
        self.table = table_name(self.realm)
        self.default_kms_key = kms_alias(self.realm)

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
        if not isinstance(item.value, Encrypted):
            return item  # no KMS client is built for what needs none
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
        attributes = self.read_attributes(state_id)
        return None if attributes is None else self.decode_live(attributes, decrypt=decrypt)

    def read_attributes(
        self, state_id: str, *, what: str = "read state item"
    ) -> dict[str, Any] | None:
        """One item's raw attributes, strongly consistent; None when nothing is stored
        (expired items included: the caller decides). ``what`` begins the error message.

        Raises:
            AwsError: the read failed after retries.
        """
        response = aws.call(
            self.dynamodb.get_item,
            what=f"{what} {state_id!r} from {self.table}",
            TableName=self.table,
            Key={ATTR_STATE_ID: {"S": state_id}},
            ConsistentRead=True,
        )
        return response.get("Item")

    def read_round(
        self, pending: Mapping[str, Any], *, what: str
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """One BatchGetItem of ``pending`` (``Keys``, at most 100, and options),
        strongly consistent whatever ``pending`` says: the raw items it returned,
        and what it left unprocessed (None: nothing), which
        :func:`lava_state.retry.batch_rounds` sends again. ``what`` is the error
        message's subject.

        Raises:
            AwsError: the call failed after retries.
        """
        response: Any = aws.call(
            self.dynamodb.batch_get_item,
            what=what,
            RequestItems={self.table: {**pending, "ConsistentRead": True}},
        )
        left = response.get("UnprocessedKeys", {}).get(self.table)
        items: list[dict[str, Any]] = response.get("Responses", {}).get(self.table, [])
        return items, (left if left and left.get("Keys") else None)

    def __repr__(self) -> str:
        return f"StateStore(realm={self.realm!r}, table={self.table!r})"


def read_realm_config(clients: aws.AwsClients, realm: str) -> Mapping[str, Any]:
    """The realm's lava configuration: the ``config`` map of its item in ``lava.realms``.

    Keys are upper case (lava upper-cases them); string and number values are
    kept (numbers as int or float), others left out. Read once per process
    per endpoint, region and realm. No table, no item for the realm, no
    ``config``: ``{}``, lava's defaults apply. No permission to read the
    table: ``{}`` too, with a warning (a lava realm may configure its TTLs there).

    Raises:
        AwsError: the read failed otherwise (not cached: the next write retries).
    """
    dynamodb = clients.dynamodb
    key = (str(dynamodb.meta.endpoint_url), dynamodb.meta.region_name, realm)
    with _realm_configs_lock:
        cached = _realm_configs.get(key)
    if cached is not None:
        return cached
    try:
        response = aws.call(
            dynamodb.get_item,
            what=f"read realm {realm!r} from {REALMS_TABLE}",
            TableName=REALMS_TABLE,
            Key={"realm": {"S": realm}},
            ProjectionExpression="#config",
            ExpressionAttributeNames={"#config": "config"},
        )
        config = _decoded_config(realm, response.get("Item", {}).get("config"))
    except TableNotFound:
        LOG.debug("no %s table: lava's default TTLs apply to realm %r", REALMS_TABLE, realm)
        config = {}
    except AccessDenied as exc:
        if exc.aws_code not in {"AccessDeniedException", "AccessDenied"}:
            raise  # bad or expired credentials: the write will say so too
        # A lava realm may well set STATE_TTL there: say why its TTLs are not used.
        LOG.warning(
            "cannot read %s (%s): lava's default TTLs apply to realm %r; grant "
            "dynamodb:GetItem on it, or set LAVA_STATE_TTL and LAVA_STATE_MAX_TTL",
            REALMS_TABLE,
            exc.aws_code,
            realm,
        )
        config = {}
    frozen = MappingProxyType(config)
    with _realm_configs_lock:
        _realm_configs[key] = frozen
    return frozen


def forget_realm_configs() -> None:
    """Forget the realm configurations read: the next writes read them again."""
    with _realm_configs_lock:
        _realm_configs.clear()


def _decoded_config(realm: str, attribute: Mapping[str, Any] | None) -> dict[str, Any]:
    if attribute is None:
        return {}
    if "M" not in attribute:
        LOG.warning("realm %r: its config in %s is not a map: ignored", realm, REALMS_TABLE)
        return {}
    config: dict[str, Any] = {}
    for name, value in attribute["M"].items():
        if "S" in value:
            config[name.upper()] = value["S"]
        elif "N" in value:
            config[name.upper()] = codec.as_number(value["N"])
    return config
