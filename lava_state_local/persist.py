"""A data directory that lets the embedded AWS survive restarts (moto keeps nothing).

What is kept, in ``DIR``:

- ``lava-state-local.json``: the format version, the KMS keys (id, key
  material, aliases), the SNS topics and subscriptions, the SQS queues
  (their settings; not their messages) and the state tables;
- ``table.<table name>.json``: each state table's items, as DynamoDB's JSON,
  and ``table.<table name>.journal``, the changes since (:mod:`lava_state_local.journal`);
- ``.lock``: held while a stack uses the directory (and ``local-up.json``,
  which ``lava-state local up`` writes for ``local env``).

moto 5.2.5 draws KMS key material at random and implements no
ImportKeyMaterial, and its ciphertexts name their key id: a secure item
decrypts after a restart only if the same key id holds the same material. The
server runs in this process, so the keys are restored into moto's KMS backend
directly; so are the items (with the stream detached: a restored item is not
a change), while topics, queues and subscriptions are created through the
API. These are moto's internals, hence the exact pin of moto in
pyproject.toml, and the tests that restart a stack.

While the stack runs, a thread saves every ``interval`` seconds what changed:
after a DynamoDB write (the server's write signal) the changed items are
appended to their table's journal, and the rest is rewritten when it differs
from what was saved. What is saved is read under the server's request lock
(consistent); files are written aside and renamed (never half a file), and
journals appended. So a kill -9 loses at most the writes of the last
interval plus one save (about 0.2 to 0.4 s; a journal's compaction into its
snapshot, once per table-size worth of changes, takes as long as writing the
table: see the README's figures); a stop (Ctrl-C, SIGTERM) saves everything
first.

A directory is read entirely before anything starts: a file that is corrupt
or written by a newer format stops the start, naming the file, and nothing
is overwritten.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import logging
import os
import threading
from typing import TYPE_CHECKING, Any

from lava_state.errors import ConfigurationError, LavaStateError
from lava_state.naming import realm_from_table_name
from lava_state_local.journal import TableFiles

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from lava_state_local.signal import WriteSignal

LOG = logging.getLogger(__name__)

#: The format this version writes; directories of a later one are refused.
FORMAT_VERSION = 1
MANIFEST = "lava-state-local.json"
_LOCK = ".lock"
#: Seconds between checks for something to save: the bulk of the kill -9 loss bound.
SAVE_INTERVAL_S = 0.2
_QUEUE_SETTINGS = frozenset(
    {
        "DelaySeconds",
        "MaximumMessageSize",
        "MessageRetentionPeriod",
        "Policy",
        "RedrivePolicy",
        "ReceiveMessageWaitTimeSeconds",
        "VisibilityTimeout",
        "FifoQueue",
        "ContentBasedDeduplication",
        "KmsMasterKeyId",
        "KmsDataKeyReusePeriodSeconds",
    }
)
_SUBSCRIPTION_SETTINGS = frozenset(
    {"RawMessageDelivery", "FilterPolicy", "FilterPolicyScope", "RedrivePolicy", "DeliveryPolicy"}
)


class DataDirError(LavaStateError):
    """A data directory that cannot be used: corrupt, newer, or used by another stack."""


class DataDir:
    """One data directory: read once at start, then kept current by a saving thread."""

    def __init__(self, path: Path, *, account: str, region: str, interval: float = SAVE_INTERVAL_S):
        self.path = path
        self.account = account
        self.region = region
        self.interval = interval
        self._manifest: dict[str, Any] = {}
        self._tables: dict[str, list[dict[str, Any]]] = {}
        self._files: dict[str, TableFiles] = {}
        self._lock_file: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._saved_manifest = ""
        self._saved_generation: int | None = None

    # ------------------------------------------------------------------ start

    def load(self) -> None:
        """Take the directory (created if needed) and read all of it.

        Raises:
            DataDirError: it cannot be created, another stack uses it, or a
                file is corrupt or of a newer format (named; nothing overwritten).
        """
        try:
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
            descriptor = os.open(self.path / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise DataDirError(f"cannot use data directory {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise DataDirError(
                f"data directory {self.path} is used by another running `lava-state local up`: "
                "stop it, or choose another directory"
            ) from None
        self._lock_file = descriptor
        try:
            manifest = self._read(self.path / MANIFEST)
            self._manifest = manifest or {}
            for table in self._manifest.get("tables", []):
                files = self._files[table] = self._table_files(table)
                document = self._read(files.snapshot) or {"items": []}
                try:
                    self._tables[table] = files.replay(document["items"])
                except ValueError as exc:
                    raise DataDirError(
                        f"{exc}: the local stack did not start and overwrote nothing; move "
                        "the file away to start from the table's last snapshot"
                    ) from None
        except BaseException:
            self.release()
            raise

    def _read(self, path: Path) -> dict[str, Any] | None:
        if not path.exists():
            return None
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            version = document["format"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataDirError(
                f"{path} is corrupt ({type(exc).__name__}: {exc}): the local stack did not start "
                "and overwrote nothing; restore the file from a backup, or move it away to "
                "start without what it held"
            ) from None
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise DataDirError(
                f"{path} was written by a newer lava-state (data format {version!r}; this one "
                f"reads up to {FORMAT_VERSION}): upgrade lava-state to use this directory"
            )
        return document  # type: ignore[no-any-return]

    @property
    def realms(self) -> list[str]:
        """The realms whose tables the directory holds."""
        realms = []
        for table in self._manifest.get("tables", []):
            with contextlib.suppress(ConfigurationError):
                realms.append(realm_from_table_name(table))
        return realms

    def restore(
        self, *, provision: Callable[[str], object], client: Callable[..., Any], lock: Any
    ) -> None:
        """Put back what was read: keys, tables and items, queues, topics, subscriptions.

        ``provision`` provisions a realm (table, stream, TTL; the key is found
        by its alias), ``client`` builds a client on the server, ``lock`` is the
        server's request lock.
        """
        with lock:
            self._restore_keys(self._manifest.get("kms", []))
        for realm in self.realms:
            provision(realm)
        with lock:
            for table, items in self._tables.items():
                self._restore_items(table, items)
        sqs, sns = client("sqs"), client("sns")
        for queue in self._manifest.get("queues", []):
            sqs.create_queue(QueueName=queue["name"], Attributes=queue["attributes"])
        for topic in self._manifest.get("topics", []):
            sns.create_topic(Name=topic["name"], Attributes=topic["attributes"])
        for subscription in self._manifest.get("subscriptions", []):
            sns.subscribe(
                TopicArn=subscription["topic_arn"],
                Protocol=subscription["protocol"],
                Endpoint=subscription["endpoint"],
                Attributes=subscription["attributes"],
            )
        LOG.info("restored %s from %s", ", ".join(self.realms) or "nothing", self.path)

    def _restore_keys(self, keys: list[dict[str, Any]]) -> None:
        from moto.kms.models import kms_backends

        backend = kms_backends[self.account][self.region]
        for saved in keys:
            key = backend.keys.get(saved["id"])
            if key is None:
                key = backend.create_key(
                    None, "ENCRYPT_DECRYPT", "SYMMETRIC_DEFAULT", saved["description"], None
                )
                # The saved id: moto's ciphertexts name the key that made them.
                del backend.keys[key.id]
                key.id = saved["id"]
                key.arn = f"arn:aws:kms:{self.region}:{self.account}:key/{key.id}"
                backend.keys[key.id] = key
            key.key_material = base64.b64decode(saved["material"])
            taken = {alias for other in backend.keys.values() for alias in other.aliases}
            for alias in saved["aliases"]:
                if alias not in taken:
                    backend.create_alias(key.id, alias)

    def _restore_items(self, table_name: str, items: list[dict[str, Any]]) -> None:
        from moto.dynamodb.models import dynamodb_backends

        table = dynamodb_backends[self.account][self.region].get_table(table_name)
        shard, table.stream_shard = table.stream_shard, None  # restored items are no changes
        try:
            for attributes in items:
                table.put_item({name: _from_file(av) for name, av in attributes.items()})
        finally:
            table.stream_shard = shard

    # ------------------------------------------------------------------ saving

    def start(self, *, lock: Any, writes: WriteSignal) -> None:
        """Save what changes every ``interval`` seconds until :meth:`stop`."""

        def run() -> None:
            while not self._stop.wait(self.interval):
                try:
                    self.save(lock=lock, writes=writes)
                except Exception:
                    LOG.exception("saving the local stack to %s failed; retrying", self.path)

        self._thread = threading.Thread(target=run, name="lava-state-local-save", daemon=True)
        self._thread.start()

    def save(self, *, lock: Any, writes: WriteSignal) -> None:
        """Write what changed since the last save.

        Not fsynced: what a process has written survives its death (a kill -9);
        only the machine's crash can lose it, and an fsync on a busy disk can
        take seconds, which a stop would wait for.
        """
        generation = writes.generation  # read first: a write during the snapshot is saved next time
        changed = generation != self._saved_generation
        with lock:
            if changed:
                self._collect_tables()
            manifest = self._snapshot_manifest()
        if changed:
            for files in self._files.values():
                files.write(self._write)
            self._saved_generation = generation
        text = json.dumps(manifest, sort_keys=True)
        if text != self._saved_manifest:
            self._write(self.path / MANIFEST, text)
            self._saved_manifest = text

    def stop(self, *, lock: Any, writes: WriteSignal) -> None:
        """Stop saving, after a last save."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
            self.save(lock=lock, writes=writes)

    def release(self) -> None:
        """Let another stack use the directory."""
        if self._lock_file is not None:
            os.close(self._lock_file)
            self._lock_file = None

    def _table_files(self, table: str) -> TableFiles:
        return TableFiles(self.path, table, format_version=FORMAT_VERSION)

    def _write(self, path: Path, text: str) -> None:
        partial = path.with_name(f"{path.name}.partial")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(text)
        partial.replace(path)  # atomic: a reader (or a restart) never sees half a file

    def _collect_tables(self) -> None:
        from moto.dynamodb.models import dynamodb_backends

        backend = dynamodb_backends[self.account][self.region]
        for name, table in backend.tables.items():
            if _is_state_table(name):
                files = self._files.get(name)
                if files is None:
                    files = self._files[name] = self._table_files(name)
                files.collect(table, _to_file)

    def _snapshot_manifest(self) -> dict[str, Any]:
        from moto.dynamodb.models import dynamodb_backends
        from moto.kms.models import kms_backends
        from moto.sns.models import sns_backends
        from moto.sqs.models import sqs_backends

        kms = kms_backends[self.account][self.region]
        sns = sns_backends[self.account][self.region]
        sqs = sqs_backends[self.account][self.region]
        tables = dynamodb_backends[self.account][self.region].tables
        return {
            "format": FORMAT_VERSION,
            "tables": sorted(name for name in tables if _is_state_table(name)),
            "kms": [
                {
                    "id": key.id,
                    "material": base64.b64encode(key.key_material).decode("ascii"),
                    "description": key.description,
                    "aliases": sorted(key.aliases),
                }
                for key in kms.keys.values()
                if key.key_spec == "SYMMETRIC_DEFAULT" and key.key_manager == "CUSTOMER"
            ],
            "queues": [
                {
                    "name": queue.name,
                    "attributes": {
                        k: str(v) for k, v in queue.attributes.items() if k in _QUEUE_SETTINGS and v
                    },
                }
                for queue in sqs.queues.values()
            ],
            "topics": [
                {"name": topic.name, "attributes": _topic_settings(topic)}
                for topic in sns.topics.values()
            ],
            "subscriptions": [
                {
                    "topic_arn": subscription.topic_arn,
                    "protocol": subscription.protocol,
                    "endpoint": subscription.endpoint,
                    "attributes": {
                        k: str(v)
                        for k, v in subscription.attributes.items()
                        if k in _SUBSCRIPTION_SETTINGS
                    },
                }
                for subscription in sns.subscriptions.values()
            ],
        }


