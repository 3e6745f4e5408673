"""Names and limits shared by every part of lava-state.

Environment variable names live here and only here; they are read by the CLI,
the Lambda handler and :meth:`lava_state.settings.Settings.from_env`.
"""

from __future__ import annotations

from typing import Final

# Environment variables.
ENV_REALM: Final = "LAVA_REALM"
ENV_STATE_TTL: Final = "LAVA_STATE_TTL"
ENV_STATE_MAX_TTL: Final = "LAVA_STATE_MAX_TTL"
ENV_ITEM_FORMAT: Final = "LAVA_STATE_ITEM_FORMAT"
ENV_JOB_ID: Final = "LAVA_JOB_ID"
ENV_ENDPOINT_URL: Final = "AWS_ENDPOINT_URL"
ENV_ACCOUNT_ID_ENDPOINT_MODE: Final = "AWS_ACCOUNT_ID_ENDPOINT_MODE"
#: ``lava-state local up``/``local env``: the data directory (default: nothing is kept).
ENV_LOCAL_DATA_DIR: Final = "LAVA_STATE_LOCAL_DATA_DIR"

# Defaults (lava 8.x realm defaults).
DEFAULT_TTL: Final = "7d"
DEFAULT_MAX_TTL: Final = "366d"
PUBLISHER_CLI: Final = "lava-state CLI"
PUBLISHER_API: Final = "lava-state API"

# The item: attribute names as lava 8.x writes them, plus our `version`.
ATTR_STATE_ID: Final = "state_id"
ATTR_TYPE: Final = "type"
ATTR_VALUE: Final = "value"
ATTR_TIMESTAMP: Final = "timestamp"
ATTR_TTL: Final = "ttl"
ATTR_PUBLISHER: Final = "publisher"
ATTR_VERSION: Final = "version"
# Ours: a random token per write, so that a retried conditional write that did
# commit the first time is recognised as our own success (see publisher).
ATTR_WRITE_TOKEN: Final = "write_token"  # noqa: S105 - an attribute name
LAVA8_ATTRIBUTES: Final = frozenset(
    {ATTR_STATE_ID, ATTR_TYPE, ATTR_VALUE, ATTR_TIMESTAMP, ATTR_TTL, ATTR_PUBLISHER}
)

# AWS limits that shape validation (checked before any call).
MAX_STATE_ID_BYTES: Final = 1024  # DynamoDB partition key limit is 2048; lava-state's rule.
MAX_ITEM_BYTES: Final = 400 * 1024  # DynamoDB item size limit.
KMS_MAX_PLAINTEXT_BYTES: Final = 4096  # KMS Encrypt plaintext limit.
# Bytes an envelope-encrypted value adds to its plaintext, at most: header,
# KMS-encrypted data key (under 512 bytes with any KMS key), nonce and GCM tag.
ENVELOPE_MAX_OVERHEAD_BYTES: Final = 1024
BATCH_WRITE_MAX_ITEMS: Final = 25  # BatchWriteItem limit per call.
BATCH_GET_MAX_KEYS: Final = 100  # BatchGetItem limit per call.
RESERVED_PREFIX: Final = "lava"  # lava reserves ids starting with it, case-insensitively.

# Retry policy: botocore owns throttling and transient HTTP errors; tenacity
# owns the application-level retries listed where they are used.
BOTOCORE_MAX_ATTEMPTS: Final = 5
APP_RETRY_MAX_ATTEMPTS: Final = 5
APP_RETRY_MAX_WAIT_S: Final = 2.0
APP_RETRY_BASE_WAIT_S: Final = 0.05
# update()'s compare-and-set loop: conflicts retried at most this many times by default.
UPDATE_MAX_RETRIES: Final = 10

# Batched reads (BatchGetItem): at most 100 keys per call (AWS limit); chunks
# are read concurrently by a bounded pool, UnprocessedKeys retried until done
# or the deadline, secure values decrypted concurrently (one KMS call each).
# Four, not more: against the embedded (in-process, serialised) server more
# threads only contend for the GIL; against DynamoDB four overlap most latency.
BATCH_GET_MAX_CONCURRENCY: Final = 4
BATCH_GET_DEADLINE_S: Final = 10.0
DECRYPT_MAX_CONCURRENCY: Final = 8

# The stream processor (Lambda) and its local event-source runner.
ENV_REALM_TOPIC: Final = "LAVA_STATE_REALM_TOPIC"  # "true": also publish to lava-state-<realm>-all
ENV_FIFO_TOPICS: Final = "LAVA_STATE_FIFO_TOPICS"  # "true": topics are FIFO (<name>.fifo)
ENV_MISSING_TOPIC_TTL: Final = "LAVA_STATE_MISSING_TOPIC_TTL"  # seconds a "missing" is cached
ENV_TRACING: Final = "LAVA_STATE_TRACING"  # auto | xray | otel | off
DEFAULT_MISSING_TOPIC_TTL_S: Final = 30.0
# Topics remembered as missing at most (expired entries pruned past it): bounds a warm Lambda.
MISSING_TOPIC_CACHE_MAX: Final = 10_000
#: The principal of DynamoDB's TTL service on the REMOVE records it causes.
TTL_SERVICE_PRINCIPAL: Final = "dynamodb.amazonaws.com"
CHANGE_SCHEMA: Final = "lava-state.change/1"

# SNS limits that shape the fan-out.
SNS_MAX_TOPIC_NAME: Final = 256  # characters, ".fifo" included
SNS_MAX_BATCH_ENTRIES: Final = 10  # PublishBatch entries per call
SNS_MAX_PAYLOAD_BYTES: Final = 256 * 1024  # one message, and one whole PublishBatch call
SNS_MAX_GROUP_ID: Final = 128  # FIFO MessageGroupId / MessageDeduplicationId length

# Subscriptions (consumer_sdk.subscription): seconds between resync reads by
# default. A lost notification reaches the subscriber within about this long,
# for one consistent read of every subscribed id per interval.
DEFAULT_RESYNC_S: Final = 60.0
