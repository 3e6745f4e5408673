"""The item model: types, the item value object, masking."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lava_state.errors import UnknownStateType
from lava_state.model import SECRET_MASK, Encrypted, StateItem, StateType, expiry


def test_unknown_type_uses_lavas_wording() -> None:
    with pytest.raises(UnknownStateType, match="blob: No such state type"):
        StateType.parse("blob")


def test_repr_never_shows_a_secure_value() -> None:
    item = StateItem(state_id="tok", type=StateType.SECURE, value={"password": "hunter2"})
    assert "hunter2" not in repr(item)
    assert "hunter2" not in str(item)
    assert "hunter2" not in repr(Encrypted(b"hunter2"))


def test_display_value_masks_only_secure_items() -> None:
    assert StateItem(state_id="a", type=StateType.SECURE, value="pw").display_value == SECRET_MASK
    assert StateItem(state_id="a", type=StateType.RAW, value=3).display_value == 3


def test_expiry_is_utc_and_none_without_ttl() -> None:
    assert expiry(None) is None
    assert expiry(1900000000) == datetime.fromtimestamp(1900000000, UTC)
    assert StateItem(state_id="a", type=StateType.JSON, value=1, ttl=5).is_expired(now=6)
    assert not StateItem(state_id="a", type=StateType.JSON, value=1, ttl=5).is_expired(now=5)
