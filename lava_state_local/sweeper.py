"""The local TTL sweeper: deletes expired items, as DynamoDB's TTL service does.

moto never deletes expired items. :class:`TtlSweeper` does, within seconds,
and records each deletion in :class:`TtlMarks` so that the stream runner
gives its REMOVE record the TTL service's ``userIdentity``, as DynamoDB does.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from lava_state.constants import ATTR_STATE_ID, ATTR_TTL
from lava_state.naming import table_name

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from mypy_boto3_dynamodb import DynamoDBClient

LOG = logging.getLogger(__name__)


class TtlMarks:
    """The deletions the TTL sweeper made, so their REMOVE records can say so."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._marks: set[tuple[str, str, str]] = set()

    def mark(self, table: str, state_id: str, ttl: str) -> None:
        """The sweeper is about to delete this item."""
        with self._lock:
            self._marks.add((table, state_id, ttl))

    def unmark(self, table: str, state_id: str, ttl: str) -> None:
        """The sweeper did not delete it after all (refreshed meanwhile)."""
        with self._lock:
            self._marks.discard((table, state_id, ttl))

    def consume(self, table: str, old_image: Mapping[str, Any]) -> bool:
        """True (once) if the REMOVE of this old image was the sweeper's."""
        state_id = old_image.get(ATTR_STATE_ID, {}).get("S")
        ttl = old_image.get(ATTR_TTL, {}).get("N")
        if state_id is None or ttl is None:
            return False
        key = (table, state_id, ttl)
        with self._lock:
            if key in self._marks:
                self._marks.discard(key)
                return True
        return False


class TtlSweeper:
    """Deletes expired items, as DynamoDB's TTL service does (but within seconds).

    Each deletion is conditional on the item still being expired, so a put
    that refreshed the TTL meanwhile wins, and is marked so the runner reports
    its REMOVE as the TTL service's. Start with :meth:`start`, stop with
    :meth:`stop` (``LocalAws`` does both), or call :meth:`sweep_once`.
    """

    def __init__(
        self,
        *,
        dynamodb: DynamoDBClient,
        marks: TtlMarks,
        realms: Iterable[str] = (),
        interval: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._dynamodb = dynamodb
        self._marks = marks
        self._tables = [table_name(realm) for realm in realms]
        self.interval = interval
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.deleted = 0

    @property
    def is_running(self) -> bool:
        """True while the sweeping thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> TtlSweeper:
        """Sweep every ``interval`` seconds in a daemon thread."""
        self._thread = threading.Thread(
            target=self._run, name="lava-state-ttl-sweeper", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current sweep."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sweep_once()
            except (ClientError, BotoCoreError):
                if not self._stop.is_set():
                    LOG.exception("TTL sweeper: sweep failed")

    def tables(self) -> list[str]:
        """The tables swept: the realms given, else every table with TTL on ``ttl``."""
        if self._tables:
            return list(self._tables)
        # ListTables answers at most 100 names a page.
        pages = self._dynamodb.get_paginator("list_tables").paginate()
        names = [name for page in pages for name in page.get("TableNames", [])]
        return [
            name
            for name in names
            if self._dynamodb.describe_time_to_live(TableName=name)
            .get("TimeToLiveDescription", {})
            .get("AttributeName")
            == ATTR_TTL
        ]

    def sweep_once(self) -> int:
        """Delete what has expired now; returns how many items were deleted.

        Raises:
            botocore.exceptions.ClientError: a scan or a deletion failed (other than
                the item having been refreshed meanwhile).
        """
        deleted = 0
        now = str(int(self._clock()))
        for table in self.tables():
            pages = self._dynamodb.get_paginator("scan").paginate(
                TableName=table,
                FilterExpression="#ttl < :now",
                ProjectionExpression="#sid, #ttl",
                ExpressionAttributeNames={"#ttl": ATTR_TTL, "#sid": ATTR_STATE_ID},
                ExpressionAttributeValues={":now": {"N": now}},
            )
            for page in pages:
                for item in page.get("Items", []):
                    deleted += self._delete(table, item, now)
        self.deleted += deleted
        return deleted

    def _delete(self, table: str, item: Mapping[str, Any], now: str) -> int:
        state_id, ttl = item[ATTR_STATE_ID]["S"], item[ATTR_TTL]["N"]
        # Mark first: the runner may read the REMOVE before delete_item returns.
        self._marks.mark(table, state_id, ttl)
        try:
            self._dynamodb.delete_item(
                TableName=table,
                Key={ATTR_STATE_ID: {"S": state_id}},
                ConditionExpression="#ttl < :now",
                ExpressionAttributeNames={"#ttl": ATTR_TTL},
                ExpressionAttributeValues={":now": {"N": now}},
            )
        except ClientError as exc:
            self._marks.unmark(table, state_id, ttl)
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return 0  # refreshed since the scan: not expired any more
            raise
        return 1
