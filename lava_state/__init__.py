"""lava-state's shared core: the item model, codecs, TTLs, naming, errors and settings."""

from __future__ import annotations

from lava_state.errors import (
    AccessDenied,
    AwsError,
    AwsUnavailable,
    ConfigurationError,
    CorruptStateItem,
    EncryptionError,
    InvalidInput,
    InvalidStateId,
    InvalidStateValue,
    InvalidTTL,
    ItemNotProcessed,
    LavaStateError,
    ReservedStateId,
    StateNotFound,
    StateValueTooLarge,
    TableNotFound,
    UnknownStateType,
    UnsupportedInItemFormat,
    VersionConflict,
)
from lava_state.item import Encrypted, StateItem, StateType
from lava_state.settings import ItemFormat, Settings

__all__ = [
    "AccessDenied",
    "AwsError",
    "AwsUnavailable",
    "ConfigurationError",
    "CorruptStateItem",
    "Encrypted",
    "EncryptionError",
    "InvalidInput",
    "InvalidStateId",
    "InvalidStateValue",
    "InvalidTTL",
    "ItemFormat",
    "ItemNotProcessed",
    "LavaStateError",
    "ReservedStateId",
    "Settings",
    "StateItem",
    "StateNotFound",
    "StateType",
    "StateValueTooLarge",
    "TableNotFound",
    "UnknownStateType",
    "UnsupportedInItemFormat",
    "VersionConflict",
]

import logging as _logging

_logging.getLogger(__name__).addHandler(_logging.NullHandler())
