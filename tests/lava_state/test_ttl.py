from __future__ import annotations

import pytest

from consumer_sdk import StateClient
from lava_state.errors import ConfigurationError, InvalidTTL
from lava_state.settings import ItemFormat, Settings
from lava_state.ttl import parse_duration, ttl_seconds
from publisher import StatePublisher


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


def test_bad_env_ttl_names_the_variable_when_a_write_needs_it() -> None:
    settings = Settings.from_env({"LAVA_STATE_TTL": "2D"})  # readers do not fail
    with pytest.raises(InvalidTTL, match=r"\$LAVA_STATE_TTL"):
        settings.ttl_limits()
    with pytest.raises(InvalidTTL, match=r"default TTL \(\$LAVA_STATE_TTL"):
        ttl_seconds(None, default=settings.default_ttl, maximum=settings.max_ttl)
    # An explicit TTL does not need the default.
    assert ttl_seconds("1h", default=settings.default_ttl, maximum=settings.max_ttl) == 3600


def test_explicit_overrides_win_before_the_environment_is_parsed() -> None:
    env = {"LAVA_STATE_TTL": "bogus", "LAVA_STATE_ITEM_FORMAT": "bogus"}
    settings = Settings.from_env(env, default_ttl="1h", item_format="lava8")
    assert settings.default_ttl == "1h"
    assert settings.item_format is ItemFormat.LAVA8
    assert settings.ttl_limits() == (3600, 366 * 86400)
    with pytest.raises(ConfigurationError, match="item format 'bogus'"):
        Settings.from_env(env, default_ttl="1h")
    with pytest.raises(InvalidTTL, match="default TTL 'nope'"):
        Settings.from_env({}, default_ttl="nope")


def test_the_default_ttl_must_not_exceed_the_maximum() -> None:
    with pytest.raises(InvalidTTL, match=r"default TTL '2d'.*over the maximum TTL '1d'"):
        Settings(default_ttl="2d", max_ttl="1d")
    with pytest.raises(InvalidTTL, match="over the maximum"):
        Settings.from_env({"LAVA_STATE_TTL": "2d", "LAVA_STATE_MAX_TTL": "1d"}).ttl_limits()


def test_a_huge_integer_ttl_is_an_invalid_ttl() -> None:
    with pytest.raises(InvalidTTL, match="too large"):
        parse_duration(10**400)


def test_a_reader_does_not_fail_on_a_bad_env_ttl(
    monkeypatch: pytest.MonkeyPatch, publisher: StatePublisher, realm: str
) -> None:
    publisher.put("x", 1)
    monkeypatch.setenv("LAVA_STATE_TTL", "2D")
    monkeypatch.setenv("LAVA_STATE_MAX_TTL", "soon")
    assert StateClient(realm).get_value("x") == 1