def _is_state_table(name: str) -> bool:
    try:
        realm_from_table_name(name)
    except ConfigurationError:
        return False
    return True


def _to_file(value: Any) -> dict[str, Any]:
    """A moto DynamoType as DynamoDB's JSON (binary as base64), in new containers: the
    snapshot is encoded outside the server's lock."""
    kind, content = value.type, value.value
    if kind == "L":
        return {"L": [_to_file(v) for v in content]}
    if kind == "M":
        return {"M": {k: _to_file(v) for k, v in content.items()}}
    if kind == "B":
        return {"B": _base64(content)}
    if kind == "BS":
        return {"BS": [_base64(v) for v in content]}
    if kind in ("SS", "NS"):
        return {kind: list(content)}
    return {kind: content}


def _base64(content: bytes | str) -> str:
    # moto holds binary as the bytes botocore's parser gave it (base64 text on older paths).
    return content if isinstance(content, str) else base64.b64encode(content).decode("ascii")


def _from_file(av: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB's JSON as moto's request parser hands it to the backend (binary as bytes)."""
    ((kind, content),) = av.items()
    if kind == "L":
        return {"L": [_from_file(v) for v in content]}
    if kind == "M":
        return {"M": {k: _from_file(v) for k, v in content.items()}}
    if kind == "B":
        return {"B": base64.b64decode(content)}
    if kind == "BS":
        return {"BS": [base64.b64decode(v) for v in content]}
    return av


def _items(table: Any) -> Any:
    """moto's items of a table with a hash key only: state_id to Item."""
    return table.items.values()


def _topic_settings(topic: Any) -> dict[str, str]:
    settings = {}
    if topic.fifo_topic:
        settings["FifoTopic"] = "true"
        settings["ContentBasedDeduplication"] = str(topic.content_based_deduplication).lower()
    if topic.display_name:
        settings["DisplayName"] = topic.display_name
    return settings
