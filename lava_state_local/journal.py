"""One state table in a data directory: a snapshot file and a journal of the changes since.

Rewriting a whole table at every save would bound what a kill -9 loses by the
time a snapshot takes, which grows with the table (about 2 s at 50,000
items). So a save appends only the items that changed since the last one to
``table.<name>.journal`` (one JSON line each: the item as it is now, or its
deletion), and the snapshot ``table.<name>.json`` is rewritten only when the
journal has grown past the table's size (compaction), then the journal
emptied. What changed is read from moto's stream shard of the table, which
records every write in order (the local stack creates no event source
mapping, so moto never trims it).

Replaying a journal is idempotent: each line holds an item's whole image at
a save, and a compaction snapshots in the same step as it journals, so a
kill between writing the snapshot and emptying the journal replays images
the snapshot already holds. A last line cut short by a kill -9 is skipped;
any other bad line makes the directory unreadable, by name and line.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from lava_state.constants import ATTR_STATE_ID

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

#: A journal is compacted into the snapshot past max(this, the table's item count) lines.
MIN_COMPACTION_LINES = 1000


class TableFiles:
    """The snapshot and journal of one table, and where its stream was last read."""

    def __init__(self, directory: Path, table: str, *, format_version: int) -> None:
        self.snapshot = directory / f"table.{table}.json"
        self.journal = directory / f"table.{table}.journal"
        self.table = table
        self.format_version = format_version
        self._shard: Any = None  # the moto stream shard read last (a new table has a new one)
        self._read_to = 0
        self._journal_lines = 0
        self._pending: list[str] = []
        self._full: list[dict[str, Any]] | None = None

    def replay(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The table's items: the snapshot's ``items``, then the journal's changes.

        Raises:
            ValueError: a journal line other than a cut-short last one is not a change
                (the message names the file and line).
        """
        by_id = {item[ATTR_STATE_ID]["S"]: item for item in items}
        if not self.journal.exists():
            return items
        text = self.journal.read_text(encoding="utf-8")
        lines = text.split("\n")
        for number, line in enumerate(lines, start=1):
            if not line:
                continue
            try:
                change = json.loads(line)
                if "put" in change:
                    by_id[change["put"][ATTR_STATE_ID]["S"]] = change["put"]
                else:
                    by_id.pop(change["delete"], None)
            except (ValueError, KeyError, TypeError):
                if number == len(lines):  # no newline after it: cut short by a kill
                    break
                raise ValueError(f"{self.journal}: line {number} is not a change") from None
        self._journal_lines = sum(1 for line in lines if line)
        return list(by_id.values())

    def collect(self, table: Any, to_file: Callable[[Any], dict[str, Any]]) -> None:
        """Note what changed in moto's ``table`` since the last call (under the server's
        lock): the changed items' images, or the whole table when its stream cannot tell."""
        shard = table.stream_shard
        if shard is None or shard is not self._shard:
            self._full = [_image(item, to_file) for item in table.items.values()]
            self._shard, self._read_to = shard, len(shard.items) if shard is not None else 0
            return
        records = shard.items[self._read_to :]
        self._read_to += len(records)
        changed = dict.fromkeys(r.record["dynamodb"]["Keys"][ATTR_STATE_ID]["S"] for r in records)
        from moto.dynamodb.models.dynamo_type import DynamoType

        for state_id in changed:
            item = table.items.get(DynamoType({"S": state_id}))
            change = {"put": _image(item, to_file)} if item is not None else {"delete": state_id}
            self._pending.append(json.dumps(change))
        if self._journal_lines + len(self._pending) > max(MIN_COMPACTION_LINES, len(table.items)):
            self._full = [_image(item, to_file) for item in table.items.values()]

    def write(self, write_file: Callable[[Path, str], None]) -> None:
        """Write what :meth:`collect` noted (outside the lock)."""
        if self._pending:
            _append(self.journal, "".join(line + "\n" for line in self._pending))
            self._journal_lines += len(self._pending)
            self._pending = []
        if self._full is not None:
            document = {"format": self.format_version, "table": self.table, "items": self._full}
            write_file(self.snapshot, json.dumps(document))
            self._full = None
            # After the snapshot: a kill in between replays images it already holds.
            os.close(os.open(self.journal, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
            self._journal_lines = 0


def _append(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(text)


def _image(item: Any, to_file: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    return {attribute: to_file(value) for attribute, value in item.attrs.items()}
