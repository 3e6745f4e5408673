"""Publisher fixtures: fault injection on the real botocore stack, lava8 realms, fast retries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError
from botocore.httpsession import URLLib3Session

from lava_state.settings import ItemFormat, Settings
from lava_state_local import LocalAws
from publisher import RetryPolicy, StatePublisher

# Retries short enough that exhausting them keeps a test fast.
FAST_RETRY = RetryPolicy(attempts=3, base_wait=0.001, max_wait=0.01)


@pytest.fixture
def make_publisher(local_aws: LocalAws, realm: str) -> Callable[..., StatePublisher]:
    """Build a publisher on the test realm with its own clients (for hooks) and options."""

    def make(**kwargs: Any) -> StatePublisher:
        kwargs.setdefault("dynamodb", local_aws.client("dynamodb"))
        kwargs.setdefault("kms", local_aws.client("kms"))
        kwargs.setdefault("publisher", "tests")
        return StatePublisher(realm, **kwargs)

    return make


@pytest.fixture
def session(local_aws: LocalAws) -> Any:
    """The local AWS's boto3 session, for lava's API (``aws_session=``)."""
    return local_aws.session()


@pytest.fixture
def lava8_publisher(make_publisher: Callable[..., StatePublisher]) -> StatePublisher:
    """A publisher writing the lava 8.x item format (no version attribute)."""
    return make_publisher(settings=Settings(item_format=ItemFormat.LAVA8))


@dataclass
class TimeoutAfterCommit:
    """Sends the next ``times`` requests of an operation to the server, then raises a timeout.

    This is the failure idempotency has to survive: the server commits the
    write, the client never sees the response, botocore retries.
    """

    times: int = 1
    sent: list[str] = field(default_factory=list)
    http: URLLib3Session = field(default_factory=URLLib3Session, repr=False)

    def __call__(self, request: Any, **_: Any) -> None:
        if self.times <= 0:
            return None
        self.times -= 1
        response = self.http.send(request)
        self.sent.append(f"{response.status_code}")
        # botocore treats a read timeout as retryable (standard mode) and resends.
        raise ReadTimeoutError(endpoint_url=request.url)


@pytest.fixture
def timeout_after_commit() -> Iterator[Callable[[Any, str], TimeoutAfterCommit]]:
    """Install a TimeoutAfterCommit on ``client`` for ``operation`` (removed after the test)."""
    installed: list[tuple[Any, str, TimeoutAfterCommit]] = []

    def install(client: Any, operation: str, times: int = 1) -> TimeoutAfterCommit:
        hook = TimeoutAfterCommit(times=times)
        event = f"before-send.dynamodb.{operation}"
        client.meta.events.register(event, hook)
        installed.append((client, event, hook))
        return hook

    yield install
    for client, event, hook in installed:
        client.meta.events.unregister(event, hook)
