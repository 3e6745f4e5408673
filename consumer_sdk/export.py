"""Exporting a realm: every live item, read with parallel Scan segments.

The items are :class:`~lava_state.model.StateItem`\\ s as a read returns
them; :func:`lava_state.transfer.encode_record` writes them in the
``lava-state.export/1`` format. Secure values stay encrypted unless asked.
"""

from __future__ import annotations

import queue
import threading
from typing import TYPE_CHECKING, Any

from lava_state import aws
from lava_state.constants import ATTR_STATE_ID
from lava_state.errors import InvalidInput

if TYPE_CHECKING:
    from collections.abc import Iterator

    from consumer_sdk.client import StateClient
    from lava_state.model import StateItem

#: DynamoDB allows up to 1,000,000 segments; beyond a few dozen threads a client gains nothing.
MAX_SEGMENTS = 64
# Pages waiting to be decoded, per segment: bounds memory when the consumer is slower.
_QUEUED_PAGES_PER_SEGMENT = 2
_DONE = object()


def export_items(
    client: StateClient,
    *,
    prefix: str | None = None,
    segments: int = 1,
    decrypt_secure: bool = False,
) -> Iterator[StateItem]:
    """Yield every live item of the client's realm (whose id starts with ``prefix``).

    The table is read with strongly consistent Scans, ``segments`` of them in
    parallel (DynamoDB's parallel scan: each thread reads its own part of the
    table), so the order is not the ids'. Expired items are skipped.
    Secure values are :class:`~lava_state.model.Encrypted` unless
    ``decrypt_secure``, which decrypts them (one KMS call each). Closing the
    generator early stops the scans.

    Raises:
        InvalidInput: ``segments`` is not a whole number from 1 to 64.
        CorruptStateItem: a stored item cannot be decoded.
        EncryptionError: with ``decrypt_secure``, a value does not decrypt.
        AwsError: a scan failed after retries.
    """
    if (
        isinstance(segments, bool)
        or not isinstance(segments, int)
        or not (1 <= segments <= MAX_SEGMENTS)
    ):
        raise InvalidInput(
            f"segments must be a whole number from 1 to {MAX_SEGMENTS}, not {segments!r}"
        )
    store = client.store
    request: dict[str, Any] = {"TableName": store.table, "ConsistentRead": True}
    if prefix:
        request |= {
            "FilterExpression": "begins_with(#sid, :prefix)",
            "ExpressionAttributeNames": {"#sid": ATTR_STATE_ID},
            "ExpressionAttributeValues": {":prefix": {"S": prefix}},
        }
    if segments > 1:
        pages = _parallel_pages(client, request, segments)
    else:
        pages = _pages(client, request, threading.Event())
    for page in pages:
        for attributes in page:
            item = store.decode_live(attributes, decrypt=decrypt_secure)
            if item is not None:
                yield item


def _pages(client: StateClient, request: dict[str, Any], stop: threading.Event) -> Iterator[Any]:
    """The pages of one Scan (one segment of a parallel one)."""
    store = client.store
    what = f"export state items of {store.table}"
    while not stop.is_set():
        response = aws.call(store.dynamodb.scan, what=what, **request)
        yield response.get("Items", [])
        last = response.get("LastEvaluatedKey")
        if not last:
            return
        request = {**request, "ExclusiveStartKey": last}


def _parallel_pages(client: StateClient, request: dict[str, Any], segments: int) -> Iterator[Any]:
    """The pages of ``segments`` Scan segments read by as many threads, as they come."""
    pages: queue.Queue[Any] = queue.Queue(maxsize=segments * _QUEUED_PAGES_PER_SEGMENT)
    stop = threading.Event()

    def read(segment: int) -> None:
        try:
            for page in _pages(
                client, {**request, "Segment": segment, "TotalSegments": segments}, stop
            ):
                _put(pages, page, stop)
        except BaseException as exc:  # handed to the consumer, which raises it
            _put(pages, exc, stop)
        finally:
            _put(pages, _DONE, stop)

    threads = [
        threading.Thread(
            target=read, args=(segment,), name=f"export-segment-{segment}", daemon=True
        )
        for segment in range(segments)
    ]
    for thread in threads:
        thread.start()
    running = segments
    try:
        while running:
            page = pages.get()
            if page is _DONE:
                running -= 1
            elif isinstance(page, BaseException):
                raise page
            else:
                yield page
    finally:
        stop.set()
        for thread in threads:
            thread.join()


def _put(pages: queue.Queue[Any], page: Any, stop: threading.Event) -> None:
    """Queue ``page`` unless the consumer has gone (then the thread just ends)."""
    while not stop.is_set():
        try:
            pages.put(page, timeout=0.1)
            return
        except queue.Full:
            continue
