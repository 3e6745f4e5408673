"""Fault injection on the real botocore stack, for the tests and the benchmarks.

:class:`Faults` is a ``before-send`` hook on injected clients: for the
requests it selects (per service and operation, at a rate, seeded, or from a
script of the next faults to inject) it answers instead of the server or
fails the transport, as AWS and networks do:

- ``throttle``: an HTTP 400 throttling error (nothing applied);
- ``server_error``: an HTTP 500 (a test stand-in: the request never reached
  the server here, but for a DynamoDB write a 500 means "may have succeeded");
- ``refused``: a refused connection (nothing sent);
- ``commit_then_timeout``: the request is sent to the server for real (it is
  applied), then the client sees a read timeout (the answer is lost).

botocore's retries then do what they do with each. Everything injected is
counted, with the API calls and the attempts (their difference: botocore's
retries). :func:`drop_returned_item` makes a client behave like a
DynamoDB-compatible store that ignores ``ReturnValuesOnConditionCheckFailure``.

    faults = Faults(rate=0.2, seed=7, operations={"UpdateItem", "GetItem"})
    dynamodb = faults.install(local_aws.client("dynamodb"))
    faults.script("UpdateItem", "commit_then_timeout", "refused", "refused")
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter, deque
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from botocore.httpsession import URLLib3Session

Fault = Literal["throttle", "server_error", "refused", "commit_then_timeout"]
#: Every kind of fault, in the order of the docs' outcome table.
KINDS: Final[tuple[Fault, ...]] = ("refused", "commit_then_timeout", "throttle", "server_error")
#: A scripted request that goes through untouched.
PASS: Final = "pass"

# (HTTP status, error code) per service and fault, as each service answers.
_ERRORS: Final[dict[str, dict[str, tuple[int, str]]]] = {
    "dynamodb": {
        "throttle": (400, "ProvisionedThroughputExceededException"),
        "server_error": (500, "InternalServerError"),
    },
    "kms": {
        "throttle": (400, "ThrottlingException"),
        "server_error": (500, "KMSInternalException"),
    },
    "sns": {"throttle": (400, "Throttling"), "server_error": (500, "InternalError")},
    "sqs": {"throttle": (400, "RequestThrottled"), "server_error": (500, "InternalError")},
}
_DEFAULT_ERRORS: Final = {
    "throttle": (400, "ThrottlingException"),
    "server_error": (500, "InternalFailure"),
}


class _Body:
    """The raw stream an AWSResponse reads its content from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def error_response(url: str, *, protocol: str, status: int, code: str) -> AWSResponse:
    """An AWS error answer in the service's protocol (JSON or query/XML)."""
    message = f"injected {code}"
    if protocol == "query":
        body = (
            f"<ErrorResponse><Error><Type>{'Receiver' if status >= 500 else 'Sender'}</Type>"
            f"<Code>{code}</Code><Message>{message}</Message></Error>"
            "<RequestId>injected</RequestId></ErrorResponse>"
        ).encode()
        headers = {"Content-Type": "text/xml"}
    else:
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": code}
    return AWSResponse(url, status, headers, _Body(body))


