"""What a subscription yields: :class:`StateChange` (a ``ChangeEvent`` that knows where it
came from and can read its item), built from a notification or from a read; and
the checks of what a subscription is given."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from lava_state.errors import InvalidInput
from lava_state.events import ChangeEvent
from lava_state.model import StateType
from lava_state.naming import validate_state_ids

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from consumer_sdk.ordering import Snapshot
    from lava_state.events import ChangeKind
    from lava_state.model import StateItem

    Reader = Callable[[str], StateItem | None]

_QUEUE_NAME = re.compile(r"[A-Za-z0-9_-]+")
_QUEUE_NAME_MAX = 80


class Origin(StrEnum):
    """Where a subscription learnt of a change."""

    NOTIFICATION = "notification"  # SNS -> SQS, from the stream processor
    CATCH_UP = "catch-up"  # the read when subscribing (catch_up=True, or since=)
    SETTLE = "settle"  # the read once the missing-topic window has passed
    RESYNC = "resync"  # a periodic read


@dataclass(frozen=True, kw_only=True, slots=True, repr=False)
class StateChange(ChangeEvent):
    """A :class:`~lava_state.events.ChangeEvent` as a subscription yields it.

    ``origin`` says where it came from. A change found by a read has an empty
    ``sequence`` (a read has no stream position) and its ``item`` (as read:
    a secure value stays encrypted); its value is as ``get`` returns it. A
    delete found by a read carries the last version known before it.

    :meth:`fetch` reads the item now (consistent, decrypted): for secure
    items, whose value is never notified, and for omitted values.
    """

    origin: Origin = Origin.NOTIFICATION
    item: StateItem | None = field(default=None, compare=False)
    #: How :meth:`fetch` reads: the subscription's ``StateClient.get``.
    reader: Callable[[str], StateItem | None] | None = field(default=None, compare=False)

    def fetch(self) -> StateItem | None:
        """The item as stored now (strongly consistent, decrypted); None when absent or
        expired. It may be newer than this change.

        Raises:
            RuntimeError: the change was not made by a subscription (no reader).
            (and what ``StateClient.get`` raises)
        """
        if self.reader is None:
            raise RuntimeError("this change has no reader: only a subscription's changes fetch")
        return self.reader(self.state_id)

    def __repr__(self) -> str:
        # As ChangeEvent's: never the value.
        return (
            f"StateChange(realm={self.realm!r}, state_id={self.state_id!r}, "
            f"kind={self.kind.value!r}, version={self.version}, sequence={self.sequence!r}, "
            f"origin={self.origin.value!r})"
        )


def notified_change(event: ChangeEvent, *, include_values: bool, reader: Reader) -> StateChange:
    """The change a notification carries (its value left out unless ``include_values``)."""
    values = {f.name: getattr(event, f.name) for f in fields(ChangeEvent)}
    if not include_values:
        values.update(value=None, has_value=False)
    return StateChange(**values, origin=Origin.NOTIFICATION, reader=reader)


def read_change(
    realm: str,
    state_id: str,
    kind: ChangeKind,
    item: StateItem | None,
    last: Snapshot | None,
    origin: Origin,
    *,
    include_values: bool,
    reader: Reader,
) -> StateChange:
    """The change a read found: ``item`` put (its value unless secure or not
    ``include_values``), or gone (``item`` None; the last version known before)."""
    common: dict[str, Any] = {
        "realm": realm,
        "state_id": state_id,
        "kind": kind,
        "sequence": "",
        "origin": origin,
        "reader": reader,
    }
    if item is None:
        return StateChange(**common, version=0 if last is None else last.version)
    has_value = include_values and item.type is not StateType.SECURE
    return StateChange(
        **common,
        version=item.version,
        timestamp=None if item.timestamp is None else item.timestamp.isoformat(),
        publisher=item.publisher,
        type=item.type,
        value=item.value if has_value else None,
        has_value=has_value,
        item=item,
    )


def durable_queue_name(realm: str, name: str) -> str:
    """The queue of durable subscription ``name``: ``lava-state-<realm>-sub-<name>``.

    Raises:
        InvalidInput: ``name`` has characters SQS does not allow, or the name is too long.
    """
    queue = f"lava-state-{realm}-sub-{name}"
    if not isinstance(name, str) or not _QUEUE_NAME.fullmatch(name):
        raise InvalidInput(
            f"subscription name {name!r}: use letters, digits, '-' and '_' only (it names a queue)"
        )
    if len(queue) > _QUEUE_NAME_MAX:
        raise InvalidInput(
            f"subscription name {name!r} is too long: queue {queue!r} would exceed "
            f"{_QUEUE_NAME_MAX} characters"
        )
    return queue


def checked_ids(state_ids: Iterable[str] | None) -> list[str]:
    """Valid ids, deduplicated in order (as ``get_many`` checks them); None: none."""
    return [] if state_ids is None else validate_state_ids(state_ids)


def checked_since(since: Mapping[str, int] | None) -> dict[str, int]:
    """``since`` as {state_id: version}."""
    if since is None:
        return {}
    checked: dict[str, int] = {}
    for sid, version in dict(since).items():
        if not isinstance(sid, str) or isinstance(version, bool) or not isinstance(version, int):
            raise InvalidInput(f"since maps state ids to versions (int): not {sid!r}: {version!r}")
        checked[sid] = version
    return checked


def sequence_key(event: ChangeEvent) -> int:
    """The event's sequence as a number, to sort by (-1 when it is not one)."""
    try:
        return int(event.sequence)
    except ValueError:
        return -1
