"""Every attempt of a call is recorded, not only the last (faults on the real botocore stack)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.config import Config

from lava_state import aws
from lava_state.attempts import Attempts, instrument, recording
from lava_state.errors import AwsUnavailable
from lava_state_local import LocalAws
from tests.faults import Faults

KEY = {"TableName": "lava.none.state", "Key": {"state_id": {"S": "x"}}}


def faulty(local_aws: LocalAws, faults: Faults) -> Any:
    config = aws.botocore_config().merge(
        Config(
            retries={"mode": "standard", "total_max_attempts": 3},
            account_id_endpoint_mode="disabled",
        )
    )
    client = local_aws.session().client(
        "dynamodb", endpoint_url=local_aws.endpoint_url, config=config
    )
    return instrument(faults.install(client))


@pytest.mark.parametrize(
    ("script", "may_have_applied"),
    [
        (("refused", "refused", "refused"), False),
        (("throttle", "refused", "throttle"), False),
        (("commit_then_timeout", "refused", "refused"), True),  # the first one, hidden by the last
        (("refused", "server_error", "throttle"), True),  # a 500 may have been applied
    ],
)
def test_any_attempt_that_may_have_been_applied_is_reported(
    local_aws: LocalAws, script: tuple[Any, ...], may_have_applied: bool
) -> None:
    faults = Faults()
    client = faulty(local_aws, faults)
    faults.script("GetItem", *script)

    with pytest.raises(AwsUnavailable) as info:
        aws.call(client.get_item, what="read", **KEY)

    assert info.value.may_have_reached_aws is may_have_applied
    assert faults.attempts[("dynamodb", "GetItem")] == 3


def test_attempts_are_recorded_only_inside_recording(local_aws: LocalAws) -> None:
    faults = Faults()
    client = faulty(local_aws, faults)
    faults.script("ListTables", "server_error", "pass")
    attempts = Attempts()
    with recording(attempts):
        client.list_tables()
    client.list_tables()  # outside: recorded nowhere
    assert (attempts.sent, attempts.may_have_applied) == (2, True)


def test_instrumenting_twice_registers_once(local_aws: LocalAws) -> None:
    faults = Faults()
    client = instrument(faulty(local_aws, faults))
    faults.script("ListTables", "refused", "pass")
    attempts = Attempts()
    with recording(attempts):
        client.list_tables()
    assert attempts.sent == 2  # one record per attempt, not two
