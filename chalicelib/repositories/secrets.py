"""Secrets at rest (2FA's TOTP secrets), encrypted with KMS: the table holds only ciphertext.

The encryption context names the owner of the secret, so a ciphertext copied onto another
user's item does not decrypt (KMS checks the context; it is logged by CloudTrail, never stored
with the secret). Locally the same calls go to the emulator's KMS, with the key of infra/.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.core import aws
from chalicelib.core.config import get_settings

# The AWS calls this module makes, as IAM actions: .chalice/policy-*.json grant them to the functions
# that use this module (tests/unit/test_package.py checks both).
AWS_CALLS = (
    "kms:Encrypt",
    "kms:Decrypt",
)


class SecretBox:
    def __init__(self, kms_factory: Callable[[], Any] = aws.kms) -> None:
        self._kms_factory = kms_factory

    def encrypt(self, plaintext: str, owner: dict[str, str]) -> bytes:
        answer = self._kms_factory().encrypt(
            KeyId=get_settings().kms_key_id, Plaintext=plaintext.encode(), EncryptionContext=owner
        )
        return bytes(answer["CiphertextBlob"])

    def decrypt(self, ciphertext: bytes, owner: dict[str, str]) -> str:
        answer = self._kms_factory().decrypt(
            CiphertextBlob=ciphertext, EncryptionContext=owner, KeyId=get_settings().kms_key_id
        )
        return bytes(answer["Plaintext"]).decode()
