"""Topic naming: plain ids map exactly, every other id gets an unambiguous encoding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lava_state import ConfigurationError
from lava_state.naming import realm_from_table_name, realm_topic_name, topic_name

PLAIN = st.from_regex(r"[A-Za-z0-9_-]{1,200}", fullmatch=True).filter(
    lambda s: not s.lower().startswith("lava") and s != "all"
)


def test_plain_ids_map_exactly() -> None:
    assert topic_name("dev", "sid") == "lava-state-dev-sid"
    assert topic_name("dev", "Job_42-done") == "lava-state-dev-Job_42-done"
    assert topic_name("dev", "sid", fifo=True) == "lava-state-dev-sid.fifo"
    assert realm_topic_name("dev") == "lava-state-dev-all"
    assert realm_topic_name("dev", fifo=True) == "lava-state-dev-all.fifo"


def test_other_ids_are_encoded_with_a_hash_and_a_readable_part() -> None:
    name = topic_name("dev", "jobs/daily report.csv")
    assert name.startswith("lava-state-dev-lava-")
    assert name.endswith("-jobs_daily_report_csv")
    assert topic_name("dev", "jobs/daily report.csv") == name  # deterministic
    assert topic_name("dev", "jobs/daily_report.csv") != name  # the hash tells them apart


def test_the_realm_topic_name_and_reserved_prefix_are_never_plain() -> None:
    assert topic_name("dev", "all") != realm_topic_name("dev")
    assert topic_name("dev", "LavaX").startswith("lava-state-dev-lava-")


def test_names_fit_the_sns_limit() -> None:
    fits = "a" * (256 - len("lava-state-dev-"))
    assert topic_name("dev", fits) == f"lava-state-dev-{fits}"
    assert len(topic_name("dev", fits, fifo=True)) <= 256
    assert topic_name("dev", fits, fifo=True).endswith(".fifo")
    assert topic_name("dev", fits + "a").startswith("lava-state-dev-lava-")
    assert len(topic_name("dev", "é" * 1000)) <= 256


@given(plain=PLAIN, other=st.text(min_size=1, max_size=300))
def test_encoded_names_never_collide_with_plain_ones(plain: str, other: str) -> None:
    plain_name = topic_name("r", plain)
    other_name = topic_name("r", other)
    assert (plain_name == other_name) == (plain == other)
    for name in (plain_name, other_name):
        assert len(name) <= 256
        assert all(c.isascii() and (c.isalnum() or c in "-_") for c in name)


def test_realm_rules() -> None:
    with pytest.raises(ConfigurationError, match="SNS topic"):
        topic_name("dev.eu", "sid")
    assert realm_from_table_name("lava.dev.state") == "dev"
    with pytest.raises(ConfigurationError):
        realm_from_table_name("lava..state")
