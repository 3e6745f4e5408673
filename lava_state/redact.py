"""Secure values and data keys kept out of botocore's DEBUG wire logs.

At DEBUG, botocore logs every request's parameters (``botocore.endpoint``:
"Making request for ... with params: {... 'body': b'...'}") and every
response body (``botocore.parsers``: "Response body: b'...'"). For KMS these
carry what must never be written down: the plaintext of a secure value
(``Encrypt`` requests, ``Decrypt`` responses) and the plaintext data keys of
envelope encryption (``GenerateDataKey`` responses, ``Decrypt`` of a data
key), base64-encoded in a ``Plaintext`` field.

:func:`install` puts a :class:`RedactingFilter` on botocore's loggers: every
record they emit has the value of each ``Plaintext`` field replaced by
``<redacted>`` before any handler sees it. A filter on a logger runs whatever
handlers the application configures (``logging.basicConfig``, ``dictConfig``
without ``disable_existing_loggers`` changes, Powertools...), so nothing is
needed on the handler side. lava-state installs it before its first KMS call
(:mod:`lava_state.crypto`); an application that logs botocore at DEBUG before
lava-state ever calls KMS, or that uses KMS clients of its own, calls
:func:`install` itself at start-up (docs/security.md).
"""

from __future__ import annotations

import logging
import re
import threading

#: The loggers botocore writes wire data to (the first two), and those around them.
BOTOCORE_LOGGERS = (
    "botocore.endpoint",
    "botocore.parsers",
    "botocore.hooks",
    "botocore.awsrequest",
    "botocore.httpsession",
    "botocore.client",
    "botocore.retryhandler",
)
#: The fields whose values are secret in KMS requests and responses.
SECRET_FIELDS = ("Plaintext",)
REDACTED = "<redacted>"

# A field and its quoted value, as JSON text ("Plaintext": "...") or a Python
# repr ('Plaintext': b'...'); the value's escapes are skipped over.
_FIELDS = "|".join(map(re.escape, SECRET_FIELDS))
_FIELD = re.compile(
    rf"""(?P<key>(?P<kq>["'])(?:{_FIELDS})(?P=kq)\s*:\s*b?)(?P<q>["'])(?:\\.|(?!(?P=q)).)*(?P=q)""",
    re.DOTALL,
)
_lock = threading.Lock()
_installed = threading.Event()


def redact(text: str) -> str:
    """``text`` with the value of every secret field replaced by ``<redacted>``."""
    if not any(field in text for field in SECRET_FIELDS):
        return text
    return _FIELD.sub(lambda m: f"{m['key']}{m['q']}{REDACTED}{m['q']}", text)


class RedactingFilter(logging.Filter):
    """Rewrites a record's message with secret fields redacted (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error handling
            return True
        redacted = redact(message)
        if redacted is not message:
            record.msg, record.args = redacted, None
        return True


def install() -> None:
    """Install the filter on botocore's loggers (once per process; cheap afterwards).

    Every logger under ``botocore`` that exists when called gets it, and
    :data:`BOTOCORE_LOGGERS` in any case.
    """
    if _installed.is_set():
        return
    with _lock:
        if _installed.is_set():
            return
        names = set(BOTOCORE_LOGGERS) | {
            name
            for name in list(logging.root.manager.loggerDict)
            if name == "botocore" or name.startswith("botocore.")
        }
        redacting = RedactingFilter()
        for name in sorted(names):
            logger = logging.getLogger(name)
            if not any(isinstance(f, RedactingFilter) for f in logger.filters):
                logger.addFilter(redacting)
        _installed.set()
