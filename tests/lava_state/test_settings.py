"""Settings: explicit arguments, then the environment, then the realm's lava configuration,
then lava's defaults; the realm's configuration is read only when a TTL needs it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from lava_state.errors import InvalidTTL
from lava_state.settings import ItemFormat, Settings


class RealmConfig:
    """A realm-config reader that records the realms it was asked for."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config
        self.asked: list[str] = []

    def __call__(self, realm: str) -> Mapping[str, Any]:
        self.asked.append(realm)
        return self.config


REALM_30D = {"STATE_TTL": "30d", "STATE_MAX_TTL": "400d", "OTHER": 1}


def test_the_realms_ttls_apply_when_none_is_given() -> None:
    config = RealmConfig(REALM_30D)
    settings = Settings(realm="r", realm_config=config)

    assert (settings.default_ttl, settings.max_ttl) == ("30d", "400d")
    assert settings.ttl_limits() == (30 * 86400, 400 * 86400)
    assert set(config.asked) == {"r"}


@pytest.mark.parametrize(
    ("environ", "overrides", "expected"),
    [
        ({}, {}, ("30d", "400d")),  # the realm's
        ({"LAVA_STATE_TTL": "1h"}, {}, ("1h", "400d")),  # the environment wins
        ({"LAVA_STATE_MAX_TTL": "2d"}, {}, ("30d", "2d")),
        ({"LAVA_STATE_TTL": "1h"}, {"default_ttl": "5m"}, ("5m", "400d")),  # arguments win
        ({}, {"default_ttl": 60, "max_ttl": "1w"}, (60, "1w")),
    ],
)
def test_arguments_then_environment_then_realm(
    environ: dict[str, str], overrides: dict[str, Any], expected: tuple[Any, Any]
) -> None:
    settings = Settings.from_env(
        {"LAVA_REALM": "r", **environ}, realm_config=RealmConfig(REALM_30D), **overrides
    )
    assert (settings.default_ttl, settings.max_ttl) == expected


def test_lavas_defaults_when_the_realm_has_no_ttls() -> None:
    settings = Settings(realm="r", realm_config=RealmConfig({"OTHER": "x"}))
    assert (settings.default_ttl, settings.max_ttl) == ("7d", "366d")


def test_without_a_reader_or_a_realm_there_is_nothing_to_read() -> None:
    config = RealmConfig(REALM_30D)
    assert (Settings().default_ttl, Settings().max_ttl) == ("7d", "366d")
    assert Settings(realm_config=config).default_ttl == "7d"  # no realm yet
    assert config.asked == []


def test_the_realm_is_read_only_when_a_ttl_is_not_given() -> None:
    config = RealmConfig(REALM_30D)

    settings = Settings.from_env({"LAVA_REALM": "r"}, realm_config=config).with_realm("r")
    assert config.asked == []  # built, copied for a realm: nothing read

    given = Settings.from_env(
        {"LAVA_REALM": "r", "LAVA_STATE_TTL": "1h", "LAVA_STATE_MAX_TTL": "2d"},
        realm_config=config,
    )
    assert (given.default_ttl, given.max_ttl, given.ttl_limits()) == ("1h", "2d", (3600, 172800))
    assert config.asked == []

    assert settings.default_ttl == "30d"
    assert config.asked == ["r"]


def test_an_invalid_realm_ttl_names_the_realms_table_when_a_write_needs_it() -> None:
    settings = Settings(realm="r", realm_config=RealmConfig({"STATE_TTL": "30 days"}))
    assert settings.max_ttl == "366d"
    with pytest.raises(InvalidTTL, match=r"the realm's STATE_TTL \(lava.realms, realm 'r'\)"):
        settings.default_ttl  # noqa: B018 - the property is the check


def test_a_realm_default_over_the_maximum_is_refused() -> None:
    settings = Settings(realm="r", realm_config=RealmConfig({"STATE_TTL": "400d"}))
    with pytest.raises(InvalidTTL, match="over the maximum"):
        settings.ttl_limits()


def test_an_explicit_reader_wins_over_the_stores() -> None:
    mine = RealmConfig({"STATE_TTL": "2h"})
    store = RealmConfig(REALM_30D)

    settings = Settings(realm="r", realm_config=mine).with_realm_config(store)

    assert settings.default_ttl == "2h"
    assert store.asked == []
    assert Settings(realm="r").with_realm_config(store).default_ttl == "30d"


def test_copies_keep_what_was_given() -> None:
    config = RealmConfig({})
    settings = Settings(
        realm="a", default_ttl="1h", item_format="lava8", job_id="j", realm_config=config
    )

    moved = settings.with_realm("b")

    assert moved.realm == "b"
    assert (moved.given_default_ttl, moved.given_max_ttl) == ("1h", None)
    assert (moved.item_format, moved.job_id, moved.realm_config) == (ItemFormat.LAVA8, "j", config)
    # The reader is not part of the settings' value.
    assert settings == Settings(realm="a", default_ttl="1h", item_format="lava8", job_id="j")
