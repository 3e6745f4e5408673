"""Names derived from a realm and a state_id, and the rules state_ids obey."""

from __future__ import annotations

import re

from lava_state.constants import MAX_STATE_ID_BYTES, RESERVED_PREFIX, SNS_MAX_TOPIC_NAME
from lava_state.errors import (
    ConfigurationError,
    InvalidInput,
    InvalidRealm,
    InvalidStateId,
    ReservedStateId,
)

TOPIC_PREFIX = "lava-state-"
REALM_TOPIC_SUFFIX = "all"
FIFO_SUFFIX = ".fifo"
_TOPIC_SAFE = re.compile(r"[A-Za-z0-9_-]+")
_TOPIC_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_ENCODED_MARKER = "lava-"  # plain ids never start with "lava" (any case): see topic_name
_DIGEST_CHARS = 24  # 96 bits of SHA-256: collisions between encoded ids are not a concern
_READABLE_CHARS = 64
#: The longest realm: the deploy stack's longest derived name, the Lambda function
#: ``lava-state-<realm>-stream-processor``, must fit AWS's 64 characters (the
#: table, KMS alias, SNS topic and SQS queue names allow more).
MAX_REALM_LENGTH = 36
_MAX_KMS_KEY_ID = 2048
# botocore's own rule for a region name (it raises a bare ValueError otherwise).
_REGION = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?")


def table_name(realm: str) -> str:
    """The realm's state table, as lava 8.x names it."""
    return f"lava.{realm}.state"


def kms_alias(realm: str) -> str:
    """The realm's system KMS key alias, lava's default key for secure items."""
    return f"alias/lava-{realm}-sys"


