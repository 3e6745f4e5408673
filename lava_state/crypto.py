"""KMS encryption of secure values.

A ciphertext is bound to its realm and state_id through the KMS
EncryptionContext, so a ciphertext copied into another item does not decrypt.

Two formats, told apart by their first bytes:

- **direct** (lava 8.x's): the KMS ``CiphertextBlob`` of the plaintext, for
  plaintexts up to KMS's 4096 bytes. KMS blobs never start with a zero byte.
- **envelope v1**, for larger plaintexts::

      b"\\x00LSENV" | 0x01 | len(encrypted key): 2 bytes big-endian |
      encrypted data key | 12-byte nonce | AES-256-GCM ciphertext and 16-byte tag

  The data key comes from KMS ``GenerateDataKey`` under the same key and
  EncryptionContext; the GCM associated data is the header (magic, version,
  encrypted key) plus the context, so altering any byte or moving the value to
  another state_id or realm fails to decrypt. ``cryptography`` is imported
  only on this path.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from lava_state import aws, redact
from lava_state.codec import json_decode
from lava_state.constants import KMS_MAX_PLAINTEXT_BYTES
from lava_state.errors import EncryptionError
from lava_state.model import Encrypted

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

    from lava_state.model import StateItem


def encryption_context(realm: str, state_id: str) -> dict[str, str]:
    """The EncryptionContext of a secure item."""
    return {"lava-realm": realm, "lava-state-id": state_id}


def encrypt(
    kms: KMSClient,
    plaintext: bytes,
    *,
    key_id: str,
    context: dict[str, str] | None,
    state_id: str,
) -> bytes:
    """Encrypt with KMS: directly up to 4096 bytes, else with envelope encryption.

    Envelope encryption needs a ``context`` (it is what binds the value to its item).

    Raises:
        EncryptionError: KMS refused (unknown or disabled key, no access...).
    """
    redact.install()  # before the first KMS call: no plaintext in botocore's DEBUG logs
    if len(plaintext) > KMS_MAX_PLAINTEXT_BYTES:
        if context is None:
            raise ValueError("envelope encryption needs an EncryptionContext")
        return _envelope_encrypt(kms, plaintext, key_id=key_id, context=context, state_id=state_id)
    kwargs: dict[str, Any] = {"KeyId": key_id, "Plaintext": plaintext}
    if context is not None:
        kwargs["EncryptionContext"] = context
    response = aws.call(
        kms.encrypt, what=f"encrypt secure state item {state_id!r} with key {key_id}", **kwargs
    )
    return bytes(response["CiphertextBlob"])


def decrypt(
    kms: KMSClient, ciphertext: bytes, *, context: dict[str, str] | None, state_id: str
) -> bytes:
    """Decrypt a secure value (either format).

    Raises:
        EncryptionError: the ciphertext was tampered with, belongs to another
            item, or the key is unusable.
    """
    redact.install()
    if is_envelope(ciphertext):
        if context is None:
            raise EncryptionError(
                f"secure state item {state_id!r} holds an envelope-encrypted value but no "
                "version attribute: it was altered or written by an unknown writer"
            )
        return _envelope_decrypt(kms, ciphertext, context=context, state_id=state_id)
    kwargs: dict[str, Any] = {"CiphertextBlob": ciphertext}
    if context is not None:
        kwargs["EncryptionContext"] = context
    response = aws.call(kms.decrypt, what=f"decrypt secure state item {state_id!r}", **kwargs)
    return bytes(response["Plaintext"])


def decrypt_item(kms: KMSClient, item: StateItem, *, realm: str) -> StateItem:
    """The item with its secure value decrypted (other items are returned as they are).

    Items with a version were written bound to the EncryptionContext of their
    realm and id; items without one (the lava8 format, lava 8.x) were not.

    Raises:
        EncryptionError: KMS refused, or the ciphertext was altered or moved.
        CorruptStateItem: the plaintext is not JSON.
    """
    if not isinstance(item.value, Encrypted):
        return item
    context = encryption_context(realm, item.state_id) if item.version > 0 else None
    plaintext = decrypt(kms, item.value.ciphertext, context=context, state_id=item.state_id)
    value = json_decode(plaintext.decode("utf-8", "replace"), item.state_id, secure=True)
    return replace(item, value=value)


ENVELOPE_MAGIC = b"\x00LSENV"
ENVELOPE_V1 = 1
_NONCE_BYTES = 12
_KEY_LENGTH_BYTES = 2
_HEADER_BYTES = len(ENVELOPE_MAGIC) + 1 + _KEY_LENGTH_BYTES


def is_envelope(ciphertext: bytes) -> bool:
    """True for the envelope format (direct KMS blobs never start with a zero byte)."""
    return ciphertext.startswith(ENVELOPE_MAGIC)


def _associated_data(header: bytes, context: dict[str, str]) -> bytes:
    # Sorted keys: the same context always gives the same bytes.
    return header + json.dumps(context, sort_keys=True, separators=(",", ":")).encode()


def _envelope_encrypt(
    kms: KMSClient, plaintext: bytes, *, key_id: str, context: dict[str, str], state_id: str
) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    response = aws.call(
        kms.generate_data_key,
        what=f"get a data key for secure state item {state_id!r} from key {key_id}",
        KeyId=key_id,
        KeySpec="AES_256",
        EncryptionContext=context,
    )
    encrypted_key = bytes(response["CiphertextBlob"])
    header = (
        ENVELOPE_MAGIC
        + bytes([ENVELOPE_V1])
        + len(encrypted_key).to_bytes(_KEY_LENGTH_BYTES, "big")
        + encrypted_key
    )
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(bytes(response["Plaintext"])).encrypt(
        nonce, plaintext, _associated_data(header, context)
    )
    return header + nonce + sealed


def _envelope_decrypt(
    kms: KMSClient, ciphertext: bytes, *, context: dict[str, str], state_id: str
) -> bytes:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    corrupt = EncryptionError(
        f"secure state item {state_id!r} cannot be decrypted: its envelope ciphertext was "
        "altered, truncated, or moved from another item or realm"
    )
    magic_end = len(ENVELOPE_MAGIC)
    if len(ciphertext) < _HEADER_BYTES or ciphertext[magic_end] != ENVELOPE_V1:
        version = ciphertext[magic_end] if len(ciphertext) > magic_end else None
        raise EncryptionError(
            f"secure state item {state_id!r} uses envelope format version {version}, which "
            f"this lava-state does not know (it reads version {ENVELOPE_V1}): upgrade lava-state"
        )
    key_length = int.from_bytes(ciphertext[magic_end + 1 : _HEADER_BYTES], "big")
    key_end = _HEADER_BYTES + key_length
    if len(ciphertext) < key_end + _NONCE_BYTES + 16:
        raise corrupt
    header = ciphertext[:key_end]
    nonce = ciphertext[key_end : key_end + _NONCE_BYTES]
    response = aws.call(
        kms.decrypt,
        what=(
            f"decrypt the data key of secure state item {state_id!r} (a value moved from "
            "another item or realm does not decrypt)"
        ),
        CiphertextBlob=header[_HEADER_BYTES:],
        EncryptionContext=context,
    )
    try:
        return AESGCM(bytes(response["Plaintext"])).decrypt(
            nonce, ciphertext[key_end + _NONCE_BYTES :], _associated_data(header, context)
        )
    except InvalidTag:
        raise corrupt from None
