"""Durations in lava's formats: ``2d``, ``30m``, ``1w``, ``90``, ``90s``, ``+2h``, ``20.5m``.

Unlike lava, a duration that is unparsable, not positive or over the maximum
is an error, never silently clamped.
"""

from __future__ import annotations

import math
import re

from lava_state.constants import ENV_STATE_MAX_TTL, ENV_STATE_TTL
from lava_state.errors import InvalidTTL

_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1, "": 1}
# Units are lower case only, as lava's are: "2D" is an error, not two days.
_DURATION = re.compile(r"(?P<sign>[+-]?)(?P<num>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>[wdhms]?)")

Duration = str | int | float


def parse_duration(duration: Duration, *, what: str = "TTL") -> float:
    """Return a positive duration in seconds.

    Raises:
        InvalidTTL: unparsable, zero, negative, NaN, infinite or too large.
    """
    if isinstance(duration, bool):
        raise InvalidTTL(f"{what} {duration!r} is not a duration: use e.g. 90, '30m' or '2d'")
    if isinstance(duration, int | float):
        try:
            seconds = float(duration)
        except OverflowError:  # an int beyond float's range, e.g. 10**400
            raise InvalidTTL(f"{what} is too large to be a duration") from None
    elif isinstance(duration, str):
        match = _DURATION.fullmatch(duration.strip())
        if match is None:
            raise InvalidTTL(
                f"{what} {duration!r} is not a duration: use a number of seconds or a number "
                "followed by one of the units w, d, h, m, s (lower case), e.g. '30m', '2d', '1w'"
            )
        seconds = float(match["num"]) * _UNITS[match["unit"]] * (-1 if match["sign"] == "-" else 1)
    else:
        raise InvalidTTL(
            f"{what} must be a number of seconds or a duration string, "
            f"not {type(duration).__name__}"
        )
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidTTL(f"{what} {duration!r} must be a positive duration")
    return seconds


def ttl_seconds(ttl: Duration | None, *, default: Duration, maximum: Duration) -> int:
    """Resolve a TTL against the realm's default and maximum, in whole seconds.

    Raises:
        InvalidTTL: the TTL (or the default) is invalid or over the maximum.
    """
    max_s = parse_duration(maximum, what=f"maximum TTL (${ENV_STATE_MAX_TTL} or the settings)")
    if ttl is None:
        seconds = parse_duration(default, what=f"default TTL (${ENV_STATE_TTL} or the settings)")
    else:
        seconds = parse_duration(ttl)
    if seconds > max_s:
        raise InvalidTTL(
            f"TTL {ttl if ttl is not None else default!r} is over the maximum of "
            f"{maximum!r}: use a shorter TTL (or raise LAVA_STATE_MAX_TTL)"
        )
    # Round up so a sub-second TTL still lives for at least one second.
    return math.ceil(seconds)
