"""KMS encryption of secure values.

A ciphertext is bound to its realm and state_id through the KMS
EncryptionContext, so a ciphertext copied into another item does not decrypt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lava_state import aws

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient


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
    """Encrypt with KMS directly (plaintext at most 4096 bytes, checked by the caller).

    Raises:
        EncryptionError: KMS refused (unknown or disabled key, no access...).
    """
    kwargs: dict[str, object] = {"KeyId": key_id, "Plaintext": plaintext}
    if context is not None:
        kwargs["EncryptionContext"] = context
    response = aws.call(
        kms.encrypt, what=f"encrypt secure state item {state_id!r} with key {key_id}", **kwargs
    )
    return bytes(response["CiphertextBlob"])


def decrypt(
    kms: KMSClient, ciphertext: bytes, *, context: dict[str, str] | None, state_id: str
) -> bytes:
    """Decrypt a secure value.

    Raises:
        EncryptionError: the ciphertext was tampered with, belongs to another
            item, or the key is unusable.
    """
    kwargs: dict[str, object] = {"CiphertextBlob": ciphertext}
    if context is not None:
        kwargs["EncryptionContext"] = context
    response = aws.call(kms.decrypt, what=f"decrypt secure state item {state_id!r}", **kwargs)
    return bytes(response["Plaintext"])
