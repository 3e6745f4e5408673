"""The realm's lava configuration (``lava.realms``), read by the store when a write needs a TTL.

lava takes STATE_TTL and STATE_MAX_TTL from LAVA_STATE_TTL / LAVA_STATE_MAX_TTL,
else from the ``config`` map of the realm's item in ``lava.realms``, else 7d /
366d. The table here is shaped as lava's installation guide creates it (hash
key ``realm``, S) and holds a realm entry as lava documents it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from consumer_sdk import StateClient
from lava_state.errors import AccessDenied, AwsUnavailable, InvalidTTL
from lava_state.settings import Settings
from lava_state.store import (
    REALMS_TABLE,
    StateStore,
    forget_realm_configs,
    read_realm_config,
)
from lava_state_local import LocalAws
from publisher import LavaStateItem, StatePublisher

DAY = 86400
PutRealm = Callable[..., None]


@pytest.fixture
def realms_table(dynamodb: Any) -> Iterator[PutRealm]:
    """``lava.realms`` as lava creates it; yields a function that puts a realm's entry."""
    dynamodb.create_table(
        TableName=REALMS_TABLE,
        KeySchema=[{"AttributeName": "realm", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "realm", "AttributeType": "S"}],
        ProvisionedThroughput={"ReadCapacityUnits": 3, "WriteCapacityUnits": 1},
    )

    def put(realm: str, config: Any = None) -> None:
        item = {
            "realm": {"S": realm},
            "s3_key": {"S": f"alias/lava-{realm}-s3"},
            "s3_payloads": {"S": f"s3://lava-{realm}/payloads"},
            "s3_temp": {"S": f"s3://lava-{realm}/tmp"},
            "on_fail": {"L": []},
        }
        if config is not None:
            item["config"] = config
        dynamodb.put_item(TableName=REALMS_TABLE, Item=item)

    yield put
    # One embedded AWS serves the whole session: other tests expect no such table.
    dynamodb.delete_table(TableName=REALMS_TABLE)


def strings(**config: str) -> dict[str, Any]:
    return {"M": {key: {"S": value} for key, value in config.items()}}


def expiry_in(dynamodb: Any, realm: str, state_id: str) -> float:
    """Seconds from now to the stored item's expiry."""
    item = dynamodb.get_item(TableName=f"lava.{realm}.state", Key={"state_id": {"S": state_id}})
    return int(item["Item"]["ttl"]["N"]) - time.time()


