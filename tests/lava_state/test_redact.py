"""lava_state.redact: KMS plaintexts and data keys never reach a log handler."""

from __future__ import annotations

import io
import logging
import logging.config

from lava_state.redact import BOTOCORE_LOGGERS, REDACTED, RedactingFilter, install, redact


def test_redact_replaces_plaintext_fields_in_json_and_reprs() -> None:
    body = b'{"KeyId": "k", "Plaintext": "aHVudGVyMg=="}'
    assert redact(repr(body)) == """b'{"KeyId": "k", "Plaintext": "<redacted>"}'"""
    # A quote inside makes Python's repr use double quotes, escapes a backslash.
    parsed = {"Plaintext": b"\x01'\\x", "KeyId": "k"}
    assert redact(repr(parsed)) == """{'Plaintext': b"<redacted>", 'KeyId': 'k'}"""
    parsed = {"Plaintext": b"\x01\\'x\"", "KeyId": "k"}
    assert redact(repr(parsed)) == "{'Plaintext': b'<redacted>', 'KeyId': 'k'}"
    assert redact("no secret here") == "no secret here"
    assert redact('{"CiphertextBlob": "abc"}') == '{"CiphertextBlob": "abc"}'


def test_install_filters_every_botocore_logger_whatever_the_handlers() -> None:
    install()
    install()  # idempotent
    for name in BOTOCORE_LOGGERS:
        filters = logging.getLogger(name).filters
        assert sum(isinstance(f, RedactingFilter) for f in filters) == 1, name
    # An application configuring logging itself keeps the filter (it is on the logger).
    buffer = io.StringIO()
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {"mine": {"class": "logging.StreamHandler", "stream": buffer}},
            "loggers": {"botocore": {"handlers": ["mine"], "level": "DEBUG"}},
        }
    )
    try:
        logging.getLogger("botocore.parsers").debug(
            "Response body:\n%r", b'{"Plaintext": "ZGF0YWtleQ=="}'
        )
        assert "ZGF0YWtleQ" not in buffer.getvalue()
        assert REDACTED in buffer.getvalue()
    finally:
        botocore = logging.getLogger("botocore")
        for handler in list(botocore.handlers):
            botocore.removeHandler(handler)
        botocore.setLevel(logging.NOTSET)
