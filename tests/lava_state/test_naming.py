from __future__ import annotations

import pytest

from lava_state.errors import ConfigurationError, InvalidStateId, ReservedStateId
from lava_state.naming import (
    kms_alias,
    table_name,
    validate_posted_state_id,
    validate_realm,
    validate_state_id,
)


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
