"""lava-state's core: the item model and codec, TTLs, naming, errors, settings, events,
the one AWS boundary, the table store and templating.

The public names below load lazily (PEP 562): ``import lava_state.naming`` and
the other pure modules stay cheap, and none of them imports boto3.
"""

from __future__ import annotations

import logging as _logging
from typing import TYPE_CHECKING

from lava_state.lazy import lazy_names

if TYPE_CHECKING:
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
        InvalidRealm,
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
        TemplateLimitExceeded,
        TemplateSecurityError,
        UnknownStateType,
        UnsupportedInItemFormat,
        VersionConflict,
        WaitTimeout,
        WriteOutcomeUnknown,
    )
    from lava_state.events import (
        ChangeEvent,
        ChangeKind,
    )
    from lava_state.model import (
        Encrypted,
        StateItem,
        StateType,
    )
    from lava_state.settings import (
        ItemFormat,
        Settings,
    )

_WHERE = {
    "AccessDenied": "lava_state.errors",
    "AwsError": "lava_state.errors",
    "AwsUnavailable": "lava_state.errors",
    "BatchReadIncomplete": "lava_state.errors",
    "ChangeEvent": "lava_state.events",
    "ChangeKind": "lava_state.events",
    "ChangeNotPublished": "lava_state.errors",
    "ConfigurationError": "lava_state.errors",
    "CorruptStateItem": "lava_state.errors",
    "Encrypted": "lava_state.model",
    "EncryptionError": "lava_state.errors",
    "InvalidAction": "lava_state.errors",
    "InvalidInput": "lava_state.errors",
    "InvalidJobSpec": "lava_state.errors",
    "InvalidRealm": "lava_state.errors",
    "InvalidStateId": "lava_state.errors",
    "InvalidStateValue": "lava_state.errors",
    "InvalidTTL": "lava_state.errors",
    "ItemFormat": "lava_state.settings",
    "ItemNotProcessed": "lava_state.errors",
    "LavaStateError": "lava_state.errors",
    "MalformedStreamRecord": "lava_state.errors",
    "ReservedStateId": "lava_state.errors",
    "Settings": "lava_state.settings",
    "StateItem": "lava_state.model",
    "StateNotFound": "lava_state.errors",
    "StateType": "lava_state.model",
    "StateValueTooLarge": "lava_state.errors",
    "TableNotFound": "lava_state.errors",
    "TemplateError": "lava_state.errors",
    "TemplateLimitExceeded": "lava_state.errors",
    "TemplateSecurityError": "lava_state.errors",
    "UnknownStateType": "lava_state.errors",
    "UnsupportedInItemFormat": "lava_state.errors",
    "VersionConflict": "lava_state.errors",
    "WaitTimeout": "lava_state.errors",
    "WriteOutcomeUnknown": "lava_state.errors",
}
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
    "InvalidRealm",
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
    "TemplateLimitExceeded",
    "TemplateSecurityError",
    "UnknownStateType",
    "UnsupportedInItemFormat",
    "VersionConflict",
    "WaitTimeout",
    "WriteOutcomeUnknown",
]


__getattr__ = lazy_names(__name__, _WHERE)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


_logging.getLogger(__name__).addHandler(_logging.NullHandler())
