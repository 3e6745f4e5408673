from __future__ import annotations

from typing import Any

import pytest

from lava_state.errors import (
    ConfigurationError,
    InvalidInput,
    InvalidRealm,
    InvalidStateId,
    ReservedStateId,
)
from lava_state.naming import (
    MAX_REALM_LENGTH,
    kms_alias,
    realm_topic_name,
    table_name,
    validate_posted_state_id,
    validate_realm,
    validate_state_id,
)
from lava_state.settings import Settings
from lava_state.store import StateStore


def test_names_follow_lava() -> None:
    assert table_name("prod") == "lava.prod.state"
    assert kms_alias("prod") == "alias/lava-prod-sys"


@pytest.mark.parametrize("state_id", ["lava", "LAVA-x", "Lava.thing", "lavastate"])
def test_reserved_prefix_any_case(state_id: str) -> None:
    with pytest.raises(ReservedStateId, match="reserved"):
        validate_posted_state_id(state_id)
    # Reading a reserved id is allowed.
    assert validate_state_id(state_id) == state_id


@pytest.mark.parametrize("state_id", ["", None, 42, "x" * 1025, "é" * 513])
def test_invalid_ids(state_id: object) -> None:
    with pytest.raises(InvalidStateId):
        validate_state_id(state_id)


def test_longest_id_allowed() -> None:
    assert validate_posted_state_id("x" * 1024)


@pytest.mark.parametrize("realm", [None, "", "  ", 3])
def test_missing_realm(realm: object) -> None:
    with pytest.raises(ConfigurationError, match="LAVA_REALM"):
        validate_realm(realm)


@pytest.mark.parametrize("realm", ["dev", "prod-eu_1", "A", "x" * MAX_REALM_LENGTH])
def test_valid_realms(realm: str) -> None:
    assert validate_realm(realm) == realm


@pytest.mark.parametrize(
    "realm", ["bad realm", "a.b", "dev/x", " dev", "dev\n", "réalm", "x" * (MAX_REALM_LENGTH + 1)]
)
def test_invalid_realms_are_refused_with_the_rule(realm: str) -> None:
    with pytest.raises(InvalidRealm, match="letters, digits, '-' and '_'") as caught:
        validate_realm(realm)
    # An invalid argument, and (as the realm usually comes from LAVA_REALM) a setting.
    assert isinstance(caught.value, InvalidInput)
    assert isinstance(caught.value, ConfigurationError)
    assert isinstance(caught.value, ValueError)


def test_the_longest_realm_names_every_resource_within_aws_limits() -> None:
    realm = "x" * MAX_REALM_LENGTH
    assert len(table_name(realm)) <= 255
    assert len(kms_alias(realm)) <= 256
    assert len(realm_topic_name(realm, fifo=True)) <= 256
    # The deploy stack's longest name: a Lambda function name is at most 64 characters.
    assert len(f"lava-state-{realm}-stream-processor") <= 64


@pytest.mark.parametrize(
    "make",
    [
        lambda realm: StateStore(realm, endpoint_url="http://127.0.0.1:9"),
        lambda realm: Settings().with_realm(realm),
        lambda realm: StateStore(settings=Settings(realm=realm)),
        realm_topic_name,
    ],
)
def test_every_core_path_validates_the_realm_before_any_aws_call(make: Any) -> None:
    # Nothing listens on port 9: reaching AWS would be a different error.
    with pytest.raises(InvalidRealm, match=r"'a\.b'"):
        make("a.b")


def test_every_api_entry_point_validates_the_realm() -> None:
    # The components take the realm through the core's rule (lava's LavaStateItem too).
    from consumer_sdk import StateClient
    from publisher import LavaStateItem, StatePublisher

    for make in (
        lambda: StateClient("bad realm"),
        lambda: StatePublisher("bad realm"),
        lambda: LavaStateItem.new("json", "x", "bad realm", 1),
    ):
        with pytest.raises(InvalidRealm, match="'bad realm' is not valid"):
            make()