@dataclass
class Faults:
    """Injects faults into the requests of the clients it is installed on.

    ``rate`` of the requests of the selected ``operations`` (None: all) fail,
    with a kind drawn from ``kinds``, from a generator seeded with ``seed``.
    :meth:`script` queues exact faults for the next requests of an operation,
    injected before (and whatever) the rate says. ``enabled`` pauses injection.
    Counts: ``injected[(service, operation, kind)]``, ``calls[(service,
    operation)]`` (API calls) and ``attempts[(service, operation)]`` (requests
    botocore made, retries included). Thread-safe.
    """

    rate: float = 0.0
    seed: int = 0
    kinds: tuple[Fault, ...] = KINDS
    operations: Collection[str] | None = None
    enabled: bool = True
    injected: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    attempts: Counter[tuple[str, str]] = field(default_factory=Counter)
    _scripts: dict[str, deque[str]] = field(default_factory=dict, repr=False)
    _random: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _http: URLLib3Session = field(default_factory=URLLib3Session, repr=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)  # reproducible faults, not crypto

    def install(self, client: Any) -> Any:
        """Inject into ``client``'s requests; returns the client."""
        model = client.meta.service_model
        service, protocol = model.service_name, model.protocol
        event = model.service_id.hyphenize()
        errors = _ERRORS.get(service, _DEFAULT_ERRORS)

        def before_call(model: Any, **_: Any) -> None:
            with self._lock:
                self.calls[(service, model.name)] += 1

        def before_send(request: Any, event_name: str, **_: Any) -> AWSResponse | None:
            operation = event_name.rsplit(".", 1)[-1]
            fault = self._choose(service, operation)
            if fault is None:
                return None
            if fault == "refused":
                raise EndpointConnectionError(endpoint_url=request.url)
            if fault == "commit_then_timeout":
                self._http.send(request)  # the server applies it; its answer is lost
                raise ReadTimeoutError(endpoint_url=request.url)
            status, code = errors[fault]
            return error_response(request.url, protocol=protocol, status=status, code=code)

        client.meta.events.register(f"before-call.{event}", before_call)
        client.meta.events.register(f"before-send.{event}", before_send)
        return client

    def script(self, operation: str, *faults: Fault | Literal["pass"]) -> None:
        """Inject exactly ``faults`` into the next requests of ``operation`` (``"pass"``: none)."""
        with self._lock:
            self._scripts.setdefault(operation, deque()).extend(faults)

    def _choose(self, service: str, operation: str) -> str | None:
        with self._lock:
            self.attempts[(service, operation)] += 1
            scripted = self._scripts.get(operation)
            if scripted:
                fault: str | None = scripted.popleft()
                fault = None if fault == PASS else fault
            elif not self.enabled or (
                self.operations is not None and operation not in self.operations
            ):
                return None
            else:
                draw = self._random.random()
                fault = self._random.choice(self.kinds) if draw < self.rate else None
            if fault is not None:
                self.injected[(service, operation, fault)] += 1
            return fault

    @property
    def total_injected(self) -> int:
        """How many faults were injected in all."""
        return sum(self.injected.values())

    @property
    def retries(self) -> int:
        """How many requests botocore resent (attempts beyond the first of each call)."""
        return sum(self.attempts.values()) - sum(self.calls.values())

    def by_kind(self) -> dict[str, int]:
        """Faults injected per kind."""
        counts: Counter[str] = Counter()
        for (_, _, kind), n in self.injected.items():
            counts[kind] += n
        return dict(counts)


def drop_returned_item(client: Any) -> Any:
    """Make ``client`` behave like a store that ignores ReturnValuesOnConditionCheckFailure.

    A failed condition then comes without the stored item, as from dynalite
    or an older DynamoDB-compatible store. Returns the client.
    """

    def after_call(http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
        if parsed.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            parsed.pop("Item", None)

    client.meta.events.register("after-call.dynamodb", after_call)
    return client


@dataclass
class EntryFaults:
    """Fails single PublishBatch entries inside a successful response, as SNS does.

    ``rate`` of the entries of each call (at least one entry is always sent)
    are taken out of the request before it is built, so SNS never publishes
    them, and are added to the response's ``Failed`` list, retryable
    (``SenderFault`` false). ``failed`` counts them. Thread-safe.
    """

    rate: float = 0.2
    seed: int = 0
    failed: int = 0
    _random: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _dropped: threading.local = field(default_factory=threading.local, repr=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)  # reproducible faults, not crypto

    def install(self, client: Any) -> Any:
        """Fail entries of ``client``'s PublishBatch calls; returns the client."""
        client.meta.events.register("provide-client-params.sns.PublishBatch", self._drop)
        client.meta.events.register("after-call.sns.PublishBatch", self._mark)
        return client

    def _drop(self, params: dict[str, Any], **_: Any) -> None:
        entries = list(params.get("PublishBatchRequestEntries", []))
        with self._lock:
            chosen = [e for e in entries if self._random.random() < self.rate]
        if len(chosen) == len(entries):
            chosen = chosen[1:]
        ids = {e["Id"] for e in chosen}
        params["PublishBatchRequestEntries"] = [e for e in entries if e["Id"] not in ids]
        self._dropped.ids = sorted(ids)

    def _mark(self, parsed: dict[str, Any], **_: Any) -> None:
        ids = getattr(self._dropped, "ids", [])
        self._dropped.ids = []
        if not ids or "Error" in parsed:
            return
        failed = parsed.setdefault("Failed", [])
        for entry_id in ids:
            failed.append(
                {
                    "Id": entry_id,
                    "Code": "InternalError",
                    "SenderFault": False,
                    "Message": "injected",
                }
            )
        with self._lock:
            self.failed += len(ids)
