"""Importing exported items: :meth:`StatePublisher.import_records`.

Records come one group of up to 100 at a time: one consistent BatchGetItem of
the group's stored items, a decision per record by the mode, then the
group's BatchWriteItem chunks of 25 (resent by
:func:`lava_state.retry.batch_rounds` while DynamoDB leaves items
unprocessed). As with ``put_many``, the decision and the write are not
atomic: another writer that writes one of a group's ids in between is
overwritten. An import is for loading a realm that no one else writes
meanwhile.

Items keep their timestamp, ttl and publisher. Versions continue: an item is
written at the larger of its exported version and the stored version + 1, so
that a reader never sees a version go back. A re-run changes nothing:
``if-absent`` finds every item present, ``overwrite`` finds every item
unchanged and ``newer`` finds none newer, so a failed import is finished by
running it again.

Secure values: a ciphertext is written as it is once it is known to decrypt
in this realm (one KMS Decrypt), else the item fails, naming the reason; a
plaintext (an export with ``decrypt_secure``) is encrypted with this realm's
key, bound to this realm and id.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from lava_state import aws, crypto
from lava_state.codec import check_item_size
from lava_state.constants import (
    ATTR_PUBLISHER,
    ATTR_STATE_ID,
    ATTR_TIMESTAMP,
    ATTR_TTL,
    ATTR_TYPE,
    ATTR_VALUE,
    ATTR_VERSION,
    BATCH_GET_MAX_KEYS,
    BATCH_WRITE_MAX_ITEMS,
)
from lava_state.errors import EncryptionError, InvalidInput, ItemNotProcessed, LavaStateError
from lava_state.model import Encrypted, StateItem, StateType
from lava_state.naming import validate_posted_state_id
from lava_state.retry import batch_rounds
from lava_state.transfer import ParsedLine
from publisher.write import validate

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from lava_state.codec import AttributeValue
    from publisher.formats import WriteFormat
    from publisher.publisher import StatePublisher


class ImportMode(StrEnum):
    """What an import does with an id that is already stored (and live)."""

    #: Leave it as it is.
    IF_ABSENT = "if-absent"
    #: Replace it, unless it already equals the record.
    OVERWRITE = "overwrite"
    #: Replace it when the record's timestamp is later than the stored one's.
    NEWER = "newer"


class Outcome(StrEnum):
    """What happened to one record."""

    WRITTEN = "written"
    #: A dry run: it would have been written.
    WOULD_WRITE = "would write"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True, kw_only=True)
class ImportResult:
    """The outcome of one record: its line (its position from 1 when not read from a file),
    its id when known, why it was skipped or failed, and the version written."""

    line: int
    state_id: str | None
    outcome: Outcome
    reason: str = ""
    version: int | None = None


@dataclass(frozen=True, kw_only=True)
class _Entry:
    line: int
    item: StateItem
    encoded: AttributeValue | None  # json and raw values, encoded and checked
    plaintext: bytes | None  # a decrypted secure value, to encrypt


class Importer:
    """Imports records into one publisher's realm (see the module's docstring)."""

    def __init__(
        self,
        publisher: StatePublisher,
        *,
        item_format: WriteFormat,
        mode: ImportMode | str,
        dry_run: bool,
        on_result: Callable[[ImportResult], None] | None,
    ) -> None:
        try:
            self.mode = ImportMode(mode)
        except ValueError:
            choices = ", ".join(m.value for m in ImportMode)
            raise InvalidInput(f"import mode {mode!r} is not one of {choices}") from None
        self.publisher = publisher
        self.store = publisher.store
        self.format = item_format
        self.dry_run = dry_run
        self.on_result = on_result
        self.results: list[ImportResult] = []

    def run(self, records: Iterable[StateItem | ParsedLine]) -> list[ImportResult]:
        """Import every record; one result per record, in input order."""
        seen: dict[str, int] = {}
        group: list[_Entry] = []
        now = time.time()
        for position, record in enumerate(records, start=1):
            parsed = (
                record if isinstance(record, ParsedLine) else ParsedLine(line=position, item=record)
            )
            entry = self._check(parsed, seen, now)
            if entry is not None:
                group.append(entry)
            if len(group) == BATCH_GET_MAX_KEYS:
                self._import_group(group)
                group = []
        if group:
            self._import_group(group)
        self.results.sort(key=lambda result: result.line)
        return self.results

    def _report(self, line: int, state_id: str | None, outcome: Outcome, **kwargs: Any) -> None:
        result = ImportResult(line=line, state_id=state_id, outcome=outcome, **kwargs)
        self.results.append(result)
        if self.on_result is not None:
            self.on_result(result)

    def _check(self, parsed: ParsedLine, seen: dict[str, int], now: float) -> _Entry | None:
        """The record checked without any AWS call; None when it was reported already."""
        item = parsed.item
        if item is None:
            self._report(parsed.line, None, Outcome.FAILED, reason=parsed.error or "not an item")
            return None
        state_id = item.state_id
        first = seen.setdefault(state_id, parsed.line)
        if first != parsed.line:
            self._report(
                parsed.line,
                state_id,
                Outcome.FAILED,
                reason=f"state_id {state_id!r} already appears on line {first}: keep one of them",
            )
            return None
        if item.is_expired(now):
            self._report(parsed.line, state_id, Outcome.SKIPPED, reason="expired")
            return None
        try:
            validate_posted_state_id(state_id)
            if isinstance(item.value, Encrypted):
                return _Entry(line=parsed.line, item=item, encoded=None, plaintext=None)
            write = validate(
                state_id,
                item.value,
                type=item.type,
                ttl=None,
                kms_key=self.store.default_kms_key,
                publisher=item.publisher or self.publisher.publisher,
                if_version=None,
                if_absent=False,
                settings=self.store.settings,
                rules=self.format,
            )
        except InvalidInput as exc:
            self._report(parsed.line, state_id, Outcome.FAILED, reason=str(exc))
            return None
        return _Entry(line=parsed.line, item=item, encoded=write.encoded, plaintext=write.plaintext)

    def _import_group(self, group: list[_Entry]) -> None:
        try:
            stored = self._read([entry.item.state_id for entry in group])
        except LavaStateError as exc:
            for entry in group:
                self._report(entry.line, entry.item.state_id, Outcome.FAILED, reason=str(exc))
            return
        writes: list[tuple[_Entry, dict[str, AttributeValue], int | None]] = []
        for entry in group:
            state_id = entry.item.state_id
            try:
                current = stored.get(state_id)
                skip = self._skip_reason(entry, current)
                if skip:
                    self._report(entry.line, state_id, Outcome.SKIPPED, reason=skip)
                    continue
                version = self._version(entry.item, current)
                writes.append((entry, self._attributes(entry, version), version))
            except LavaStateError as exc:
                self._report(entry.line, state_id, Outcome.FAILED, reason=str(exc))
        if self.dry_run:
            for entry, _, version in writes:
                self._report(entry.line, entry.item.state_id, Outcome.WOULD_WRITE, version=version)
            return
        for start in range(0, len(writes), BATCH_WRITE_MAX_ITEMS):
            self._write(writes[start : start + BATCH_WRITE_MAX_ITEMS])

    def _read(self, state_ids: list[str]) -> dict[str, StateItem]:
        """The live stored items among ``state_ids`` (consistent), secure values Encrypted.

        Raises:
            AwsError: the read failed, or left keys unread after retries.
        """
        found: list[Mapping[str, Any]] = []

        def round_(pending: Any) -> Any:
            items, left = self.store.read_round(
                pending, what=f"read state items of {self.store.table} to import over"
            )
            found.extend(items)
            return left

        request = {"Keys": [{ATTR_STATE_ID: {"S": state_id}} for state_id in state_ids]}
        retry = self.publisher.retry
        rounds = batch_rounds(
            round_,
            request,
            what="BatchGetItem",
            attempts=retry.attempts,
            base_wait=retry.base_wait,
            max_wait=retry.max_wait,
        )
        if rounds.error is not None:
            raise rounds.error
        if rounds.left:
            raise ItemNotProcessed(
                f"BatchGetItem left stored items unread after {retry.attempts} attempts; "
                "import again"
            )
        items: dict[str, StateItem] = {}
        for attributes in found:
            item = self.store.decode_live(attributes, decrypt=False)
            if item is not None:
                items[item.state_id] = item
        return items

    def _skip_reason(self, entry: _Entry, current: StateItem | None) -> str:
        """Why the mode leaves the stored item as it is ("" to write)."""
        if current is None:
            return ""
        if self.mode is ImportMode.IF_ABSENT:
            return f"exists (version {current.version})"
        if self.mode is ImportMode.NEWER:
            record_time, stored_time = entry.item.timestamp, current.timestamp
            if record_time is None or (stored_time is not None and record_time <= stored_time):
                return f"not newer than the stored version {current.version}"
            return ""
        return "unchanged" if self._same(entry, current) else ""

    def _same(self, entry: _Entry, current: StateItem) -> bool:
        item = entry.item
        if (item.type, item.timestamp, item.ttl, item.publisher) != (
            current.type,
            current.timestamp,
            current.ttl,
            current.publisher,
        ):
            return False
        if isinstance(item.value, Encrypted) or item.type is not StateType.SECURE:
            if item.type is StateType.RAW:
                return _raw_equal(entry.encoded, current)
            return bool(item.value == current.value)
        # A plaintext: the stored value decrypted (its ciphertext differs at every encryption).
        return bool(self.store.decrypt(current).value == item.value)

    def _version(self, item: StateItem, current: StateItem | None) -> int | None:
        if not self.format.reads_versions:
            return None
        return max(item.version, (current.version if current else 0) + 1)

    def _attributes(self, entry: _Entry, version: int | None) -> dict[str, AttributeValue]:
        """The item to store.

        Raises:
            EncryptionError: a ciphertext that does not decrypt here, or KMS refused.
            StateValueTooLarge: over DynamoDB's item limit.
        """
        item = entry.item
        value_av = entry.encoded or {"B": self._ciphertext(entry, version)}
        attributes: dict[str, AttributeValue] = {
            ATTR_STATE_ID: {"S": item.state_id},
            ATTR_TYPE: {"S": item.type.value},
            ATTR_VALUE: value_av,
        }
        if item.timestamp is not None:
            attributes[ATTR_TIMESTAMP] = {"S": item.timestamp.isoformat()}
        if item.ttl is not None:
            attributes[ATTR_TTL] = {"N": str(item.ttl)}
        if item.publisher is not None:
            attributes[ATTR_PUBLISHER] = {"S": item.publisher}
        if version is not None:
            attributes[ATTR_VERSION] = {"N": str(version)}
        check_item_size(attributes, state_id=item.state_id)
        return attributes

    def _ciphertext(self, entry: _Entry, version: int | None) -> bytes:
        item = entry.item
        state_id = item.state_id
        # Written with a version, a value is read back under its realm and id's context.
        context = self.format.encryption_context(state_id) if version else None
        plaintext = entry.plaintext
        if isinstance(item.value, Encrypted):
            exported_context = (
                crypto.encryption_context(self.store.realm, state_id) if item.version else None
            )
            try:
                plaintext = crypto.decrypt(
                    self.store.kms,
                    item.value.ciphertext,
                    context=exported_context,
                    state_id=state_id,
                )
            except EncryptionError as exc:
                raise EncryptionError(
                    f"its secure value does not decrypt in realm {self.store.realm!r} ({exc}): "
                    "it was exported from another realm or with another key; export it again "
                    "with --decrypt-secure (decrypt_secure=True) to move it",
                    aws_code=exc.aws_code,
                ) from None
            if context == exported_context:
                return item.value.ciphertext  # already bound as it will be read
        assert plaintext is not None  # a secure item has a plaintext or a ciphertext
        return crypto.encrypt(
            self.store.kms,
            plaintext,
            key_id=self.store.default_kms_key,
            context=context,
            state_id=state_id,
        )

    def _write(self, chunk: list[tuple[_Entry, dict[str, AttributeValue], int | None]]) -> None:
        """One BatchWriteItem chunk with its unprocessed-item rounds; a result per item."""

        def round_(pending: Any) -> Any:
            response = aws.call(
                self.store.dynamodb.batch_write_item,
                what=f"import state items into {self.store.table}",
                RequestItems={self.store.table: pending},
            )
            return response.get("UnprocessedItems", {}).get(self.store.table)

        retry = self.publisher.retry
        rounds = batch_rounds(
            round_,
            [{"PutRequest": {"Item": attributes}} for _, attributes, _ in chunk],
            what="BatchWriteItem",
            attempts=retry.attempts,
            base_wait=retry.base_wait,
            max_wait=retry.max_wait,
        )
        left = {r["PutRequest"]["Item"][ATTR_STATE_ID]["S"] for r in rounds.left or []}
        for entry, _, version in chunk:
            state_id = entry.item.state_id
            if state_id in left:
                reason = (
                    str(rounds.error)
                    if rounds.error
                    else (f"BatchWriteItem left it unprocessed after {retry.attempts} attempts")
                )
                self._report(entry.line, state_id, Outcome.FAILED, reason=f"{reason}; import again")
            else:
                self._report(entry.line, state_id, Outcome.WRITTEN, version=version)


def _raw_equal(encoded: AttributeValue | None, current: StateItem) -> bool:
    from lava_state.codec import encode_raw

    return encoded == encode_raw(current.value, state_id=current.state_id)
