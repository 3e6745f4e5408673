from __future__ import annotations

import pytest

from lava_state.errors import InvalidTTL
from lava_state.settings import Settings
from lava_state.ttl import parse_duration, ttl_seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2d", 172800),
        ("30m", 1800),
        ("1w", 604800),
        ("90", 90),
        ("90s", 90),
        ("+2h", 7200),
        ("20.5m", 1230),
        ("4.5w", 4.5 * 604800),
        (90, 90),
        (1.5, 1.5),
        (" 3h ", 10800),
    ],
)
def test_lava_duration_formats(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "bad", ["-5m", "2D", "abc", "0", 0, "400x", "", "5 m s", -1, float("nan"), True]
)
def test_invalid_durations_are_errors(bad: object) -> None:
    with pytest.raises(InvalidTTL):
        parse_duration(bad)  # type: ignore[arg-type]


def test_over_maximum_is_an_error_not_clamped() -> None:
    with pytest.raises(InvalidTTL, match="over the maximum"):
        ttl_seconds("400d", default="7d", maximum="366d")
    assert ttl_seconds("366d", default="7d", maximum="366d") == 366 * 86400


def test_default_applies_and_rounds_up() -> None:
    assert ttl_seconds(None, default="7d", maximum="366d") == 7 * 86400
    assert ttl_seconds(0.2, default="7d", maximum="366d") == 1


def test_env_overrides_default_and_maximum() -> None:
    settings = Settings.from_env({"LAVA_STATE_TTL": "2h", "LAVA_STATE_MAX_TTL": "1d"})
    assert ttl_seconds(None, default=settings.default_ttl, maximum=settings.max_ttl) == 7200
    with pytest.raises(InvalidTTL):
        ttl_seconds("2d", default=settings.default_ttl, maximum=settings.max_ttl)


def test_bad_env_ttl_names_the_variable() -> None:
    with pytest.raises(InvalidTTL, match="LAVA_STATE_TTL"):
        Settings.from_env({"LAVA_STATE_TTL": "2D"})
