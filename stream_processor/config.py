"""The stream processor's configuration, parsed once per cold start."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lava_state.constants import (
    DEFAULT_MISSING_TOPIC_TTL_S,
    ENV_FIFO_TOPICS,
    ENV_MISSING_TOPIC_TTL,
    ENV_REALM,
    ENV_REALM_TOPIC,
    ENV_TRACING,
)
from lava_state.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Mapping

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})
TRACING_CHOICES = ("auto", "xray", "otel", "off")


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(f"{name}={value!r}: use true or false")


@dataclass(frozen=True, kw_only=True)
class ProcessorSettings:
    """What the processor publishes where.

    ``realm`` None means: take it from each record's table name.
    """

    realm: str | None = None
    realm_topic: bool = False
    fifo: bool = False
    missing_topic_ttl: float = DEFAULT_MISSING_TOPIC_TTL_S
    tracing: str = "auto"

    def __post_init__(self) -> None:
        if not math.isfinite(self.missing_topic_ttl) or self.missing_topic_ttl < 0:
            raise ConfigurationError(
                f"{ENV_MISSING_TOPIC_TTL} must be a number of seconds >= 0, "
                f"not {self.missing_topic_ttl!r}"
            )
        if self.tracing not in TRACING_CHOICES:
            raise ConfigurationError(
                f"{ENV_TRACING}={self.tracing!r}: use one of {', '.join(TRACING_CHOICES)}"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ProcessorSettings:
        """Settings from ``LAVA_REALM`` and the ``LAVA_STATE_*`` processor variables.

        Raises:
            ConfigurationError: a variable has a value that cannot be used.
        """
        env = os.environ if environ is None else environ
        ttl_text = env.get(ENV_MISSING_TOPIC_TTL, "").strip()
        try:
            ttl = float(ttl_text) if ttl_text else DEFAULT_MISSING_TOPIC_TTL_S
        except ValueError:
            raise ConfigurationError(
                f"{ENV_MISSING_TOPIC_TTL}={ttl_text!r} is not a number of seconds"
            ) from None
        return cls(
            realm=env.get(ENV_REALM) or None,
            realm_topic=_flag(env, ENV_REALM_TOPIC),
            fifo=_flag(env, ENV_FIFO_TOPICS),
            missing_topic_ttl=ttl,
            tracing=(env.get(ENV_TRACING) or "auto").strip().lower(),
        )
