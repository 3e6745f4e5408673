"""Configuration: explicit arguments win, then the environment, then the realm's
lava configuration, then lava's defaults.

:meth:`Settings.from_env` is the one constructor that reads the environment
outside the CLI and the Lambda handler. The realm's configuration (the
``config`` map of its item in lava's ``lava.realms`` table) is read through
an injected :data:`RealmConfig` function, which the state store supplies
(:func:`lava_state.store.read_realm_config`): this module does no I/O.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

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

#: Reads a realm's lava configuration: ``realm -> {KEY: value}`` (keys upper case,
#: as lava reads them; ``{}`` when the realm has none).
RealmConfig = Callable[[str], Mapping[str, Any]]

#: The keys of a realm's lava configuration that lava-state uses.
REALM_STATE_TTL = "STATE_TTL"
REALM_STATE_MAX_TTL = "STATE_MAX_TTL"


class ItemFormat(StrEnum):
    """Which attributes a write stores.

    ``lava-state`` adds ``version`` (needed by compare-and-set and ordering);
    ``lava8`` writes exactly lava 8.x's attributes, which lava 8.x workers
    require (their reader rejects unknown attributes), at the cost of every
    version-dependent feature.
    """

    LAVA_STATE = "lava-state"
    LAVA8 = "lava8"


@dataclass(frozen=True, init=False)
class Settings:
    """Resolved configuration of one realm's state store.

    The TTLs resolve as lava's do: :attr:`default_ttl` is the one given
    (argument, else ``$LAVA_STATE_TTL``), else the realm's ``STATE_TTL`` in
    ``lava.realms``, else 7d; :attr:`max_ttl` likewise (``$LAVA_STATE_MAX_TTL``,
    ``STATE_MAX_TTL``, 366d). The realm's configuration is read, through
    ``realm_config``, only when a TTL is resolved that was not given (a
    write), and at most once per process and realm (the store caches it).

    TTLs given to the constructor are checked at once (``check_ttls=False``
    defers it); those from the environment or the realm when a write needs
    them, so that a reader never fails on a bad ``LAVA_STATE_TTL``.
    """

    realm: str | None
    #: The default TTL given (argument or environment); None: the realm's, else 7d.
    given_default_ttl: Duration | None
    #: The maximum TTL given (argument or environment); None: the realm's, else 366d.
    given_max_ttl: Duration | None
    item_format: ItemFormat
    job_id: str | None
    #: Reads the realm's configuration; None: lava's defaults only.
    realm_config: RealmConfig | None = field(compare=False, repr=False)

    def __init__(
        self,
        *,
        realm: str | None = None,
        default_ttl: Duration | None = None,
        max_ttl: Duration | None = None,
        item_format: ItemFormat | str = ItemFormat.LAVA_STATE,
        job_id: str | None = None,
        realm_config: RealmConfig | None = None,
        check_ttls: bool = True,
    ) -> None:
        """Raises:
        InvalidTTL: (``check_ttls``) a given TTL is not a valid duration, or the
            default is over the maximum, both given.
        ConfigurationError: ``item_format`` is not lava-state or lava8.
        """
        fields = {
            "realm": realm,
            "given_default_ttl": default_ttl,
            "given_max_ttl": max_ttl,
            "item_format": parse_item_format(item_format),
            "job_id": job_id,
            "realm_config": realm_config,
        }
        for name, value in fields.items():
            object.__setattr__(self, name, value)
        if check_ttls:
            _check_given(default_ttl, max_ttl)

    @property
    def default_ttl(self) -> Duration:
        """The default TTL (see the class docstring); may read the realm's configuration.

        Raises:
            InvalidTTL: the realm's ``STATE_TTL`` is not a valid duration.
            AwsError: the realm's configuration could not be read.
        """
        return self._resolved(self.given_default_ttl, REALM_STATE_TTL, DEFAULT_TTL)

    @property
    def max_ttl(self) -> Duration:
        """The maximum TTL (see the class docstring); may read the realm's configuration.

        Raises:
            InvalidTTL: the realm's ``STATE_MAX_TTL`` is not a valid duration.
            AwsError: the realm's configuration could not be read.
        """
        return self._resolved(self.given_max_ttl, REALM_STATE_MAX_TTL, DEFAULT_MAX_TTL)

    def _resolved(self, given: Duration | None, key: str, default: Duration) -> Duration:
        if given is not None:
            return given
        if self.realm_config is None or self.realm is None:
            return default
        value: Any = self.realm_config(self.realm).get(key)
        if value is None:
            return default
        parse_duration(value, what=f"the realm's {key} (lava.realms, realm {self.realm!r})")
        duration: Duration = value  # a str, int or float: parse_duration accepted it
        return duration

    def ttl_limits(self) -> tuple[float, float]:
        """The default and maximum TTL in seconds, checked.

        Raises:
            InvalidTTL: either is not a valid duration, or the default is over the maximum.
            AwsError: the realm's configuration could not be read.
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
            "default_ttl": env.get(ENV_STATE_TTL) or None,
            "max_ttl": env.get(ENV_STATE_MAX_TTL) or None,
            "job_id": env.get(ENV_JOB_ID) or None,
        }
        if "item_format" not in given:
            values["item_format"] = parse_item_format(
                env.get(ENV_ITEM_FORMAT) or ItemFormat.LAVA_STATE
            )
        values.update(given)
        _check_given(given.get("default_ttl"), given.get("max_ttl"))
        return cls(**values, check_ttls=False)

    def with_realm(self, realm: str | None) -> Settings:
        """These settings for ``realm`` (when given), which must then be set."""
        return self._replace(realm=validate_realm(realm if realm is not None else self.realm))

    def with_realm_config(self, realm_config: RealmConfig) -> Settings:
        """These settings reading the realm's configuration with ``realm_config``
        (unless they already have a reader: an explicit one wins)."""
        if self.realm_config is not None:
            return self
        return self._replace(realm_config=realm_config)

    def _replace(self, **changes: Any) -> Settings:
        values: dict[str, Any] = {
            "realm": self.realm,
            "default_ttl": self.given_default_ttl,
            "max_ttl": self.given_max_ttl,
            "item_format": self.item_format,
            "job_id": self.job_id,
            "realm_config": self.realm_config,
        }
        values.update(changes)
        # Given TTLs were checked when built (explicit) or are when a write needs them (env).
        return Settings(**values, check_ttls=False)


def _check_given(default: Duration | None, maximum: Duration | None) -> None:
    """Check the TTLs given (the others are checked when a write resolves them).

    Raises:
        InvalidTTL: one is not a valid duration, or the default is over the maximum.
    """
    if default is not None:
        parse_duration(default, what="default TTL")
    if maximum is not None:
        parse_duration(maximum, what="maximum TTL")
    if default is not None and maximum is not None:
        Settings(default_ttl=default, max_ttl=maximum, check_ttls=False).ttl_limits()


def parse_item_format(value: ItemFormat | str) -> ItemFormat:
    """Parse an item format name, or raise a ConfigurationError listing the choices."""
    if isinstance(value, ItemFormat):
        return value
    try:
        return ItemFormat(value)
    except ValueError:
        choices = ", ".join(f.value for f in ItemFormat)
        raise ConfigurationError(
            f"item format {value!r} is not known: use one of {choices} ({ENV_ITEM_FORMAT})"
        ) from None