def realms_reads(dynamodb: Any) -> list[dict[str, Any]]:
    """Record the GetItem calls a client makes on lava.realms (returned list grows)."""
    calls: list[dict[str, Any]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "GetItem" and params.get("TableName") == REALMS_TABLE:
            calls.append(params)

    dynamodb.meta.events.register("provide-client-params.dynamodb.GetItem", record)
    return calls


def test_puts_use_the_realms_state_ttl_and_max(
    realms_table: PutRealm, realm: str, publisher: StatePublisher, dynamodb: Any
) -> None:
    realms_table(realm, strings(STATE_TTL="30d", STATE_MAX_TTL="400d", OTHER="x"))

    publisher.put("default", 1)
    publisher.put("long", 1, ttl="399d")  # over lava's 366d, within the realm's maximum

    assert abs(expiry_in(dynamodb, realm, "default") - 30 * DAY) < 60
    assert abs(expiry_in(dynamodb, realm, "long") - 399 * DAY) < 60
    with pytest.raises(InvalidTTL, match="over the maximum of '400d'"):
        publisher.put("too-long", 1, ttl="401d")


def test_lava_state_item_new_and_get_use_the_realms_state_ttl(
    realms_table: PutRealm, realm: str
) -> None:
    realms_table(realm, strings(STATE_TTL="30d"))

    item = LavaStateItem.new("json", "x", realm, {"a": 1})
    item.put()

    assert item.ttl == 30 * DAY
    assert item.expires_at is not None
    assert abs(item.expires_at.timestamp() - time.time() - 30 * DAY) < 60
    # As lava's: after get(), ttl is the realm's default, not the TTL it was put with.
    LavaStateItem.new("json", "short", realm, 1, ttl="1h").put()
    assert LavaStateItem.get("short", realm).ttl == 30 * DAY


def test_the_environment_and_arguments_win_over_the_realm(
    realms_table: PutRealm,
    realm: str,
    local_aws: LocalAws,
    dynamodb: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    realms_table(realm, strings(STATE_TTL="30d"))
    options: Any = {"session": local_aws.session(), "endpoint_url": local_aws.endpoint_url}

    StatePublisher(realm, settings=Settings(default_ttl="2h"), **options).put("arg", 1)
    monkeypatch.setenv("LAVA_STATE_TTL", "3h")
    StatePublisher(realm, **options).put("env", 1)

    assert abs(expiry_in(dynamodb, realm, "arg") - 2 * 3600) < 60
    assert abs(expiry_in(dynamodb, realm, "env") - 3 * 3600) < 60


def test_keys_are_read_as_lava_reads_them_upper_cased_strings_or_numbers(
    realms_table: PutRealm, realm: str, local_aws: LocalAws
) -> None:
    realms_table(realm, {"M": {"state_ttl": {"N": "172800"}, "State_Max_TTL": {"S": "3d"}}})
    store = StateStore(realm, dynamodb=local_aws.client("dynamodb"))

    assert read_realm_config(store.aws, realm) == {"STATE_TTL": 172800, "STATE_MAX_TTL": "3d"}
    assert (store.settings.default_ttl, store.settings.max_ttl) == (172800, "3d")


def test_read_once_per_process_and_only_when_a_ttl_is_needed(
    realms_table: PutRealm, realm: str, local_aws: LocalAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    realms_table(realm, strings(STATE_TTL="30d"))
    dynamodb = local_aws.client("dynamodb")
    reads = realms_reads(dynamodb)

    # Readers never need a TTL; writers whose TTLs are both set need no realm.
    StateClient(realm, dynamodb=dynamodb).get("x")
    monkeypatch.setenv("LAVA_STATE_TTL", "1h")
    monkeypatch.setenv("LAVA_STATE_MAX_TTL", "1d")
    StatePublisher(realm, dynamodb=dynamodb).put("x", 1)
    assert reads == []

    monkeypatch.delenv("LAVA_STATE_MAX_TTL")  # the maximum is now the realm's
    for state_id in ("a", "b"):
        StatePublisher(realm, dynamodb=dynamodb).put(state_id, 1)
    StatePublisher(realm, dynamodb=dynamodb).put("c", 1, ttl="1h")

    assert len(reads) == 1
    assert reads[0]["Key"] == {"realm": {"S": realm}}


def test_a_missing_realms_table_gives_lavas_defaults(
    realm: str, publisher: StatePublisher, dynamodb: Any
) -> None:
    assert REALMS_TABLE not in dynamodb.list_tables()["TableNames"]

    publisher.put("x", 1)

    assert abs(expiry_in(dynamodb, realm, "x") - 7 * DAY) < 60
    with pytest.raises(InvalidTTL, match="over the maximum of '366d'"):
        publisher.put("y", 1, ttl="367d")


@pytest.mark.parametrize(
    "config", [None, {"M": {}}, strings(OTHER="x")], ids=["no-config", "empty", "other-keys"]
)
def test_a_realm_without_ttls_gives_lavas_defaults(
    realms_table: PutRealm, realm: str, local_aws: LocalAws, config: Any
) -> None:
    realms_table(realm, config)
    settings = StateStore(realm, dynamodb=local_aws.client("dynamodb")).settings
    assert (settings.default_ttl, settings.max_ttl) == ("7d", "366d")


def test_an_unknown_realm_gives_lavas_defaults(
    realms_table: PutRealm, realm: str, local_aws: LocalAws
) -> None:
    realms_table("some-other-realm", strings(STATE_TTL="30d"))
    settings = StateStore(realm, dynamodb=local_aws.client("dynamodb")).settings
    assert settings.default_ttl == "7d"


def test_a_config_that_is_not_a_map_is_ignored_with_a_warning(
    realms_table: PutRealm, realm: str, local_aws: LocalAws, caplog: pytest.LogCaptureFixture
) -> None:
    realms_table(realm, {"S": "STATE_TTL=30d"})
    with caplog.at_level(logging.WARNING, logger="lava_state.store"):
        settings = StateStore(realm, dynamodb=local_aws.client("dynamodb")).settings
        assert settings.default_ttl == "7d"
    assert "is not a map" in caplog.text


def test_an_invalid_realm_ttl_fails_writes_naming_the_table_not_reads(
    realms_table: PutRealm, realm: str, publisher: StatePublisher, client: StateClient
) -> None:
    publisher.put("x", 1, ttl="1h")  # before the realm entry exists: cached as no config
    other = f"{realm}-b"
    realms_table(other, strings(STATE_TTL="30 days"))
    options: Any = {"dynamodb": publisher.store.dynamodb}

    with pytest.raises(InvalidTTL, match=r"STATE_TTL \(lava.realms, realm '.*-b'\)"):
        StatePublisher(other, **options).put("x", 1)
    assert client.get_value("x") == 1


def stubbed_read(local_aws: LocalAws, realm: str, code: str, times: int = 1) -> Any:
    """A real client whose lava.realms reads fail with ``code`` (moto enforces no IAM)."""
    dynamodb = local_aws.client("dynamodb")
    stubber = Stubber(dynamodb)
    for _ in range(times):
        stubber.add_client_error("get_item", service_error_code=code, http_status_code=400)
    stubber.activate()
    return StateStore(realm, dynamodb=dynamodb), stubber


def test_access_denied_gives_lavas_defaults_with_a_warning_and_is_remembered(
    local_aws: LocalAws, realm: str, caplog: pytest.LogCaptureFixture
) -> None:
    store, stubber = stubbed_read(local_aws, realm, "AccessDeniedException")

    with caplog.at_level(logging.WARNING, logger="lava_state.store"):
        assert read_realm_config(store.aws, realm) == {}
        assert read_realm_config(store.aws, realm) == {}  # not asked again
        assert store.settings.default_ttl == "7d"
    stubber.assert_no_pending_responses()
    assert caplog.text.count("cannot read lava.realms (AccessDeniedException)") == 1
    assert "LAVA_STATE_TTL" in caplog.text


def test_forgotten_configurations_are_read_again(
    realms_table: PutRealm, realm: str, local_aws: LocalAws
) -> None:
    store = StateStore(realm, dynamodb=local_aws.client("dynamodb"))
    realms_table(realm, strings(STATE_TTL="30d"))
    assert store.settings.default_ttl == "30d"
    realms_table(realm, strings(STATE_TTL="2d"))
    assert store.settings.default_ttl == "30d"  # once per process...

    forget_realm_configs()

    assert store.settings.default_ttl == "2d"  # ...until forgotten


def test_other_failures_are_raised_and_not_remembered(local_aws: LocalAws, realm: str) -> None:
    store, stubber = stubbed_read(local_aws, realm, "UnrecognizedClientException")
    with pytest.raises(AccessDenied):  # bad credentials: the write would fail too
        store.settings.default_ttl  # noqa: B018 - the property reads the realm

    stubber.add_client_error("get_item", service_error_code="ThrottlingException")
    with pytest.raises(AwsUnavailable):
        store.settings.max_ttl  # noqa: B018

    stubber.deactivate()  # the next read reaches the (embedded) AWS: no table there
    assert store.settings.default_ttl == "7d"


def test_reading_items_builds_a_kms_client_only_for_a_secure_value(
    local_aws: LocalAws, realm: str, publisher: StatePublisher
) -> None:
    built: list[str] = []

    class RecordingSession(boto3.session.Session):
        def client(self, service_name: str, *args: Any, **kwargs: Any) -> Any:
            built.append(service_name)
            return super().client(service_name, *args, **kwargs)

    publisher.put("plain", {"n": 1})
    publisher.put("pw", "hunter2", type="secure")
    session = RecordingSession(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    store = StateStore(realm, session=session, endpoint_url=local_aws.endpoint_url)
    item = store.read("plain", decrypt=True)
    assert item is not None and item.value == {"n": 1}
    assert built == ["dynamodb"]
    secure = store.read("pw", decrypt=True)
    assert secure is not None and secure.value == "hunter2"
    assert built == ["dynamodb", "kms"]