def validate_realm(realm: object) -> str:
    """Return the realm if it can name the realm's resources.

    A realm is 1 to :data:`MAX_REALM_LENGTH` ASCII letters, digits, ``-`` and
    ``_``: it names the table ``lava.<realm>.state``, the KMS alias
    ``alias/lava-<realm>-sys`` and the SNS topics ``lava-state-<realm>-...``
    (where ``.`` is not allowed). Every path that takes a realm (the API's
    constructors, ``LavaStateItem``, the CLI, the local stack) checks it here,
    before any AWS call.

    Raises:
        ConfigurationError: no realm (None or blank): says how to set one.
        InvalidRealm: the realm breaks the rule above (also a ConfigurationError).
    """
    if not isinstance(realm, str) or not realm.strip():
        raise ConfigurationError(
            "no realm given: pass realm=... (CLI: -r/--realm) or set LAVA_REALM"
        )
    if not _TOPIC_SAFE.fullmatch(realm) or len(realm) > MAX_REALM_LENGTH:
        raise InvalidRealm(
            f"realm {realm!r} is not valid: use 1 to {MAX_REALM_LENGTH} letters, digits, "
            "'-' and '_' (a realm names the table lava.<realm>.state and the SNS topics "
            "lava-state-<realm>-...)"
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
    try:
        size = len(state_id.encode("utf-8"))
    except UnicodeEncodeError as exc:
        # DynamoDB keys are UTF-8: a lone surrogate (from bytes decoded with
        # "surrogateescape", say) cannot be sent, so it is refused here.
        raise InvalidStateId(
            f"state_id has a lone surrogate at position {exc.start} ({state_id[exc.start]!r}), "
            "which UTF-8 cannot encode: ids must be valid Unicode text"
        ) from None
    if size > MAX_STATE_ID_BYTES:
        raise InvalidStateId(
            f"state_id is {size} UTF-8 bytes long: at most {MAX_STATE_ID_BYTES} are allowed"
        )
    return state_id


def validate_state_ids(state_ids: object) -> list[str]:
    """Validated ids, deduplicated in first-seen order.

    Raises:
        InvalidInput: a string (or anything not iterable, e.g. None) was passed
            instead of a collection.
        InvalidStateId: an id is invalid; the message names its position.
    """
    if isinstance(state_ids, str | bytes):
        raise InvalidInput(
            f"state_ids must be a collection of ids, not a single {type(state_ids).__name__}: "
            f"pass [{state_ids!r}]"
        )
    try:
        iterator = iter(state_ids)  # type: ignore[call-overload]
    except TypeError:
        raise InvalidInput(
            f"state_ids must be a collection of ids, not {type(state_ids).__name__}"
        ) from None
    checked: dict[str, None] = {}
    for position, state_id in enumerate(iterator):
        try:
            checked[validate_state_id(state_id)] = None
        except InvalidStateId as exc:
            raise type(exc)(f"state_ids[{position}]: {exc}") from None
    return list(checked)


def validate_kms_key(key_id: object) -> str:
    """Check a KMS key given for a secure item: a key id, key ARN, alias or alias ARN.

    Raises:
        InvalidInput: not a non-empty string of at most 2048 characters without
            spaces or control characters (what KMS accepts as a KeyId).
    """
    if (
        not isinstance(key_id, str)
        or not 0 < len(key_id) <= _MAX_KMS_KEY_ID
        or not key_id.isprintable()
        or any(char.isspace() for char in key_id)
    ):
        shown = repr(key_id) if isinstance(key_id, str) else type(key_id).__name__
        raise InvalidInput(
            f"kms_key {shown[:80]} is not a KMS key: give a key id, key ARN, alias name "
            "(alias/...) or alias ARN, as a string of 1 to 2048 characters without spaces"
        )
    return key_id


def validate_aws_location(*, endpoint_url: object = None, region: object = None) -> None:
    """Check an endpoint URL and a region before any client is built from them.

    Raises:
        ConfigurationError: the endpoint is not an http(s) URL with a host, or the
            region is not a region name (letters, digits and '-', as in eu-west-1).
    """
    if endpoint_url is not None:
        from urllib.parse import urlsplit

        url = endpoint_url if isinstance(endpoint_url, str) else ""
        try:
            parts = urlsplit(url)
        except ValueError:
            parts = None
        if (
            parts is None
            or parts.scheme not in ("http", "https")
            or not parts.hostname
            or not url.isprintable()
            or " " in url
        ):
            raise ConfigurationError(
                f"endpoint URL {str(endpoint_url)[:100]!r} is not valid: give an http:// or "
                "https:// URL with a host, e.g. http://localhost:4566"
            )
    if region is not None and (not isinstance(region, str) or not _REGION.fullmatch(region)):
        raise ConfigurationError(
            f"region {str(region)[:100]!r} is not valid: give a region name such as eu-west-1 "
            "(letters, digits and '-')"
        )


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


def topic_name(realm: str, state_id: str, *, fifo: bool = False) -> str:
    """The SNS topic that carries the changes of ``state_id`` in ``realm``.

    A *plain* id, made only of letters, digits, ``-`` and ``_``, maps to
    exactly ``lava-state-<realm>-<state_id>`` when that fits SNS's 256-character
    limit (``.fifo`` included for FIFO topics). Any other id is encoded as
    ``lava-state-<realm>-lava-<24 hex of SHA-256(id)>[-<readable>]`` where
    ``<readable>`` is the id's first characters with every run of other
    characters replaced by ``_``, for people reading topic lists.

    Two kinds of plain-looking ids are encoded too, so that no encoded name can
    equal a plain one and no id can take the realm-wide topic: ids starting
    with ``lava`` in any case (reserved to lava; publishers cannot post them)
    and the id ``all`` (``lava-state-<realm>-all`` is the realm-wide topic).

    Raises:
        ConfigurationError: no realm.
        InvalidRealm: the realm is not valid (see :func:`validate_realm`).
    """
    base = f"{TOPIC_PREFIX}{validate_realm(realm)}-"
    suffix = FIFO_SUFFIX if fifo else ""
    if (
        _TOPIC_SAFE.fullmatch(state_id)
        and state_id != REALM_TOPIC_SUFFIX
        and not state_id.lower().startswith(RESERVED_PREFIX)
        and len(base) + len(state_id) + len(suffix) <= SNS_MAX_TOPIC_NAME
    ):
        return f"{base}{state_id}{suffix}"
    import hashlib  # only for encoded ids: start-up time counts

    digest = hashlib.sha256(state_id.encode("utf-8", "surrogatepass")).hexdigest()
    name = f"{base}{_ENCODED_MARKER}{digest[:_DIGEST_CHARS]}"
    # A valid realm always leaves room: an encoded name takes at most 147 of the 256.
    room = min(_READABLE_CHARS, SNS_MAX_TOPIC_NAME - len(name) - len(suffix) - 1)
    readable = _TOPIC_UNSAFE.sub("_", state_id)[:room].strip("_")
    return f"{name}-{readable}{suffix}" if readable else f"{name}{suffix}"


def realm_topic_name(realm: str, *, fifo: bool = False) -> str:
    """The optional realm-wide topic ``lava-state-<realm>-all`` that carries every change.

    Raises:
        ConfigurationError: no realm.
        InvalidRealm: the realm is not valid (see :func:`validate_realm`).
    """
    suffix = FIFO_SUFFIX if fifo else ""
    return f"{TOPIC_PREFIX}{validate_realm(realm)}-{REALM_TOPIC_SUFFIX}{suffix}"


def stream_dlq_name(realm: str) -> str:
    """The stream processor's dead-letter queue, as the realm stack names it
    (``lava-state-<realm>-stream-dlq``): what Lambda (or the local runner) hands a
    batch it gave up on, and what ``lava-state redrive`` reads."""
    return f"{TOPIC_PREFIX}{realm}-stream-dlq"


def stack_name(realm: str) -> str:
    """The realm's CloudFormation stack (``lava-state-<realm>``), as ``lava-state deploy``
    names it by default and the local stack names it."""
    return f"{TOPIC_PREFIX}{realm}"


def realm_from_table_name(table: str) -> str:
    """The realm of a state table named ``lava.<realm>.state``.

    Raises:
        ConfigurationError: the table is not a lava state table.
    """
    prefix, suffix = "lava.", ".state"
    if table.startswith(prefix) and table.endswith(suffix) and len(table) > len(prefix + suffix):
        return table[len(prefix) : -len(suffix)]
    raise ConfigurationError(f"table {table!r} is not a lava state table (lava.<realm>.state)")
