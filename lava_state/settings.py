"""Configuration: explicit arguments win, then the environment, then defaults.

:meth:`Settings.from_env` is the one constructor that reads the environment
outside the CLI and the Lambda handler.
"""

from __future__ import annotations

import os
from dataclasses import InitVar, dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from lava_state.constants import (
    DEFAULT_MAX_TTL,
    DEFAULT_TTL,
    ENV_ITEM_FORMAT,
    ENV_JOB_ID,
    ENV_REALM,
    ENV_STATE_MAX_TTL,
    ENV_STATE_TTL,
)
from lava_state.errors import ConfigurationError, InvalidTTL
from lava_state.naming import validate_realm
from lava_state.ttl import Duration, parse_duration

if TYPE_CHECKING:
    from collections.abc import Mapping


class ItemFormat(StrEnum):
    """Which attributes a write stores.

    ``lava-state`` adds ``version`` (needed by compare-and-set and ordering);
    ``lava8`` writes exactly lava 8.x's attributes, which lava 8.x workers
    require (their reader rejects unknown attributes), at the cost of every
    version-dependent feature.
    """

    LAVA_STATE = "lava-state"
    LAVA8 = "lava8"


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Resolved configuration of one realm's state store.

    TTLs given to the constructor are checked at once (``check_ttls=False``
    defers it); those from the environment are checked by the first write
    that needs them, so that a reader never fails on a bad ``LAVA_STATE_TTL``.
    """

    realm: str | None = None
    default_ttl: Duration = DEFAULT_TTL
    max_ttl: Duration = DEFAULT_MAX_TTL
    item_format: ItemFormat = ItemFormat.LAVA_STATE
    job_id: str | None = None
    check_ttls: InitVar[bool] = True

    def __post_init__(self, check_ttls: bool) -> None:
        if check_ttls:
            self.ttl_limits()
        if not isinstance(self.item_format, ItemFormat):
            object.__setattr__(self, "item_format", parse_item_format(self.item_format))

    def ttl_limits(self) -> tuple[float, float]:
        """The default and maximum TTL in seconds, checked.

        Raises:
            InvalidTTL: either is not a valid duration, or the default is over the maximum.
        """
        default = parse_duration(self.default_ttl, what=f"default TTL (${ENV_STATE_TTL})")
        maximum = parse_duration(self.max_ttl, what=f"maximum TTL (${ENV_STATE_MAX_TTL})")
        if default > maximum:
            raise InvalidTTL(
                f"the default TTL {self.default_ttl!r} (${ENV_STATE_TTL}) is over the maximum "
                f"TTL {self.max_ttl!r} (${ENV_STATE_MAX_TTL})"
            )
        return default, maximum

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``LAVA_*`` variables; keyword arguments that are not None win.

        An explicit keyword wins before its variable is even parsed. TTLs
        given explicitly are checked here; TTLs from the environment when a
        write needs them (:meth:`ttl_limits`, or the write's own TTL resolution).

        Raises:
            InvalidTTL: an explicit TTL is not a valid duration (or the default
                is over the maximum, both explicit).
            ConfigurationError: LAVA_STATE_ITEM_FORMAT (when used) is not lava-state or lava8.
        """
        env = os.environ if environ is None else environ
        given = {k: v for k, v in overrides.items() if v is not None}
        values: dict[str, Any] = {
            "realm": env.get(ENV_REALM) or None,
            "default_ttl": env.get(ENV_STATE_TTL) or DEFAULT_TTL,
            "max_ttl": env.get(ENV_STATE_MAX_TTL) or DEFAULT_MAX_TTL,
            "job_id": env.get(ENV_JOB_ID) or None,
        }
        if "item_format" not in given:
            values["item_format"] = parse_item_format(
                env.get(ENV_ITEM_FORMAT) or ItemFormat.LAVA_STATE
            )
        values.update(given)
        settings = cls(**values, check_ttls=False)
        if "default_ttl" in given:
            parse_duration(given["default_ttl"], what="default TTL")
        if "max_ttl" in given:
            parse_duration(given["max_ttl"], what="maximum TTL")
        if "default_ttl" in given and "max_ttl" in given:
            settings.ttl_limits()
        return settings

    def with_realm(self, realm: str | None) -> Settings:
        """These settings for ``realm`` (when given), which must then be set."""
        return replace(
            self,
            realm=validate_realm(realm if realm is not None else self.realm),
            check_ttls=False,  # checked when built (explicit) or when a write needs them (env)
        )


def parse_item_format(value: str) -> ItemFormat:
    """Parse an item format name, or raise a ConfigurationError listing the choices."""
    try:
        return ItemFormat(value)
    except ValueError:
        choices = ", ".join(f.value for f in ItemFormat)
        raise ConfigurationError(
            f"item format {value!r} is not known: use one of {choices} ({ENV_ITEM_FORMAT})"
        ) from None
