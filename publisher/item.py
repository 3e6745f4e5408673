"""``LavaStateItem``: the lava 8.x state API, on top of :class:`StatePublisher`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lava_state.errors import StateNotFound
from lava_state.model import SECRET_MASK, StateItem, StateType
from lava_state.naming import validate_posted_state_id, validate_realm, validate_state_id
from lava_state.store import StateStore
from lava_state.ttl import Duration, ttl_seconds
from publisher.publisher import StatePublisher

if TYPE_CHECKING:
    import boto3

    from lava_state.settings import Settings


class LavaStateItem:
    """A state item, with lava's API: ``new()`` / ``put()`` / ``get()`` / ``rm()``.

    Build one with :meth:`new` (to post) or :meth:`get` (to read). ``ttl`` is the
    time to live in seconds that :meth:`put` gives the item, as in lava;
    ``expires_at`` is when the stored item expires.

    After :meth:`get`, as in lava: ``ttl`` is the realm's default TTL (what a
    re-put uses: ``LAVA_STATE_TTL``, else the realm's ``STATE_TTL`` in
    ``lava.realms``, else 7d), not the TTL the item was put with nor the time
    left; ``expires_at`` is the stored expiry. ``kms_key`` is not known after
    :meth:`get` (the item does not record it): a re-put of a secure item that
    was written with a custom key encrypts it with the realm key
    (``alias/lava-<realm>-sys``) unless ``kms_key`` is set again.
    """

    def __init__(
        self,
        state_id: str,
        realm: str,
        value: Any,
        *,
        state_type: StateType,
        ttl: int,
        publisher: str | None = None,
        kms_key: str | None = None,
        aws_session: boto3.session.Session | None = None,
        timestamp: datetime | None = None,
        version: int = 0,
        expires_at: datetime | None = None,
    ) -> None:
        """Use :meth:`new` or :meth:`get` rather than the constructor."""
        self.state_id = state_id
        self.realm = realm
        self.value = value
        self.type = state_type
        self.ttl = ttl
        self.publisher = publisher
        self.kms_key = kms_key
        self.aws_session = aws_session
        self.timestamp = timestamp
        self.version = version
        self.expires_at = expires_at

    @property
    def state_type(self) -> str:
        """The type's name (lava's attribute name)."""
        return self.type.value

    @classmethod
    def new(
        cls,
        state_type: str | None,
        state_id: str,
        realm: str,
        value: Any,
        ttl: Duration | None = None,
        publisher: str | None = None,
        kms_key: str | None = None,
        aws_session: boto3.session.Session | None = None,
    ) -> LavaStateItem:
        """A new state item, not yet stored (call :meth:`put`).

        ``state_type`` None means json, as in lava. The publisher defaults to
        LAVA_JOB_ID, else "lava-state API"; the TTL to LAVA_STATE_TTL, else the
        realm's STATE_TTL in lava.realms (read once per process), else 7d.

        Raises:
            UnknownStateType: "<type>: No such state type".
            InvalidStateId, ReservedStateId: the id cannot be posted.
            InvalidTTL: the TTL is invalid or over the maximum.
            ConfigurationError: no realm.
            AwsError: the realm's configuration could not be read.
        """
        parsed_type = StateType.parse(state_type or StateType.JSON)
        validate_posted_state_id(state_id)
        validate_realm(realm)
        settings = _settings(realm, aws_session)
        return cls(
            state_id,
            realm,
            value,
            state_type=parsed_type,
            ttl=ttl_seconds(ttl, default=settings.default_ttl, maximum=settings.max_ttl),
            publisher=publisher,
            kms_key=kms_key,
            aws_session=aws_session,
        )

    def put(self) -> None:
        """Store the item (its current ``value``); sets ``timestamp`` and ``version``.

        Raises:
            InvalidStateValue, StateValueTooLarge: the value cannot be stored (nothing written).
            EncryptionError, AwsError: the write failed.
        """
        stored = StatePublisher(self.realm, session=self.aws_session, publisher=self.publisher).put(
            self.state_id, self.value, type=self.type, ttl=self.ttl, kms_key=self.kms_key
        )
        self.publisher = stored.publisher
        self.timestamp = stored.timestamp
        self.version = stored.version
        self.expires_at = stored.expires_at

    @classmethod
    def get(
        cls, state_id: str, realm: str, aws_session: boto3.session.Session | None = None
    ) -> LavaStateItem:
        """Read an item (strongly consistent).

        Raises:
            StateNotFound: absent or expired (also a KeyError, as lava raised).
            CorruptStateItem: the stored item cannot be decoded.
            EncryptionError, AwsError: the read failed.
        """
        item = StateStore(realm, session=aws_session).read(
            validate_state_id(state_id), decrypt=True
        )
        if item is None:
            raise StateNotFound(state_id, realm)
        return cls.from_state_item(item, realm=realm, aws_session=aws_session)

    @classmethod
    def from_state_item(
        cls, item: StateItem, *, realm: str, aws_session: boto3.session.Session | None = None
    ) -> LavaStateItem:
        """Wrap a :class:`StateItem` (as read by the consumer SDK or :meth:`get`).

        ``ttl`` is the realm's default TTL and ``kms_key`` is None (see the class docstring).
        """
        settings = _settings(realm, aws_session)
        return cls(
            item.state_id,
            realm,
            item.value,
            state_type=item.type,
            ttl=ttl_seconds(None, default=settings.default_ttl, maximum=settings.max_ttl),
            publisher=item.publisher,
            aws_session=aws_session,
            timestamp=item.timestamp,
            version=item.version,
            expires_at=item.expires_at,
        )

    @classmethod
    def rm(
        cls, state_id: str, realm: str, aws_session: boto3.session.Session | None = None
    ) -> None:
        """Delete an item (absent is fine).

        Raises:
            InvalidStateId, ReservedStateId: bad id.
            AwsError: the delete failed.
        """
        StatePublisher(realm, session=aws_session).delete(state_id)

    def __str__(self) -> str:
        value = SECRET_MASK if self.type is StateType.SECURE else repr(self.value)
        timestamp = self.timestamp.astimezone(UTC).isoformat() if self.timestamp else None
        return (
            f"{type(self).__name__}(state_id={self.state_id!r}, type={self.type.value!r}, "
            f"value={value}, publisher={self.publisher!r}, timestamp={timestamp}, "
            f"version={self.version})"
        )

    __repr__ = __str__


def _settings(realm: str, aws_session: boto3.session.Session | None) -> Settings:
    """The realm's settings, reading its configuration in ``lava.realms`` when needed."""
    return StateStore(realm, session=aws_session).settings
