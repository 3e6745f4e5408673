"""Bad input is refused by lava-state, before any AWS call, with a documented error.

Each case of the issue and its family: the error is a ``lava_state.errors``
class, nothing is written, and no request is sent (counted by a before-send
hook on the injected clients). A Hypothesis test feeds arbitrary values and
ids into ``put``, ``put_many`` and ``expand_job_spec``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumer_sdk import StateClient, expand_job_spec
from lava_state import errors
from lava_state.codec import MAX_RAW_NESTING, check_raw_value, encode_raw
from lava_state.naming import validate_aws_location, validate_kms_key, validate_state_id
from lava_state_local import LocalAws
from publisher import PutSpec, StatePublisher


@dataclass
class CallCounter:
    """Counts the requests botocore is about to send on the clients it is registered on."""

    sent: list[str] = field(default_factory=list)

    def __call__(self, request: Any, **_: Any) -> None:
        self.sent.append(request.url)


@dataclass
class Setup:
    publisher: StatePublisher
    client: StateClient
    calls: CallCounter
    stored: Callable[[], dict[str, Any]]


@pytest.fixture
def setup(local_aws: LocalAws, realm: str, stored: Callable[[], dict[str, Any]]) -> Iterator[Setup]:
    dynamodb, kms = local_aws.client("dynamodb"), local_aws.client("kms")
    publisher = StatePublisher(realm, dynamodb=dynamodb, kms=kms, publisher="tests")
    client = StateClient(realm, dynamodb=dynamodb, kms=kms)
    counter = CallCounter()
    for aws_client in (dynamodb, kms):
        aws_client.meta.events.register("before-send", counter)
    yield Setup(publisher=publisher, client=client, calls=counter, stored=stored)
    for aws_client in (dynamodb, kms):
        aws_client.meta.events.unregister("before-send", counter)


def deeply_nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


def deeply_nested_map(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"k": value}
    return value


# (label, put kwargs, expected error class)
BAD_PUTS: list[tuple[str, dict[str, Any], type[errors.LavaStateError]]] = [
    ("raw 10**40", {"value": 10**40, "type": "raw"}, errors.InvalidStateValue),
    ("raw -(10**40)", {"value": -(10**40), "type": "raw"}, errors.InvalidStateValue),
    ("raw 1e200", {"value": 1e200, "type": "raw"}, errors.InvalidStateValue),
    ("raw 1e-200", {"value": 1e-200, "type": "raw"}, errors.InvalidStateValue),
    (
        "raw 39 digits",
        {"value": Decimal("1.23456789012345678901234567890123456789"), "type": "raw"},
        errors.InvalidStateValue,
    ),
    ("raw nested 1e200", {"value": {"a": [1, 1e200]}, "type": "raw"}, errors.InvalidStateValue),
    (
        "raw Decimal Infinity",
        {"value": Decimal("Infinity"), "type": "raw"},
        errors.InvalidStateValue,
    ),
    ("raw Decimal NaN", {"value": Decimal("NaN"), "type": "raw"}, errors.InvalidStateValue),
    ("raw float nan", {"value": math.nan, "type": "raw"}, errors.InvalidStateValue),
    ("json Decimal Infinity", {"value": Decimal("Infinity")}, errors.InvalidStateValue),
    ("json Decimal sNaN", {"value": Decimal("sNaN")}, errors.InvalidStateValue),
    ("json Decimal 1e99999", {"value": Decimal("1e99999")}, errors.InvalidStateValue),
    ("json float inf", {"value": [math.inf]}, errors.InvalidStateValue),
    (
        "secure Decimal Infinity",
        {"value": Decimal("Infinity"), "type": "secure"},
        errors.InvalidStateValue,
    ),
    ("raw {1: 'x'}", {"value": {1: "x"}, "type": "raw"}, errors.InvalidStateValue),
    ("raw {(1, 2): 'x'}", {"value": {(1, 2): "x"}, "type": "raw"}, errors.InvalidStateValue),
    ("raw nested int key", {"value": {"a": {None: 1}}, "type": "raw"}, errors.InvalidStateValue),
    ("json tuple key", {"value": {(1, 2): "x"}}, errors.InvalidStateValue),
    ("raw empty set", {"value": set(), "type": "raw"}, errors.InvalidStateValue),
    ("raw empty map key", {"value": {"": 1}, "type": "raw"}, errors.InvalidStateValue),
    (
        "raw nested empty map key",
        {"value": {"a": [{"": "x"}]}, "type": "raw"},
        errors.InvalidStateValue,
    ),
    (
        "raw nested empty set",
        {"value": {"a": frozenset()}, "type": "raw"},
        errors.InvalidStateValue,
    ),
    ("raw mixed set", {"value": {1, "x"}, "type": "raw"}, errors.InvalidStateValue),
    ("raw surrogate", {"value": "a\udc80", "type": "raw"}, errors.InvalidStateValue),
    ("raw surrogate key", {"value": {"\ud800": 1}, "type": "raw"}, errors.InvalidStateValue),
    (
        "raw 33 levels",
        {"value": deeply_nested(MAX_RAW_NESTING + 1), "type": "raw"},
        errors.InvalidStateValue,
    ),
    (
        "raw 33 map levels",
        {"value": deeply_nested_map(MAX_RAW_NESTING + 1), "type": "raw"},
        errors.InvalidStateValue,
    ),
    (
        "raw 100000 levels",
        {"value": deeply_nested(100_000), "type": "raw"},
        errors.InvalidStateValue,
    ),
    ("json 100000 levels", {"value": deeply_nested(100_000)}, errors.InvalidStateValue),
    (
        "secure 100000 levels",
        {"value": deeply_nested(100_000), "type": "secure"},
        errors.InvalidStateValue,
    ),
    ("raw object", {"value": object(), "type": "raw"}, errors.InvalidStateValue),
    ("json object", {"value": object()}, errors.InvalidStateValue),
    ("publisher=123", {"value": 1, "publisher": 123}, errors.InvalidInput),
    ("publisher=b'x'", {"value": 1, "publisher": b"x"}, errors.InvalidInput),
    ("kms_key=123", {"value": 1, "type": "secure", "kms_key": 123}, errors.InvalidInput),
    (
        "kms_key with space",
        {"value": 1, "type": "secure", "kms_key": "alias/a b"},
        errors.InvalidInput,
    ),
    ("kms_key on json", {"value": 1, "kms_key": ["alias/x"]}, errors.InvalidInput),
    ("type=1", {"value": 1, "type": 1}, errors.UnknownStateType),
    ("ttl=[1]", {"value": 1, "ttl": [1]}, errors.InvalidTTL),
    ("ttl=nan", {"value": 1, "ttl": math.nan}, errors.InvalidTTL),
    ("if_version='1'", {"value": 1, "if_version": "1"}, errors.InvalidInput),
]


@pytest.mark.parametrize(("label", "kwargs", "expected"), BAD_PUTS, ids=[c[0] for c in BAD_PUTS])
def test_bad_put_is_refused_before_aws(
    setup: Setup, label: str, kwargs: dict[str, Any], expected: type[Exception]
) -> None:
    before = setup.stored()
    with pytest.raises(expected) as raised:
        setup.publisher.put("bad", **kwargs)
    assert type(raised.value).__module__ == "lava_state.errors", label
    assert setup.calls.sent == []
    assert setup.stored() == before


@pytest.mark.parametrize(
    "state_id",
    ["a\udc80", "\ud800", "ok/\udfff/x", 123, None, b"bytes", "", "x" * 1025, "lava/reserved"],
    ids=repr,
)
def test_bad_state_id_is_refused_before_aws(setup: Setup, state_id: Any) -> None:
    with pytest.raises(errors.InvalidStateId):
        setup.publisher.put(state_id, 1)
    if state_id != "lava/reserved":  # reserved ids can still be read
        with pytest.raises(errors.InvalidStateId):
            setup.client.get(state_id)
        with pytest.raises(errors.InvalidStateId):
            setup.client.get_many([state_id])
    assert setup.calls.sent == []


def test_lone_surrogate_id_error_is_printable() -> None:
    with pytest.raises(errors.InvalidStateId) as raised:
        validate_state_id("ab\udc80")
    # The message itself can be printed and logged: no unencodable character in it.
    str(raised.value).encode("utf-8")
    assert "position 2" in str(raised.value)


@pytest.mark.parametrize("items", [None, 123, "ids", b"ids", object(), [("a", 1)], [None]])
def test_put_many_bad_items_refused_before_aws(setup: Setup, items: Any) -> None:
    before = setup.stored()
    with pytest.raises(errors.InvalidInput):
        setup.publisher.put_many(items)
    assert setup.calls.sent == []
    assert setup.stored() == before


def test_put_many_refuses_the_batch_when_one_item_is_bad(setup: Setup) -> None:
    before = setup.stored()
    with pytest.raises(errors.InvalidStateValue, match="item #1"):
        setup.publisher.put_many(
            [PutSpec(state_id="good", value=1), PutSpec(state_id="bad", value=10**40, type="raw")]
        )
    with pytest.raises(errors.InvalidInput):
        setup.publisher.put_many({"good": 1}, kms_key=123, type="secure")
    assert setup.calls.sent == []
    assert setup.stored() == before


@pytest.mark.parametrize("realm", ["a b", "a.b", "a/b", "", "x" * 37, "réalm", 123])
def test_bad_realm_refused_before_aws(local_aws: LocalAws, realm: Any) -> None:
    counter = CallCounter()
    dynamodb = local_aws.client("dynamodb")
    dynamodb.meta.events.register("before-send", counter)
    with pytest.raises(errors.ConfigurationError):
        StatePublisher(realm, dynamodb=dynamodb).put("a", 1)
    with pytest.raises(errors.ConfigurationError):
        StateClient(realm, dynamodb=dynamodb).get("a")
    assert counter.sent == []


@pytest.mark.parametrize(
    ("endpoint_url", "region"),
    [
        ("not a url", None),
        ("ftp://host", None),
        ("http://", None),
        (None, "bad region!"),
        (None, "eu west 1"),
        (123, None),
    ],
)
def test_bad_endpoint_or_region_refused(endpoint_url: Any, region: Any) -> None:
    with pytest.raises(errors.ConfigurationError):
        validate_aws_location(endpoint_url=endpoint_url, region=region)
    with pytest.raises(errors.ConfigurationError):
        StatePublisher("r", endpoint_url=endpoint_url, region=region)


def test_good_endpoint_region_and_key_pass() -> None:
    validate_aws_location(endpoint_url="http://127.0.0.1:4566", region="eu-west-1")
    validate_aws_location(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com")
    for key in (
        "alias/lava-dev-sys",
        "arn:aws:kms:eu-west-1:123456789012:key/abcd-ef",
        "1234abcd-12ab",
    ):
        assert validate_kms_key(key) == key


def test_raw_values_within_dynamodb_limits_are_accepted(setup: Setup) -> None:
    value = {
        "nested": deeply_nested(MAX_RAW_NESTING - 1),
        "big": 10**37,
        "digits": Decimal("1.2345678901234567890123456789012345678"),
        "tiny": Decimal("1e-130"),
        "set": {1, 2},
    }
    check_raw_value(value, state_id="x")
    encode_raw(value, state_id="x")
    assert setup.publisher.put("fine", value, type="raw").version == 1


def test_expand_job_spec_refuses_bad_specs_before_aws(setup: Setup) -> None:
    for spec, expected in [
        (None, errors.InvalidJobSpec),
        ({"state": [1]}, errors.InvalidJobSpec),
        ({"state": {1: "x"}}, errors.InvalidJobSpec),
        ({"state": {"a\udc80": 1}}, errors.InvalidStateId),
        ({"state": {"": 1}}, errors.InvalidStateId),
        ({"x": deeply_nested(100_000)}, errors.InvalidJobSpec),
    ]:
        with pytest.raises(expected):
            expand_job_spec(spec, client=setup.client)  # type: ignore[arg-type]
    assert setup.calls.sent == []


# ---------------------------------------------------------------- Hypothesis

_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**60), max_value=10**60)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.decimals(allow_nan=True, allow_infinity=True)
    | st.text(st.characters(codec=None, exclude_categories=()), max_size=20)
    | st.binary(max_size=20)
    | st.sampled_from([object(), (1, 2), frozenset(), Decimal("sNaN"), 10**40, 1e200, 1e-200])
)
_keys = st.text(max_size=5) | st.integers() | st.none() | st.tuples(st.integers())
values = st.recursive(
    _scalars | st.sets(st.integers(), max_size=3) | st.frozensets(st.text(max_size=3), max_size=3),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(_keys, children, max_size=4)
        | st.tuples(children)
    ),
    max_leaves=12,
)
ids = st.text(
    st.characters(codec=None, exclude_categories=()), min_size=0, max_size=30
) | st.sampled_from([None, 1, b"x", "lava/x", "x" * 1025])
types = st.sampled_from(["json", "raw", "secure", "bogus", None, 3])
HYPOTHESIS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _only_documented(call: Callable[[], object]) -> None:
    try:
        call()
    except errors.LavaStateError as exc:
        assert type(exc).__module__ == "lava_state.errors"
        assert not isinstance(exc, errors.AwsError), exc  # refused by us, not by AWS
        str(exc).encode("utf-8")  # every message can be printed


@HYPOTHESIS
@given(state_id=ids, value=values, state_type=types)
def test_put_with_arbitrary_input_raises_only_documented_errors(
    setup: Setup, state_id: Any, value: Any, state_type: Any
) -> None:
    _only_documented(lambda: setup.publisher.put(state_id, value, type=state_type or "json"))


@HYPOTHESIS
@given(
    items=st.dictionaries(ids.filter(lambda i: isinstance(i, str)), values, max_size=3)
    | st.none()
    | values
)
def test_put_many_with_arbitrary_input_raises_only_documented_errors(
    setup: Setup, items: Any
) -> None:
    _only_documented(lambda: setup.publisher.put_many(items))


@HYPOTHESIS
@given(
    spec=st.dictionaries(st.text(max_size=5), values, max_size=3)
    | values
    | st.builds(
        lambda state, rest: {**rest, "state": state},
        st.dictionaries(ids.filter(lambda i: isinstance(i, str)), values, max_size=3) | values,
        st.dictionaries(st.text(max_size=5), values, max_size=2),
    )
)
def test_expand_job_spec_with_arbitrary_input_raises_only_documented_errors(
    setup: Setup, spec: Any
) -> None:
    _only_documented(lambda: expand_job_spec(spec, client=setup.client))


def test_reads_refuse_bad_ids_and_prefixes_before_aws(setup: Setup) -> None:
    for bad_ids in (None, "abc", 5, [None], ["a\udc80"]):
        with pytest.raises(errors.InvalidInput):
            setup.client.get_many(bad_ids)  # type: ignore[arg-type]
    for prefix in (123, "a\udc80", "x" * 1025):
        with pytest.raises(errors.InvalidInput):
            setup.client.get_prefix(prefix)  # type: ignore[arg-type]
    assert setup.calls.sent == []


def test_state_actions_refuse_deep_nesting_before_aws(setup: Setup) -> None:
    from publisher import run_state_action

    deep = deeply_nested(100_000)
    action = {"action": "state", "state_id": "a", "value": "x"}
    for args in (
        ({**action, "value": deep}, {}),
        (action, {"x": deep}),
    ):
        with pytest.raises(errors.InvalidAction, match="levels deep"):
            run_state_action(*args, publisher=setup.publisher)
    with pytest.raises(errors.InvalidAction, match="levels deep"):
        run_state_action(action, {}, {"r": deep}, publisher=setup.publisher)
    assert setup.calls.sent == []
