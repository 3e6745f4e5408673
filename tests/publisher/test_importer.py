"""StatePublisher.import_records: modes, versions, secure values, per-record errors, re-runs."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import Binary
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumer_sdk import StateClient
from lava_state.errors import InvalidInput
from lava_state.model import StateType
from lava_state.transfer import encode_record, header, parse_lines
from lava_state_local import LocalAws
from publisher import ImportResult, Outcome, StatePublisher


def export_lines(client: StateClient, *, decrypt_secure: bool = False) -> list[str]:
    from datetime import UTC, datetime

    return [
        header(realm=client.realm, exported_at=datetime.now(UTC), prefix=None, decrypted=False),
        *(encode_record(item) for item in client.export(decrypt_secure=decrypt_secure)),
    ]


def outcomes(results: list[ImportResult]) -> dict[str, list[int]]:
    by: dict[str, list[int]] = {}
    for result in results:
        by.setdefault(result.outcome.value, []).append(result.line)
    return by


def clients_of(local_aws: LocalAws, realm: str) -> tuple[StatePublisher, StateClient]:
    options: dict[str, Any] = {
        "session": local_aws.session(),
        "endpoint_url": local_aws.endpoint_url,
    }
    return StatePublisher(realm, publisher="tests", **options), StateClient(realm, **options)


def empty(local_aws: LocalAws, realm: str) -> None:
    dynamodb = local_aws.client("dynamodb")
    table = f"lava.{realm}.state"
    for item in dynamodb.scan(TableName=table)["Items"]:
        dynamodb.delete_item(TableName=table, Key={"state_id": item["state_id"]})


texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=8)  # no lone surrogates
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=6,
)
# DynamoDB numbers: up to 38 significant digits, built from text (exact, no decimal context).
numbers = st.builds(
    lambda digits, exponent: Decimal(f"{digits}E{exponent}"),
    st.integers(-(10**38) + 1, 10**38 - 1),
    st.integers(-30, 30),
)
raw_scalars = st.none() | st.booleans() | texts | numbers | st.binary(max_size=8).map(Binary)
raw_sets = (
    st.sets(texts, min_size=1, max_size=3)
    | st.sets(st.integers(-1000, 1000).map(Decimal), min_size=1, max_size=3)
    | st.sets(st.binary(min_size=1, max_size=4).map(Binary), min_size=1, max_size=3)
)
raw_values = st.recursive(
    raw_scalars | raw_sets,
    # Map keys not empty: moto 5.2.5 answers such an item with a response botocore cannot parse.
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(texts.filter(bool), inner, max_size=3)
    ),
    max_leaves=6,
)
#: Items of every shape: (type, value, how many times it is written: versions above 1 too).
shaped_items = st.lists(
    st.sampled_from(list(StateType)).flatmap(
        lambda state_type: st.tuples(
            st.just(state_type),
            raw_values if state_type is StateType.RAW else json_values,
            st.integers(1, 2),
        )
    ),
    min_size=1,
    max_size=6,
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    database=None,  # examples touch a shared emulator: replaying stored ones proves nothing
)
@given(shaped=shaped_items)
def test_export_then_import_into_the_emptied_realm_gives_identical_items(
    local_aws: LocalAws, realm: str, shaped: list[tuple[StateType, Any, int]]
) -> None:
    publisher, client = clients_of(local_aws, realm)
    empty(local_aws, realm)
    shapes = [state_type for state_type, _, _ in shaped]
    for n, (state_type, value, writes) in enumerate(shaped):
        for _ in range(writes):
            publisher.put(f"id{n}", value, type=state_type)
    before = client.get_many([f"id{n}" for n in range(len(shapes))])
    lines = export_lines(client)
    empty(local_aws, realm)

    results = publisher.import_records(parse_lines(lines))

    assert [r.outcome for r in results] == [Outcome.WRITTEN] * len(shapes)
    after = client.get_many([f"id{n}" for n in range(len(shapes))])
    assert after == before  # values (secure ones decrypted), types, versions, ttl, timestamps
    for state_id, item in after.items():
        if item.type is StateType.RAW:
            assert encode_record(item) == encode_record(before[state_id])  # every digit, set, byte


def test_secure_values_migrate_with_decrypt_secure_and_fail_without(
    local_aws: LocalAws, realm: str
) -> None:
    source, source_client = clients_of(local_aws, realm)
    other = f"t{uuid.uuid4().hex[:12]}"
    local_aws.provision_realm(other)
    destination, destination_client = clients_of(local_aws, other)
    source.put("pw", {"password": "s3cret"}, type="secure")
    source.put("plain", 1)

    refused = destination.import_records(parse_lines(export_lines(source_client)))
    by_id = {r.state_id: r for r in refused}
    assert by_id["pw"].outcome is Outcome.FAILED
    assert f"does not decrypt in realm {other!r}" in by_id["pw"].reason
    assert "--decrypt-secure" in by_id["pw"].reason
    assert "s3cret" not in by_id["pw"].reason
    assert by_id["plain"].outcome is Outcome.WRITTEN
    assert destination_client.get("pw") is None

    moved = destination.import_records(
        parse_lines(export_lines(source_client, decrypt_secure=True))
    )
    assert {r.state_id: r.outcome for r in moved} == {
        "pw": Outcome.WRITTEN,
        "plain": Outcome.SKIPPED,
    }
    assert destination_client.get_value("pw") == {"password": "s3cret"}


def test_bad_lines_fail_alone_and_a_rerun_writes_nothing_new(
    publisher: StatePublisher, client: StateClient
) -> None:
    good = encode_record(
        next(iter(_items_of(publisher, client, {"a": 1, "b": {"x": [1, 2]}, "c": "c"})))
    )
    lines = export_lines(client)
    client_items = {item.state_id for item in client.export()}
    assert client_items == {"a", "b", "c"}
    _empty_publisher_realm(publisher)
    lines = [
        *lines,
        "{not json",  # malformed
        lines[1],  # a duplicate id
        good.replace(f'"state_id": "{_first_id(good)}"', '"state_id": "lava.reserved"'),
    ]

    first = publisher.import_records(parse_lines(lines))
    assert outcomes(first) == {"written": [2, 3, 4], "failed": [5, 6, 7]}
    failed = {r.line: r.reason for r in first if r.outcome is Outcome.FAILED}
    assert "not valid JSON" in failed[5]
    assert "already appears on line 2" in failed[6]
    assert "reserved" in failed[7]
    versions = {i.state_id: i.version for i in client.export()}

    for mode in ("if-absent", "overwrite", "newer"):
        again = publisher.import_records(parse_lines(lines), mode=mode)
        assert outcomes(again) == {"skipped": [2, 3, 4], "failed": [5, 6, 7]}, mode
    assert {i.state_id: i.version for i in client.export()} == versions


def test_modes_decide_over_stored_items_and_versions_continue(
    publisher: StatePublisher, client: StateClient
) -> None:
    publisher.put("a", "old")
    lines = export_lines(client)
    for _ in range(3):
        publisher.put("a", "newer")  # version 4, a later timestamp (or the same second)
    stored = client.get("a")
    assert stored is not None
    assert stored.version == 4

    (kept,) = publisher.import_records(parse_lines(lines), mode="if-absent")
    assert (kept.outcome, kept.reason) == (Outcome.SKIPPED, "exists (version 4)")
    (not_newer,) = publisher.import_records(parse_lines(lines), mode="newer")
    assert not_newer.outcome is Outcome.SKIPPED
    (dry,) = publisher.import_records(parse_lines(lines), mode="overwrite", dry_run=True)
    assert (dry.outcome, dry.version) == (Outcome.WOULD_WRITE, 5)
    assert client.get_value("a") == "newer"
    (written,) = publisher.import_records(parse_lines(lines), mode="overwrite")
    assert (written.outcome, written.version) == (Outcome.WRITTEN, 5)
    restored = client.get("a")
    assert restored is not None
    assert (restored.value, restored.version, restored.timestamp) == (
        "old",
        5,
        _only(parse_lines(lines)).timestamp,
    )


def test_expired_records_are_skipped_and_a_bad_mode_is_refused(
    publisher: StatePublisher, client: StateClient
) -> None:
    publisher.put("a", 1)
    lines = export_lines(client)
    lines[1] = lines[1].replace(f'"ttl": {client.get("a").ttl}', '"ttl": 1000')  # type: ignore[union-attr]
    _empty_publisher_realm(publisher)
    (result,) = publisher.import_records(parse_lines(lines))
    assert (result.outcome, result.reason) == (Outcome.SKIPPED, "expired")
    with pytest.raises(InvalidInput, match="import mode 'all'"):
        publisher.import_records([], mode="all")


def test_records_may_be_state_items_from_another_client(
    local_aws: LocalAws, publisher: StatePublisher, client: StateClient
) -> None:
    other = f"t{uuid.uuid4().hex[:12]}"
    local_aws.provision_realm(other)
    destination, destination_client = clients_of(local_aws, other)
    publisher.put_many({"a": 1, "b": 2})
    results = destination.import_records(client.export())
    assert sorted(r.line for r in results) == [1, 2]
    assert destination_client.get_many(["a", "b"]) == client.get_many(["a", "b"])


def _items_of(publisher: StatePublisher, client: StateClient, values: dict[str, Any]) -> list[Any]:
    publisher.put_many(values)
    return sorted(client.export(), key=lambda item: item.state_id)


def _first_id(line: str) -> str:
    import json

    return str(json.loads(line)["state_id"])


def _only(parsed: Any) -> Any:
    (line,) = list(parsed)
    return line.item


def _empty_publisher_realm(publisher: StatePublisher) -> None:
    for item in StateClient(publisher.realm, dynamodb=publisher.store.dynamodb).export():
        publisher.delete(item.state_id)


def test_a_lava8_realm_imports_without_versions_and_secure_values_still_decrypt(
    publisher: StatePublisher, lava8_publisher: StatePublisher, client: StateClient, stored: Any
) -> None:
    publisher.put("pw", {"password": "p"}, type="secure")
    publisher.put("n", 1)
    lines = export_lines(client)
    _empty_publisher_realm(publisher)

    results = lava8_publisher.import_records(parse_lines(lines))

    assert {(r.outcome, r.version) for r in results} == {(Outcome.WRITTEN, None)}
    assert all("version" not in attributes for attributes in stored().values())
    assert client.get_value("pw") == {"password": "p"}  # encrypted again, as lava 8.x reads it
