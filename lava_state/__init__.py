"""lava-state's shared core: the item model, codecs, TTLs, naming, errors and settings."""

from __future__ import annotations

from lava_state.errors import (
    AccessDenied,
    AwsError,
    AwsUnavailable,
    BatchReadIncomplete,
    ChangeNotPublished,
    ConfigurationError,
    CorruptStateItem,
    EncryptionError,
    InvalidAction,
    InvalidInput,
    InvalidJobSpec,
    InvalidStateId,
    InvalidStateValue,
    InvalidTTL,
    ItemNotProcessed,
    LavaStateError,
    MalformedStreamRecord,
    ReservedStateId,
    StateNotFound,
    StateValueTooLarge,
    TableNotFound,
    TemplateError,
    TemplateSecurityError,
    UnknownStateType,
    UnsupportedInItemFormat,
    VersionConflict,
    WriteOutcomeUnknown,
)
from lava_state.events import ChangeEvent, ChangeKind
from lava_state.item import Encrypted, StateItem, StateType
from lava_state.settings import ItemFormat, Settings

__all__ = [
    "AccessDenied",
    "AwsError",
    "AwsUnavailable",
    "BatchReadIncomplete",
    "ChangeEvent",
    "ChangeKind",
    "ChangeNotPublished",
    "ConfigurationError",
    "CorruptStateItem",
    "Encrypted",
    "EncryptionError",
    "InvalidAction",
    "InvalidInput",
    "InvalidJobSpec",
    "InvalidStateId",
    "InvalidStateValue",
    "InvalidTTL",
    "ItemFormat",
    "ItemNotProcessed",
    "LavaStateError",
    "MalformedStreamRecord",
    "ReservedStateId",
    "Settings",
    "StateItem",
    "StateNotFound",
    "StateType",
    "StateValueTooLarge",
    "TableNotFound",
    "TemplateError",
    "TemplateSecurityError",
    "UnknownStateType",
    "UnsupportedInItemFormat",
    "VersionConflict",
    "WriteOutcomeUnknown",
]

import logging as _logging

_logging.getLogger(__name__).addHandler(_logging.NullHandler())
