"""Encryption of tenant secrets at rest (Fernet, key from `SECRETS_ENCRYPTION_KEY`)."""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


class SecretUnreadable(Exception):
    """The ciphertext does not decrypt under the configured key (key changed?)."""


@lru_cache(maxsize=4)
def _fernet(key_material: str) -> Fernet:
    try:
        return Fernet(key_material.encode())
    except ValueError:
        # Not a Fernet key itself: derive one, so any sufficiently random string works.
        return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key_material.encode()).digest()))


def fernet() -> Fernet:
    return _fernet(settings.SECRETS_ENCRYPTION_KEY)


def encrypt(value: str) -> str:
    return fernet().encrypt(value.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("the secret cannot be decrypted with the configured key") from exc
